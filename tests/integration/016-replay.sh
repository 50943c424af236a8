#!/usr/bin/env bash
# faultline replay runs the live decision code on a capture: the same packets
# with the same seed get the same verdicts as in the live run; the same input
# and seed give byte-identical output; another seed gives another output.
. "$(dirname "$0")/lib.sh"
# IPv4 only: the capture must hold every packet faultline diverts in B, and
# the kernel's own ICMPv6 (RS, ND, MLD, on its own schedule) would reach
# faultline without matching the capture's filter.
make_pair --no-ipv6
RULES=(--rule 'udp dst port 5000 => drop 30%' --rule 'udp dst port 5000 => delay 5ms 50%, in'
	--rule 'icmp => duplicate 30%')

# tcpdump on B's veth sees incoming packets before INPUT, so before faultline.
ip netns exec "$NS_B" tcpdump -i "vb-$ID" --immediate-mode -U -w "$T/cap.pcap" 'udp port 5000 or icmp' 2>"$T/tcpdump.err" &
TD=$!
PIDS+=("$TD")
for _ in $(seq 1 100); do grep -q listening "$T/tcpdump.err" && break; sleep 0.05; done
udp_recv "$NS_B" 5000 1000
fl_start "$NS_B" "${RULES[@]}" --seed 21 --events "$T/live.jsonl"
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 300 300 40000
ip netns exec "$NS_A" ping -c 20 -i 0.05 -q 10.99.0.2 >/dev/null || true
udp_recv_wait
fl_stop
sleep 0.3
kill -INT "$TD"
wait "$TD" 2>/dev/null || true

# Verdicts of incoming packets, keyed by packet identity (flow, way, ordinal).
verdicts() {
	python3 -c 'import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["ev"] == "packet" and e["dir"] in sys.argv[2].split(","):
        print(e["flow"], e["way"], e["ord"], e["verdict"], e.get("delay_us", 0), e.get("copies", 0))' "$1" "$2"
}
"$FL" replay "$T/cap.pcap" "${RULES[@]}" --seed 21 --local 10.99.0.2 --events "$T/rep.jsonl" \
	--out "$T/out1.pcap" >"$T/rep1.json" 2>"$T/rep.err" || fail "replay failed: $(cat "$T/rep.err")"
verdicts "$T/live.jsonl" in >"$T/live.v"
verdicts "$T/rep.jsonl" in >"$T/rep.v"
n=$(wc -l <"$T/live.v")
log "live: $n incoming packets decided; replay: $(wc -l <"$T/rep.v")"
[ "$n" -ge 310 ] || fail "too few packets in the live run ($n)"
diff "$T/live.v" "$T/rep.v" >"$T/diff" || { head "$T/diff" >&2; fail "live and replay verdicts differ"; }
grep -q ' drop ' "$T/rep.v" && grep -q ' hold ' "$T/rep.v" || fail "the rules did not fire"

# Byte-identical for the same seed, different for another; no root needed.
chmod 755 "$T"
chmod 644 "$T/cap.pcap"
mkdir -m 777 "$T/nobody"
setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$FL" replay "$T/cap.pcap" "${RULES[@]}" --seed 21 --local 10.99.0.2 --out "$T/nobody/out2.pcap" \
	>/dev/null 2>"$T/rep.err" || fail "replay as nobody failed: $(cat "$T/rep.err")"
mv "$T/nobody/out2.pcap" "$T/out2.pcap"
cmp -s "$T/out1.pcap" "$T/out2.pcap" || fail "same input and seed, different output"
"$FL" replay "$T/cap.pcap" "${RULES[@]}" --seed 22 --local 10.99.0.2 --out "$T/out3.pcap" >/dev/null 2>&1
! cmp -s "$T/out1.pcap" "$T/out3.pcap" || fail "another seed gave the same output"

# The output is a capture tshark reads: every packet but the drops, copies included.
written=$(json "$T/rep1.json" 'd["written"]')
dropped=$(json "$T/rep1.json" 'd["dropped"]')
copies=$(json "$T/rep1.json" 'sum(r["duplicated"] for r in d["rules"])')
frames=$(tshark -r "$T/out1.pcap" 2>/dev/null | wc -l)
read_=$(json "$T/rep1.json" 'd["read"]')
log "replay read $read_, dropped $dropped, duplicated $copies, wrote $written; tshark reads $frames frames"
[ "$frames" -eq "$written" ] || fail "tshark sees $frames frames, replay wrote $written"
[ "$written" -eq $((read_ - dropped + copies)) ] || fail "written != read - dropped + copies"
# Delays move timestamps: the output is not in capture order of ordinals.
echo ok

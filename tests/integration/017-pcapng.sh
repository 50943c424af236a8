#!/usr/bin/env bash
# --pcap writes a pcapng that tshark reads: every packet as captured on
# interface "in" and as released on "out" (copies and corrupted bytes as
# they went out), each with faultline's verdict in its comment. The replay
# writes the same kind of file.
. "$(dirname "$0")/lib.sh"
make_pair
RULES=(--rule 'udp dst port 5000 => drop 20%' --rule 'udp dst port 5000 => duplicate 20%'
	--rule 'udp dst port 5000 => corrupt 20%' --rule 'icmp => delay 20ms')
udp_recv "$NS_B" 5000 800
fl_start "$NS_B" "${RULES[@]}" --seed 4 --pcap "$T/live.pcapng"
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 200 500
ip netns exec "$NS_A" ping -c 5 -i 0.1 -q 10.99.0.2 >/dev/null
udp_recv_wait
fl_stop

fields() { tshark -r "$1" -T fields -E separator='|' -e frame.interface_name -e frame.comment -e udp.payload "${@:2}" 2>/dev/null; }
fields "$T/live.pcapng" >"$T/f"
packets=$(json "$T/fl.out" 'd["packets"]')
dropped=$(json "$T/fl.out" 'd["dropped"]')
copies=$(json "$T/fl.out" 'd["duplicates_sent"]')
corrupted=$(json "$T/fl.out" 'd["corrupted"]')
n_in=$(grep -c '^in|' "$T/f" || true)
n_out=$(grep -c '^out|' "$T/f" || true)
log "faultline: $packets packets, $dropped dropped, $copies copies, $corrupted corrupted; pcapng: $n_in in, $n_out out"
[ "$n_in" -eq "$packets" ] || fail "$n_in packets on 'in', faultline saw $packets"
[ "$n_out" -eq $((packets - dropped + copies)) ] || fail "$n_out packets on 'out', expected $((packets - dropped + copies))"
[ "$(grep -c '|faultline pkt' "$T/f")" -eq $((n_in + n_out)) ] || fail "a packet without faultline's comment"
grep -q '^in|faultline pkt [0-9]*: dropped; rule 1 drop' "$T/f" || fail "no drop comment"
grep -q '^out|faultline pkt [0-9]*: copy 1 of 1' "$T/f" || fail "no copy on 'out'"
grep -q '^in|faultline pkt [0-9]*: held 20.000 ms; rule 4 delay' "$T/f" || fail "no delay comment"
# Corrupted packets: the 'out' payload differs from the 'in' payload by one bit.
python3 - "$T/f" "$corrupted" <<'PY' || fail "corrupted bytes are not what went out"
import sys, re
ins, outs = {}, {}
for line in open(sys.argv[1]):
    iface, comment, payload = line.rstrip("\n").split("|")
    m = re.match(r"faultline pkt (\d+)", comment)
    if not m or not payload:
        continue
    if iface == "in":
        ins[m.group(1)] = (comment, bytes.fromhex(payload.replace(":", "")))
    elif "copy" not in comment:
        outs[m.group(1)] = bytes.fromhex(payload.replace(":", ""))
flipped = 0
for k, (comment, p) in ins.items():
    if "corrupted" in comment:
        q = outs[k]
        assert sum(bin(a ^ b).count("1") for a, b in zip(p, q)) == 1, k
        flipped += 1
    elif k in outs:
        assert outs[k] == p, k
assert flipped == int(sys.argv[2]) and flipped > 0, (flipped, sys.argv[2])
PY
# Offline: a tcpdump capture replayed with --pcap gives the same kind of file.
ip netns exec "$NS_B" tcpdump -i "vb-$ID" --immediate-mode -U -w "$T/cap.pcap" udp 2>"$T/td.err" &
TD=$!
PIDS+=("$TD")
for _ in $(seq 1 100); do grep -q listening "$T/td.err" && break; sleep 0.05; done
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 50 500
sleep 0.5
kill -INT "$TD"
wait "$TD" 2>/dev/null || true
"$FL" replay "$T/cap.pcap" "${RULES[@]}" --seed 4 --pcap "$T/rep.pcapng" >"$T/rep.json" 2>/dev/null || fail "replay"
fields "$T/rep.pcapng" >"$T/g"
[ "$(grep -c '^in|faultline pkt' "$T/g")" -eq "$(json "$T/rep.json" 'd["packets"]')" ] || fail "replay pcapng 'in' count"
echo ok

#!/usr/bin/env bash
# A capture taken with a small snapshot length (tcpdump -s 96: most packets
# cut) loses nothing in replay: with rules that hold every packet, every
# packet read is written, each with its captured and its wire length. A
# capture cut in the middle of a packet is replayed up to the cut: every
# packet before it written, the cut named (packet number, byte offset), and
# a non-zero exit.
. "$(dirname "$0")/lib.sh"
make_pair

# Real TCP: 400 kB through a veth, captured on B's side with -s 96, in wire
# segments (no GSO/GRO), as a capture on a real link would have them.
ip netns exec "$NS_A" ethtool -K "va-$ID" gro off gso off tso off >/dev/null
ip netns exec "$NS_B" ethtool -K "vb-$ID" gro off gso off tso off >/dev/null
ip netns exec "$NS_B" tcpdump -i "vb-$ID" -s 96 --immediate-mode -U -w "$T/cap.pcap" tcp 2>"$T/tcpdump.err" &
TD=$!
PIDS+=("$TD")
for _ in $(seq 1 100); do grep -q listening "$T/tcpdump.err" && break; sleep 0.05; done
ip netns exec "$NS_B" socat -u TCP-LISTEN:7000,reuseaddr OPEN:/dev/null &
PIDS+=($!)
wait_listen "$NS_B" 7000
head -c 400000 /dev/urandom | ip netns exec "$NS_A" socat -u STDIN TCP:10.99.0.2:7000
sleep 0.3
kill -INT "$TD"
wait "$TD" 2>/dev/null || true

# "wire caplen" of each packet, without the Ethernet header, as tshark reads them.
lengths() { tshark -r "$1" -T fields -e frame.len -e frame.cap_len 2>/dev/null | awk -v h="$2" '{print $1 - h, $2 - h}' | sort; }
lengths "$T/cap.pcap" 14 >"$T/in.len"
n=$(wc -l <"$T/in.len")
cut_pkts=$(awk '$1 > $2' "$T/in.len" | wc -l)
log "capture: $n packets, $cut_pkts of them cut by the snapshot length"
[ "$n" -ge 200 ] && [ "$cut_pkts" -ge 100 ] || fail "the capture has too few cut packets"

for rule in 'tcp => delay 5ms' 'ip => reorder 3'; do
	"$FL" replay "$T/cap.pcap" --rule "$rule" --seed 1 --out "$T/out.pcap" --pcap "$T/ann.pcapng" \
		>"$T/rep.json" 2>"$T/rep.err" || fail "replay with '$rule' failed: $(cat "$T/rep.err")"
	read_=$(json "$T/rep.json" 'd["read"]')
	written=$(json "$T/rep.json" 'd["written"]')
	held=$(json "$T/rep.json" 'd["held"]')
	released=$(json "$T/rep.json" 'd["released"]')
	out_side=$(tshark -r "$T/ann.pcapng" -Y 'frame.interface_name == "out"' 2>/dev/null | wc -l)
	log "'$rule': read $read_, held $held, released $released, written $written; tshark: $(wc -l <"$T/in.len") in, $out_side on the pcapng's 'out'"
	[ "$read_" -eq "$n" ] && [ "$held" -eq "$n" ] && [ "$released" -eq "$n" ] || fail "'$rule' did not hold every packet"
	[ "$written" -eq "$n" ] || fail "'$rule': $written of $n packets written"
	[ "$out_side" -eq "$n" ] || fail "'$rule': $out_side of $n released packets in the pcapng"
	lengths "$T/out.pcap" 0 >"$T/out.len"
	cmp -s "$T/in.len" "$T/out.len" || fail "'$rule': captured and wire lengths differ from the input's"
done

# Cut the file in the middle of packet K+1's bytes: K whole packets before it.
K=$((n / 2))
off=$(python3 - "$T/cap.pcap" "$K" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
pos = 24
for _ in range(int(sys.argv[2])):
    caplen = struct.unpack_from("<I", b, pos + 8)[0]
    pos += 16 + caplen
print(pos)
PY
)
head -c $((off + 16 + 20)) "$T/cap.pcap" >"$T/cut.pcap"
rc=0
"$FL" replay "$T/cut.pcap" --rule 'tcp => delay 5ms' --seed 1 --out "$T/cutout.pcap" \
	>"$T/cut.json" 2>"$T/cut.err" || rc=$?
log "cut at byte $((off + 36)): exit $rc, $(cat "$T/cut.err")"
[ "$rc" -ne 0 ] || fail "a capture cut mid-packet replayed with exit 0"
grep -q "cut.pcap: packet $((K + 1)) (at byte $off) cannot be read: truncated" "$T/cut.err" ||
	fail "the message does not name the cut: $(cat "$T/cut.err")"
[ "$(json "$T/cut.json" 'd["written"]')" -eq "$K" ] || fail "not every packet before the cut was written"
[ "$(tshark -r "$T/cutout.pcap" 2>/dev/null | wc -l)" -eq "$K" ] || fail "the output does not hold the $K packets before the cut"
echo ok

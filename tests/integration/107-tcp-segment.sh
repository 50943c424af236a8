#!/usr/bin/env bash
# segment N: faultline on the sender's side (where TCP hands it GSO
# super-packets) cuts every data segment into pieces of at most 100 payload
# bytes. The receiver's kernel (GRO off, so that it sees the segments as
# sent) gets only pieces of at most 100 bytes, takes every one (no checksum
# error), and the application reads the sender's 50000 bytes unchanged.
# Every piece arrives: B sees exactly as many data segments as faultline
# sent (its pieces, and the data segments it passed whole), and A's TCP
# retransmits nothing. (The first piece of a GSO super-packet, when it was
# shortened in the packet's verdict, was lost by the kernel: one missing
# segment and one retransmission per GSO packet. It now leaves as a fresh
# packet, counted in "resent".) The pieces leave back to back, so an
# application that reads slower than they arrive reads several at once:
# the read sizes are logged here; 108 spaces the pieces ('gap') and asserts
# small reads.
. "$(dirname "$0")/lib.sh"
TCPAPP="python3 $(cd "$(dirname "$0")/../tools" && pwd)/tcpapp.py"
make_pair
counter() { ip netns exec "$1" nstat -asz "$2" | awk -v k="$2" '$1 == k {print $2}'; }
csum=$(counter "$NS_B" TcpInCsumErrors)
retrans=$(counter "$NS_A" TcpRetransSegs)
seg_capture_start 7002
fl_start "$NS_A" --rule 'tcp dst port 7002 => segment 100' --pcap "$T/live.pcapng" --events "$T/ev.jsonl"
seg_send_check 7002 50000
[ "$(counter "$NS_B" TcpInCsumErrors)" -eq "$csum" ] || fail "checksum errors in B"
[ "$(json "$T/fl.out" 'd["inject_errors"]')" -eq 0 ] || fail "inject_errors"
cut=$(json "$T/fl.out" 'd["rules"][0]["segmented"]')
pieces=$(json "$T/fl.out" 'd["pieces"]')
gso=$(json "$T/fl.out" 'd["gso"]')
resent=$(json "$T/fl.out" 'd.get("resent", 0)')
# What faultline sent on: each data segment's pieces, or the segment whole.
sent=$(python3 -c 'import json,sys
n = 0
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("ev") == "packet" and e["proto"] == "tcp" and e["plen"] > 0:
        n += e.get("pieces", 1)
print(n)' "$T/ev.jsonl")
# What B's kernel got: data segments of at most 100 bytes, the whole stream.
tshark -r "$T/b.pcap" -T fields -e tcp.len 2>/dev/null | awk '$1 > 0' >"$T/lens"
n=$(wc -l <"$T/lens")
max=$(sort -n "$T/lens" | tail -1)
small=$(json "$T/srv.json" 'sum(1 for s in d["sizes"] if s <= 100)')
rt=$(($(counter "$NS_A" TcpRetransSegs) - retrans))
log "$cut segments cut ($gso GSO, $resent resent) into $pieces pieces; faultline sent $sent data segments, B saw $n, largest $max bytes; A retransmitted $rt; the app read $(json "$T/srv.json" 'd["recvs"]') times, $small of them at most 100 bytes, largest $(json "$T/srv.json" 'd["max_recv"]')"
[ "$cut" -gt 0 ] && [ "$pieces" -gt "$cut" ] || fail "nothing was cut"
[ "$max" -le 100 ] || fail "B got a data segment of $max bytes"
[ "$(awk '{s += $1} END {print s}' "$T/lens")" -ge 50000 ] || fail "B's segments do not carry the stream"
[ "$n" -eq "$sent" ] || fail "B saw $n data segments, faultline sent $sent"
[ "$rt" -eq 0 ] || fail "A retransmitted $rt segments: pieces were lost"
[ "$resent" -eq "$gso" ] || fail "$gso GSO packets, $resent of them resent"
# The capture holds each piece on its "out" side.
n=$(tshark -r "$T/live.pcapng" -Y 'frame.interface_name == "out" && frame.comment contains "segment, piece"' 2>/dev/null | wc -l)
[ "$n" -gt 0 ] || fail "no piece in --pcap"
echo ok

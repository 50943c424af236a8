#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# segment N vary V (toxiproxy slicer's size_variation): faultline cuts A's
# data segments into pieces of 100 +- 50 payload bytes. B's kernel (GRO
# off) gets data segments of at most 150 bytes, some above 100 (which
# 'segment 100' alone never sends) and many sizes, and the application
# reads A's 20000 bytes unchanged.
. "$(dirname "$0")/lib.sh"
APP="python3 $(cd "$(dirname "$0")/../tools" && pwd)/tcpapp.py"
make_pair
ip netns exec "$NS_B" ethtool -K "vb-$ID" gro off >/dev/null 2>&1 || true

ip netns exec "$NS_B" tcpdump -i "vb-$ID" -n -s 128 -B 8192 --immediate-mode -U -w "$T/b.pcap" 'tcp dst port 7002' 2>"$T/tcpdump.err" &
td=$!
PIDS+=("$td")
for _ in $(seq 1 100); do grep -q listening "$T/tcpdump.err" && break; sleep 0.05; done
ip netns exec "$NS_B" $APP server 7002 --idle 10 >"$T/srv.json" 2>"$T/srv.err" &
srv=$!
PIDS+=("$srv")
wait_listen "$NS_B" 7002
fl_start "$NS_A" --rule 'tcp dst port 7002 => segment 100 vary 50' --seed 7
timeout 30 ip netns exec "$NS_A" $APP send 10.99.0.2 7002 20000 --nodelay --chunk 1000 >"$T/cli.json" 2>"$T/cli.err" ||
	fail "the sender failed: $(cat "$T/cli.json" "$T/cli.err")"
wait "$srv"
fl_stop
sleep 0.3
kill -INT "$td"
wait "$td" 2>/dev/null || true
grep -q '^0 packets dropped by kernel' "$T/tcpdump.err" || fail "tcpdump lost packets: $(cat "$T/tcpdump.err")"

[ "$(json "$T/srv.json" 'd["bytes"]')" -eq 20000 ] || fail "the receiver got $(json "$T/srv.json" 'd["bytes"]') bytes"
[ "$(json "$T/srv.json" 'd["ok_bytes"]')" = True ] || fail "the bytes it got are not the sender's"
tshark -r "$T/b.pcap" -T fields -e tcp.len 2>/dev/null | awk '$1 > 0' >"$T/lens"
max=$(sort -n "$T/lens" | tail -1)
above=$(awk '$1 > 100' "$T/lens" | wc -l)
sizes=$(sort -un "$T/lens" | wc -l)
log "B saw $(wc -l <"$T/lens") data segments, $sizes sizes, $above above 100 bytes, the largest $max"
[ "$(json "$T/fl.out" 'd["pieces"]')" -gt 0 ] || fail "nothing was cut"
[ "$max" -le 150 ] || fail "B got a data segment of $max bytes"
[ "$above" -gt 0 ] || fail "no piece above 100 bytes: no variation"
[ "$sizes" -ge 20 ] || fail "only $sizes sizes"
[ "$(awk '{s += $1} END {print s}' "$T/lens")" -ge 20000 ] || fail "B's segments do not carry the stream"
echo ok

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# segment N vary V (toxiproxy slicer's size_variation): faultline cuts A's
# data segments into pieces of 100 +- 50 payload bytes. B's kernel (GRO
# off) gets data segments of at most 150 bytes, some above 100 (which
# 'segment 100' alone never sends) and many sizes, and the application
# reads A's 20000 bytes unchanged.
. "$(dirname "$0")/lib.sh"
TCPAPP="python3 $(cd "$(dirname "$0")/../tools" && pwd)/tcpapp.py"
make_pair
seg_capture_start 7002
fl_start "$NS_A" --rule 'tcp dst port 7002 => segment 100 vary 50' --seed 7
seg_send_check 7002 20000
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

#!/usr/bin/env bash
# --max-flows: 300 UDP flows (one source port each), two datagrams apiece
# in turn, through a table of 100. The table stays at 100 flows, the
# evictions are counted (flow_evictions: every flow entered beyond 100),
# an evicted flow starts its ordinals again (ord 1 on its second
# datagram), and every datagram is delayed and delivered as the rule says.
. "$(dirname "$0")/lib.sh"
make_pair
FLOWS=300
udp_recv "$NS_B" 5000 1000 $((2 * FLOWS))
fl_start "$NS_B" --rule 'udp dst port 5000 => delay 1ms' --seed 1 --max-flows 100 --events "$T/ev"
ip netns exec "$NS_A" python3 -c '
import socket, sys
n = int(sys.argv[1])
socks = []
for i in range(n):
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.bind(("10.99.0.1", 20000 + i))
	socks.append(s)
seq = 0
for r in range(2):
	for s in socks:
		s.sendto(b"seq %d" % seq, ("10.99.0.2", 5000))
		seq += 1
' $FLOWS
udp_recv_wait
fl_stop TERM
got=$(json "$T/recv.json" 'd["unique"]')
read -r flows evictions delayed <<<"$(json "$T/fl.out" '"%d %d %d" % (d["flows"], d["flow_evictions"], d["rules"][0]["delayed"])')"
# Second datagrams of a flow (source port 20000 + i) that found it forgotten: ordinal 1 again.
restarted=$(python3 -c '
import json, sys
seen, again = set(), 0
for l in open(sys.argv[1]):
	e = json.loads(l)
	if e.get("ev") != "packet" or e.get("proto") != "udp" or ":5000" not in e["flow"]:
		continue
	if e["flow"] in seen and e["ord"] == 1:
		again += 1
	seen.add(e["flow"])
print(again)' "$T/ev")
log "$FLOWS flows, max 100: received $got of $((2 * FLOWS)), $delayed delayed; flows $flows, flow_evictions $evictions, $restarted second datagrams at ord 1"
[ "$got" -eq $((2 * FLOWS)) ] || fail "received $got of $((2 * FLOWS))"
[ "$delayed" -eq $((2 * FLOWS)) ] || fail "delayed $delayed"
[ "$flows" -le 100 ] || fail "flows $flows above --max-flows 100"
[ "$restarted" -gt 0 ] || fail "no flow was forgotten"
# Every flow entered beyond the first 100 pushed one out.
[ "$evictions" -ge $((FLOWS + restarted - 100)) ] ||
	fail "flow_evictions $evictions, but $FLOWS + $restarted flows entered a table of 100"
no_chain_left "$NS_B"
echo ok

#!/usr/bin/env bash
# --max-conns: 120 TCP connections open at once through a tracker of 50.
# Each sends twice, then all close. The tracker holds 50 at most, evicts
# the one idle longest (counted: tcp.evicted, and a "flow-end" event with
# "reason":"evicted" each), picks an evicted one up
# again mid-stream when it sends (pickup), and every connection's bytes
# arrive, each segment delayed as the rule says.
. "$(dirname "$0")/lib.sh"
make_pair
N=120
ip netns exec "$NS_B" python3 -c '
import json, socket, sys
n = int(sys.argv[1])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("10.99.0.2", 7000))
ls.listen(256)
print("ready", flush=True)
conns = [ls.accept()[0] for _ in range(n)]
total = 0
for c in conns:
	while True:
		b = c.recv(65536)
		if not b:
			break
		total += len(b)
	c.close()
print(json.dumps({"connections": n, "bytes": total}), flush=True)
' $N >"$T/server.json" &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 1 100); do grep -q ready "$T/server.json" && break; sleep 0.05; done
fl_start "$NS_B" --rule 'tcp port 7000 => delay 1ms' --seed 1 --max-conns 50 --events "$T/ev"
ip netns exec "$NS_A" python3 -c '
import socket, sys
n = int(sys.argv[1])
socks = [socket.create_connection(("10.99.0.2", 7000)) for _ in range(n)]
for r in (b"a", b"b"):
	for s in socks:
		s.sendall(r * 100)
for s in socks:
	s.close()
' $N
wait "$SERVER"
fl_stop TERM
bytes=$(json "$T/server.json" 'd["bytes"]')
read -r active evicted created pickups <<<"$(json "$T/fl.out" '"%d %d %d %d" % (d["tcp"]["active"], d["tcp"]["evicted"], d["tcp"]["connections"], sum(c["pickup"] for c in d["connections"]))')"
log "$N connections, max 50: server got $bytes bytes of $((N * 200)); tracker: $created entries, $evicted evicted, $pickups picked up mid-stream, $active active at the end"
[ "$bytes" -eq $((N * 200)) ] || fail "server got $bytes bytes, expected $((N * 200))"
[ "$(json "$T/fl.out" 'd["rules"][0]["delayed"] == d["rules"][0]["matched"] > 0')" = True ] ||
	fail "not every segment was delayed"
[ "$active" -le 50 ] || fail "$active connections tracked, above --max-conns 50"
[ "$evicted" -ge $((N - 50)) ] || fail "evicted $evicted, expected at least $((N - 50))"
[ "$pickups" -gt 0 ] || fail "no evicted connection was picked up again"
ends=$(grep -c '"ev":"flow-end".*"reason":"evicted"' "$T/ev" || true)
[ "$ends" -eq "$evicted" ] || fail "$ends flow-end events with reason evicted, tcp.evicted $evicted"
# Every entry beyond the first 50 pushed one out.
[ "$evicted" -ge $((created - 50)) ] || fail "$created entries in a table of 50, only $evicted evicted"
no_chain_left "$NS_B"
echo ok

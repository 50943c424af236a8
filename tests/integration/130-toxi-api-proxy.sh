#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The toxiproxy API (--toxiproxy-api) with curl, faultline started inside
# namespace A (as toxiproxy runs beside the app) and an echo server in B:
# a proxy on 127.0.0.1:0 gets a free port and forwards through the kernel
# (the nat chains); a latency toxic becomes the rule toxi.echo.latency_downstream
# (ctl list, the event log) and holds every answer at least its latency,
# but not those of A's own connection to the same upstream;
# a disabled proxy refuses new connections and resets an open one; reset
# enables it again; DELETE removes it, and a packet a toxic held meanwhile
# is not lost. SIGTERM removes the nat chains and puts route_localnet back,
# with every verdict taken by the kernel (exit 0).
. "$(dirname "$0")/lib.sh"
toxi_echo_pair
D=$(dirname "$0")
localnet_before=$(A sysctl -n net.ipv4.conf.all.route_localnet)
toxi_start "$NS_A" --seed 3 -e "$T/ev"

client() { A "$PY" "$D/toxi_client.py" "$PORT" "$@"; }

req POST /proxies -d '{"name":"echo","listen":"127.0.0.1:0","upstream":"10.99.0.2:8080"}'; expect 201
PORT=$(jq -r '.listen | split(":")[1]' "$T/body")
[ "$(jq -c '[.name,.upstream,.enabled,.toxics]' "$T/body")" = '["echo","10.99.0.2:8080",true,[]]' ] ||
	fail "proxy: $(cat "$T/body")"
[ "$PORT" -gt 0 ] || fail "no port: $(cat "$T/body")"
A iptables-save -t nat | grep -q -- "--dport $PORT -j DNAT --to-destination 10.99.0.2:8080" || fail "no DNAT rule"
client rtt >/dev/null || fail "no echo through the proxy"

req POST /proxies/echo/toxics -d '{"type":"latency","attributes":{"latency":300}}'; expect 200
# The toxic is the proxy's: A's own connection to the upstream does not
# meet it (the rule's count is taken before the echo is let through).
A "$PY" -c 'import socket; s = socket.create_connection(("10.99.0.2", 8080)); s.sendall(b"x"); assert s.recv(1) == b"x"' ||
	fail "no echo on A's own connection to the upstream"
A "$FL" ctl --control "$T/ctl.sock" --json list >"$T/list"
[ "$(jq -r '.rules[0].matched' "$T/list")" = 0 ] || fail "the downstream toxic took A's own connection: $(cat "$T/list")"
rtt=$(client rtt)
log "round trip with latency 300ms: $rtt s"
python3 -c "import sys; sys.exit(0 if $rtt >= 0.3 else 1)" || fail "latency 300ms, but the answer came in $rtt s"
A "$FL" ctl --control "$T/ctl.sock" --json list >"$T/list"
[ "$(jq -r '.rules[0].name' "$T/list")" = toxi.echo.latency_downstream ] || fail "ctl list: $(cat "$T/list")"
[ "$(jq -r '.rules[0].delayed' "$T/list")" -ge 1 ] || fail "nothing delayed: $(cat "$T/list")"
grep -q '"name":"toxi.echo.latency_downstream","action":"delay"' "$T/ev" || fail "no delay in the event log"
req DELETE /proxies/echo/toxics/latency_downstream; expect 204

# Disabled: a new connection is refused, an open one is reset at its next send.
coproc HOLD { A "$PY" "$D/toxi_client.py" "$PORT" hold; }
read -r line <&"${HOLD[0]}"; [ "$line" = ready ] || fail "client: $line"
req POST /proxies/echo -d '{"enabled":false}'; expect 200
[ "$(jq .enabled "$T/body")" = false ] || fail "not disabled: $(cat "$T/body")"
[ "$(client refused)" = refused ] || fail "a disabled proxy accepted a connection"
echo go >&"${HOLD[1]}"
read -r line <&"${HOLD[0]}"; [ "$line" = reset ] || fail "the open connection of a disabled proxy got '$line'"

req POST /reset; expect 204
req GET /proxies/echo; expect 200
[ "$(jq .enabled "$T/body")" = true ] || fail "reset did not enable: $(cat "$T/body")"
client rtt >/dev/null || fail "no echo after reset"

# The last proxy deleted while a toxic holds its answer: the kernel keeps
# the held packet (connection tracking stays in use until faultline has
# left its queue; its hooks going would drop every queued packet), so its
# verdict is taken and nothing is lost.
req POST /proxies/echo/toxics -d '{"type":"latency","attributes":{"latency":1500}}'; expect 200
client rtt >"$T/held" 2>&1 &
held_pid=$!
counts() { A "$FL" ctl --control "$T/ctl.sock" --json stats | jq -c '.stats | [.held_now, .verdict_errors, .verdicts_refused]'; }
A "$FL" ctl --control "$T/ctl.sock" wait 'toxi.echo.latency_downstream.delayed >= 1' --timeout 10s >/dev/null ||
	fail "the latency toxic held nothing"
[ "$(counts | jq '.[0]')" -ge 1 ] || fail "nothing held any more: $(counts)"
req DELETE /proxies/echo; expect 204
wait "$held_pid" || log "client: $(cat "$T/held")"
A "$FL" ctl --control "$T/ctl.sock" wait 'held == 0' --timeout 20s >/dev/null || fail "still held: $(counts)"
c=$(counts)
[ "$c" = '[0,0,0]' ] || fail "held packets lost when the last proxy went (held now, verdict errors, refused): $c"
req GET /proxies/echo; expect 404
[ "$(cat "$T/body")" = '{"error":"proxy not found","status":404}' ] || fail "404 body: $(cat "$T/body")"

kill -TERM "$FL_PID"; wait "$FL_PID" || fail "faultline exited $?: $(cat "$T/fl.err")"; FL_PID=
! A iptables-save | grep -q FAULTLINE || fail "chains left: $(A iptables-save | grep FAULTLINE)"
[ "$(A sysctl -n net.ipv4.conf.all.route_localnet)" = "$localnet_before" ] || fail "route_localnet not put back"
log "ok"

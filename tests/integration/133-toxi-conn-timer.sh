#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# reset_peer's timeout counts per connection (rule qualifier conn-after),
# as toxiproxy counts from the connection's start: a connection opened
# after the toxic had been there longer than its timeout still gets its
# echo, and is reset (ECONNRESET) once its own timeout has passed. With
# the time counted from the toxic's arrival its first echo would be reset.
. "$(dirname "$0")/lib.sh"
toxi_echo_pair
D=$(dirname "$0")
toxi_start "$NS_A" --seed 3

req POST /proxies -d '{"name":"echo","listen":"127.0.0.1:0","upstream":"10.99.0.2:8080"}'; expect 201
PORT=$(jq -r '.listen | split(":")[1]' "$T/body")
req POST /proxies/echo/toxics -d '{"type":"reset_peer","attributes":{"timeout":3000}}'; expect 200
A "$FL" ctl --control "$T/ctl.sock" --json list | jq -r '.rules[0].rule' | grep -q 'reset, conn-after 3s' ||
	fail "rule: $(A "$FL" ctl --control "$T/ctl.sock" --json list)"
# Longer than the timeout since the toxic came: a new connection still has its own.
sleep 3.3
coproc HOLD { A "$PY" "$D/toxi_client.py" "$PORT" hold 2>&1; }
read -r line <&"${HOLD[0]}" || line=
[ "$line" = ready ] || fail "a connection opened 3.3 s after the toxic was not echoed: '$line'"
sleep 3.1
echo go >&"${HOLD[1]}"
read -r line <&"${HOLD[0]}" || line=
[ "$line" = reset ] || fail "3.1 s after its echo the connection got '$line', not a reset"
[ "$(A "$FL" ctl --control "$T/ctl.sock" --json list | jq '.rules[0].reset')" -ge 1 ] || fail "the rule reset nothing"

kill -TERM "$FL_PID"; wait "$FL_PID" || fail "faultline exited $?: $(cat "$T/fl.err")"; FL_PID=
log "ok"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A toxiproxy API change the kernel refuses changes nothing, in the kernel
# too: faultline in namespace A, an echo server in B. A proxy moved to a
# port another proxy holds gets 500 (bind refused) and keeps forwarding at
# its old port, with its toxic's rule; a reset that cannot enable a
# disabled proxy (its port taken meanwhile) gets 500 and leaves every
# toxic and its rule. The state GET lists and the rules ctl lists are
# those before each refusal. (Before: the moved proxy was left stopped,
# and the reset removed the toxics it passed before failing.)
. "$(dirname "$0")/lib.sh"
toxi_echo_pair
D=$(dirname "$0")
toxi_start "$NS_A" --seed 3
port() { jq -r '.listen | split(":")[1]' "$T/body"; }
rules() { A "$FL" ctl --control "$T/ctl.sock" --json list | jq -r '[.rules[].name] | join(" ")'; }
# unchanged: GET /proxies and ctl's rules are those saved by save.
save() { req GET /proxies; cp "$T/body" "$T/before"; rules >"$T/rules"; }
unchanged() {
	req GET /proxies; expect 200
	cmp -s "$T/body" "$T/before" || fail "$1: the proxies changed: $(cat "$T/before") -> $(cat "$T/body")"
	[ "$(rules)" = "$(cat "$T/rules")" ] || fail "$1: the rules changed: $(cat "$T/rules") -> $(rules)"
}

req POST /proxies -d '{"name":"echo","listen":"127.0.0.1:0","upstream":"10.99.0.2:8080"}'; expect 201
P1=$(port)
req POST /proxies/echo/toxics -d '{"type":"latency","attributes":{"latency":50}}'; expect 200
req POST /proxies -d '{"name":"other","listen":"127.0.0.1:0","upstream":"10.99.0.2:8080"}'; expect 201
P2=$(port)

save
req PATCH /proxies/echo -d "{\"listen\":\"127.0.0.1:$P2\"}"; expect 500
grep -q 'bind: Address already in use' "$T/body" || fail "the move's error: $(cat "$T/body")"
unchanged "a refused move"
[ "$(rules)" = toxi.echo.latency_downstream ] || fail "rules: $(rules)"
A "$PY" "$D/toxi_client.py" "$P1" rtt >/dev/null || fail "the proxy no longer forwards after a refused move"

req POST /proxies/other -d '{"enabled":false}'; expect 200
req POST /proxies -d "{\"name\":\"third\",\"listen\":\"127.0.0.1:$P2\",\"upstream\":\"10.99.0.2:8080\"}"; expect 201
save
req POST /reset; expect 500
grep -q 'bind: Address already in use' "$T/body" || fail "the reset's error: $(cat "$T/body")"
unchanged "a refused reset"
A "$PY" "$D/toxi_client.py" "$P1" rtt >/dev/null || fail "the proxy no longer forwards after a refused reset"

kill -TERM "$FL_PID"; wait "$FL_PID" || fail "faultline exited $?: $(cat "$T/fl.err")"; FL_PID=
no_chain_left "$NS_A"
log "ok"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The HTTP API, every endpoint and status with curl, on a live run in
# namespace B whose listener stays in the namespace faultline was started
# in (the host's loopback, here): --netns B --http 127.0.0.1:0.
#   /rules: list, add (201; 409 duplicate; 400 with the parser's located
#   message), get (404 unknown), disable/enable, delete (204), replace (PUT,
#   JSON lines and a text/plain file); /stats; /metrics (promtool); /reset;
#   /reload; /events streamed while a ping crosses a rule; 404 and 405.
#   /wait that holds, that times out (408), with a bad condition (400).
# What the API changed is what the packets meet: a ping is delayed by a
# rule added through it, and no longer once it is deleted. Then the
# README's "HTTP API" examples, each curl line as written.
. "$(dirname "$0")/lib.sh"
make_pair

printf 'keep: udp port 9 => drop\n' >"$T/rules"
fl_start "$NS_B" --rules "$T/rules" --http 127.0.0.1:0 --seed 1
API=$(http_base)
log "API at $API"

body() { jq -c "$1" "$T/body"; }
json_ct() { grep -qi '^Content-Type: application/json' "$T/headers" || fail "not JSON: $(cat "$T/headers")"; }

req GET /rules; expect 200; json_ct
[ "$(body '[.[].name]')" = '["keep"]' ] || fail "GET /rules: $(cat "$T/body")"

req POST /rules -d '{"name":"slow","rule":"icmp => delay 300ms, in"}'; expect 201; json_ct
[ "$(body '[.name, .rule, .enabled]')" = '["slow","icmp => delay 300ms, in",true]' ] ||
	fail "POST /rules answered $(cat "$T/body")"
req POST /rules -d '{"name":"slow","rule":"udp => drop"}'; expect 409
[ "$(body .status)" = 409 ] || fail "409 body: $(cat "$T/body")"
req POST /rules -d '{"rule":"udp => dorp"}'; expect 400
grep -q '1:8: unknown action' "$T/body" || fail "no located parser message: $(cat "$T/body")"

# The ping meets the rule: 300 ms per echo request.
ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 5 10.99.0.2 >"$T/ping" || fail "ping failed"
req GET /rules/slow; expect 200
[ "$(body .delayed)" = 2 ] || fail "GET /rules/slow: $(cat "$T/body")"
req GET /rules/nope; expect 404

req POST /rules/slow/disable; expect 200
[ "$(body .enabled)" = false ] || fail "disable: $(cat "$T/body")"
ip netns exec "$NS_A" ping -c 1 -W 5 10.99.0.2 >/dev/null || fail "ping failed"
req GET /rules/slow
[ "$(body .delayed)" = 2 ] || fail "a disabled rule delayed: $(cat "$T/body")"
req POST /rules/slow/enable; expect 200
[ "$(body .enabled)" = true ] || fail "enable: $(cat "$T/body")"

# Events, streamed while a ping crosses the rule.
curl -sS -N -D "$T/events.headers" "$API/events" >"$T/events" 2>"$T/events.err" &
EV=$!
PIDS+=("$EV")
for _ in $(seq 1 100); do grep -q '^HTTP/1.1 200' "$T/events.headers" 2>/dev/null && break; sleep 0.05; done
grep -qi '^Content-Type: application/x-ndjson' "$T/events.headers" || fail "GET /events: $(cat "$T/events.headers")"
ip netns exec "$NS_A" ping -c 1 -W 5 10.99.0.2 >/dev/null || fail "ping failed"
for _ in $(seq 1 100); do grep -q 'delay' "$T/events" && break; sleep 0.05; done
grep -q 'delay' "$T/events" || fail "no delay event streamed: $(head -c 500 "$T/events")"
jq -e . "$T/events" >/dev/null ||
	fail "an /events line is not JSON"
kill "$EV"

req GET /stats; expect 200; json_ct
[ "$(body '.packets > 0 and (.rules | length) == 2')" = true ] || fail "GET /stats: $(head -c 300 "$T/body")"
req GET /metrics; expect 200
grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/headers" || fail "metrics content type: $(cat "$T/headers")"
grep -q '^faultline_rule_delayed_total{rule="slow"} 3$' "$T/body" || fail "metrics: $(grep rule_delayed "$T/body")"
if command -v promtool >/dev/null; then
	promtool check metrics <"$T/body" || fail "promtool refuses GET /metrics"
fi

req DELETE /rules/slow; expect 204
[ ! -s "$T/body" ] || fail "204 with a body"
req DELETE /rules/slow; expect 404
req GET /stats
held=$(body .held)
ip netns exec "$NS_A" ping -c 1 -W 5 10.99.0.2 >/dev/null || fail "ping failed"
req GET /stats
[ "$(body .held)" = "$held" ] || fail "a ping was held after its rule was deleted"

req PUT /rules -d '{"rules":["a: udp port 7 => drop","b: udp port 11 => drop"]}'; expect 200
[ "$(body '[.[].name]')" = '["a","b"]' ] || fail "PUT /rules: $(cat "$T/body")"
printf 'c: udp port 8 => drop\n# comment\nd: udp port 12 => drop\n' >"$T/put.rules"
req PUT /rules -H 'Content-Type: text/plain' --data-binary @"$T/put.rules"; expect 200
[ "$(body '[.[].name]')" = '["c","d"]' ] || fail "PUT /rules text: $(cat "$T/body")"
req PUT /rules -d '{"rules":["e: udp => drop","udp => nope"]}'; expect 400
req GET /rules
[ "$(body '[.[].name]')" = '["c","d"]' ] || fail "a bad PUT changed the rules: $(cat "$T/body")"

req POST /reset; expect 200
[ "$(body '[.[].name]')" = '["keep"]' ] || fail "POST /reset: $(cat "$T/body")"
printf 'keep: udp port 9 => drop\nnew: udp port 10 => drop\n' >"$T/rules"
req POST /reload; expect 200
[ "$(body '[.[].name]')" = '["keep","new"]' ] || fail "POST /reload: $(cat "$T/body")"

req GET /nowhere; expect 404
req DELETE /rules; expect 405
grep -qi '^Allow: GET, POST, PUT' "$T/headers" || fail "405 without Allow: $(cat "$T/headers")"
req GET /reset; expect 405
grep -qi '^Allow: POST' "$T/headers" || fail "405 without Allow: $(cat "$T/headers")"

# wait: one that holds once a ping is delayed, one whose timeout passes (408).
req POST /rules -d '{"name":"w","rule":"icmp => delay 10ms, in"}'; expect 201
curl -sS -o "$T/wait" -w '%{http_code}' "$API/wait" -d '{"condition":"w.delayed >= 2","timeout_ms":30000}' \
	>"$T/wait.status" &
WAIT=$!
PIDS+=("$WAIT")
ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 5 10.99.0.2 >/dev/null || fail "ping failed"
wait "$WAIT" || fail "curl POST /wait failed"
[ "$(cat "$T/wait.status")" = 200 ] && jq -e '.met == true' "$T/wait" >/dev/null ||
	fail "POST /wait that holds: $(cat "$T/wait.status") $(cat "$T/wait")"
req POST /wait -d '{"condition":"w.delayed >= 100","timeout_ms":200}'; expect 408
req POST /wait -d '{"condition":"w.delayed >=","timeout_ms":200}'; expect 400
fl_stop
no_chain_left "$NS_B"

# The README's examples, as written (its "HTTP API" section): each curl -s line
# against a run started as the block says, on the port this one got.
fl_start "$NS_B" -r 'keep: udp port 53 => drop 10%' --http 127.0.0.1:0
HP=$(http_base)
HP=${HP#http://}
README=$(dirname "$0")/../../README.md
sed -n '/^## HTTP API/,/^| method and path/p' "$README" | grep -E '^(curl -s |printf )' | grep -v '/events' \
	>"$T/examples"
[ "$(grep -c '^curl' "$T/examples")" -ge 13 ] || fail "the README's examples were not found: $(cat "$T/examples")"
while IFS= read -r line; do
	line=${line//127.0.0.1:8474/$HP}
	out=$(cd "$T" && curl() { command curl -w '\n%{http_code}' "$@"; } && eval "$line") ||
		fail "README example failed: $line"
	code=$(tail -1 <<<"$out")
	case $line in
	*/wait*) [ "$code" = 408 ] || fail "README example: $line: $code" ;;
	printf*) ;;
	*) [ "${code:0:1}" = 2 ] || fail "README example: $line: $out" ;;
	esac
done <"$T/examples"
log "$(grep -c '^curl' "$T/examples") README examples ran"
fl_stop
echo ok

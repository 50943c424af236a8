#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fl-timeout: 900
# The image on a real engine: docker/Dockerfile builds on the offline base
# (debian:bookworm-slim, debootstrapped) and its final stage holds no compiler
# nor apt lists; demo is refused with a message; as a sidecar
# (--network container:srv, --cap-drop ALL --cap-add NET_ADMIN) it delays and
# drops what a client container measures, switched through the HTTP API on the
# shared namespace's loopback; a duplicate rule without NET_RAW names the
# capability; when the target restarts the sidecar exits 3 and its restart
# policy brings it back in the new namespace; after docker kill of the sidecar
# `faultline cleanup` in the namespace removes its chain; docker/compose.yaml comes up, its client measures the delay, the
# runner switches it off through the published API, and it comes down again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/docker.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

dk_start
dk_base
IMG=faultline-test:$ID
TOOLS=faultline-tools-test:$ID
# The tools image (apt only) builds beside faultline's (apt, then the compile).
DK_IMAGES+=("$TOOLS")
dk build -q -t "$TOOLS" -f "$ROOT/docker/tools.Dockerfile" "$ROOT/docker" >"$T/tools-build.err" 2>&1 &
PIDS+=($!)
dk_build "$IMG" -f "$ROOT/docker/Dockerfile" "$ROOT" || fail "the image did not build"
log "image: $(dk image inspect -f '{{.Size}}' "$IMG") bytes (${SECONDS}s)"
wait "${PIDS[-1]}" || fail "the tools image did not build: $(tail -5 "$T/tools-build.err")"

# No compiler, no apt lists or archives in the final stage.
for tool in gcc cc cmake make; do
	if dk run --rm --entrypoint /bin/sh "$IMG" -c "command -v $tool"; then
		fail "the image holds $tool"
	fi
done
left=$(dk run --rm --entrypoint /bin/sh "$IMG" -c 'ls /var/lib/apt/lists /var/cache/apt/archives | grep -v -e : -e "^$" -e lock -e partial' || true)
[ -z "$left" ] || fail "apt's cache is in the image: $left"
out=$(dk run --rm "$IMG" demo 2>&1) && fail "demo succeeded in the image"
grep -q "not offered in an installed copy" <<<"$out" || fail "demo in the image: $out"

# rtt_avg CONTAINER TARGET COUNT: ping's average round trip in ms (integer part).
rtt_avg() {
	dk exec "$1" ping -n -q -c "$3" -i 0.2 -W 2 "$2" | sed -n 's|.*= [0-9.]*/\([0-9]*\).*|\1|p'
}
# loss CONTAINER TARGET COUNT: ping's loss in percent.
loss() {
	dk exec "$1" ping -n -q -c "$3" -i 0.2 -W 1 "$2" | sed -n 's/.* \([0-9]*\)% packet loss.*/\1/p'
}
api() { dk exec srv curl -s "$@"; }

dk run -d --name srv "$TOOLS" sleep infinity >/dev/null
dk run -d --name cli "$TOOLS" sleep infinity >/dev/null
SRV=$(dk_ip srv)
[ "$(loss cli "$SRV" 2)" = 0 ] || fail "client cannot reach the server"

# NET_ADMIN alone: a duplicate rule is refused naming NET_RAW.
out=$(dk run --rm --network container:srv --cap-drop ALL --cap-add NET_ADMIN "$IMG" \
	run --rule 'icmp => duplicate' 2>&1) && fail "duplicate ran without NET_RAW"
grep -q 'needs CAP_NET_RAW' <<<"$out" || fail "duplicate without NET_RAW: $out"

dk run -d --name fl --network container:srv --cap-drop ALL --cap-add NET_ADMIN "$IMG" \
	run --rule 'slow: icmp => delay 100ms' --http 127.0.0.1:8474 >/dev/null
for _ in $(seq 100); do
	api 127.0.0.1:8474/rules >/dev/null 2>&1 && break
	sleep 0.1
done
# The rule applies both ways: 100 ms on the request and on the reply.
avg=$(rtt_avg cli "$SRV" 5)
log "sidecar delay 100ms: average round trip $avg ms"
[ "${avg:-0}" -ge 200 ] || fail "round trip $avg ms under a 100 ms delay each way"

# Drop everything, then switch the rule off: the counters stand still.
api -X PUT 127.0.0.1:8474/rules -d '{"rules":["cut: icmp => drop"]}' | grep -q '"cut"' ||
	fail "PUT /rules did not answer the new set"
[ "$(loss cli "$SRV" 3)" = 100 ] || fail "drop: pings still answered"
api -X POST 127.0.0.1:8474/rules/cut/disable | grep -q '"enabled":false' || fail "disable did not answer"
before=$(api 127.0.0.1:8474/rules/cut | jq .matched)
[ "$(loss cli "$SRV" 3)" = 0 ] || fail "pings lost with the rule off"
after=$(api 127.0.0.1:8474/rules/cut | jq .matched)
[ "$before" = "$after" ] || fail "a disabled rule matched ($before -> $after)"

# docker stop removes the chain (SIGTERM), with the namespace still there.
dk stop -t 10 fl >/dev/null
[ "$(dk inspect -f '{{.State.ExitCode}}' fl)" = 0 ] || fail "the sidecar exited $(dk inspect -f '{{.State.ExitCode}}' fl)"
pid=$(dk inspect -f '{{.State.Pid}}' srv)
if nsenter -t "$pid" -n iptables-save | grep -q FAULTLINE; then fail "chain left after docker stop"; fi
dk rm -f fl >/dev/null

# A sidecar whose target restarts is left in the old namespace: it says so and
# exits 3, and its restart policy brings it back in the new one.
dk run -d --name fl2 --restart on-failure --network container:srv --cap-drop ALL --cap-add NET_ADMIN \
	"$IMG" run --rule 'icmp => delay 100ms' >/dev/null
wait_logs() {
	for _ in $(seq 300); do
		[ "$(dk logs fl2 2>&1 | grep -c "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "no '$1' ($2) in the sidecar's log: $(dk logs fl2 2>&1)"
}
wait_logs "running (queue" 1
dk restart -t 1 srv >/dev/null
wait_logs "lost its last interface" 1
wait_logs "running (queue" 2
[ "$(dk inspect -f '{{.RestartCount}}' fl2)" -ge 1 ] || fail "the sidecar was not restarted"
SRV=$(dk_ip srv)
avg=$(rtt_avg cli "$SRV" 5)
log "sidecar after the target's restart: $avg ms"
[ "${avg:-0}" -ge 200 ] || fail "after the target's restart: round trip $avg ms"
# docker kill leaves the chain (no SIGTERM): traffic still flows (the queue
# is bypassed without a reader) and `faultline cleanup` in the namespace removes it.
dk kill fl2 >/dev/null
pid=$(dk inspect -f '{{.State.Pid}}' srv)
nsenter -t "$pid" -n iptables-save | grep -q FAULTLINE || fail "no chain after docker kill"
[ "$(loss cli "$SRV" 3)" = 0 ] || fail "pings lost after docker kill of the sidecar"
dk run --rm --network container:srv --cap-drop ALL --cap-add NET_ADMIN "$IMG" cleanup >"$T/cleanup.out" 2>&1 ||
	fail "cleanup in the sidecar's namespace: $(cat "$T/cleanup.out")"
if nsenter -t "$pid" -n iptables-save | grep -q FAULTLINE; then fail "chain left after cleanup"; fi
dk rm -f srv cli fl2 >/dev/null

# docker/compose.yaml as written, with this test's images and port, in every
# compose there is: docker-compose 1.29 and, if the client has it, v2.
composes=("/usr/bin/docker-compose")
dk compose version >/dev/null 2>&1 && composes+=("$DOCKER compose")
for compose in "${composes[@]}"; do
	port=$((20000 + RANDOM % 20000))
	cmp() { FL_IMAGE=$IMG FL_TOOLS_IMAGE=$TOOLS FL_API_PORT=$port $compose -p "fl$ID" -f "$ROOT/docker/compose.yaml" "$@"; }
	cmp up -d --no-build >"$T/compose.err" 2>&1 || fail "$compose up: $(cat "$T/compose.err")"
	for _ in $(seq 100); do
		curl -s "127.0.0.1:$port/rules" >/dev/null && break
		sleep 0.1
	done
	avg=$(cmp exec -T client ping -n -q -c 5 -i 0.2 server | sed -n 's|.*= [0-9.]*/\([0-9]*\).*|\1|p')
	log "$compose: client's round trip $avg ms with example.rules"
	[ "${avg:-0}" -ge 200 ] || fail "$compose: round trip $avg ms under example.rules' 100 ms"
	curl -s -X POST "127.0.0.1:$port/rules/slow/disable" | grep -q '"enabled":false' ||
		fail "$compose: the published API did not switch the rule off"
	before=$(curl -s "127.0.0.1:$port/rules/slow" | jq .matched)
	cmp exec -T client ping -n -q -c 3 -i 0.2 server >/dev/null || fail "$compose: pings lost"
	[ "$(curl -s "127.0.0.1:$port/rules/slow" | jq .matched)" = "$before" ] ||
		fail "$compose: the rule switched off still matched"
	cmp down -t 10 >"$T/compose.err" 2>&1 || fail "$compose down: $(cat "$T/compose.err")"
	[ -z "$(dk ps -aq)" ] || fail "$compose down left containers"
done
echo "PASS"

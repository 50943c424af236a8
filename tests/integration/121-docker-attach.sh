#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fl-timeout: 600
# Host-side attach by name: `run --container app` delays what reaches app;
# after `docker restart app` it says so, enters the new namespace and the
# delay is measured again; `docker rm -f app` ends it with exit 4. A
# --netns-path run whose process dies (`docker kill`) says so and exits 3.
# `host @db and host @api => drop` partitions db from api while web still
# reaches db; an unknown @NAME is a located rule error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/docker.sh"

dk_start
dk_base
# faultline asks the engine's client on PATH: Debian's, for Debian's engine.
export PATH=/usr/bin:$PATH

rtt_avg() { ping -n -q -c "$2" -i 0.2 -W 2 "$1" | sed -n 's|.*= [0-9.]*/\([0-9]*\).*|\1|p'; }
wait_log() {
	for _ in $(seq 200); do
		grep -q "$2" "$1" && return 0
		sleep 0.1
	done
	fail "no '$2' in $1: $(cat "$1")"
}

dk run -d --name app debian:bookworm-slim sleep infinity >/dev/null
out=$("$FL" run --container nosuch --rule 'icmp => drop' 2>&1) && fail "an unknown container ran"
grep -q "no such container" <<<"$out" || fail "unknown container: $out"

"$FL" run --container app --no-control --rule 'icmp => delay 100ms' 2>"$T/fl.err" &
FL_PID=$!
wait_log "$T/fl.err" "running (queue"
sleep 1
IP=$(dk_ip app)
avg=$(rtt_avg "$IP" 5)
log "attached by name: $avg ms"
[ "${avg:-0}" -ge 200 ] || fail "round trip $avg ms under 100 ms each way"

dk restart -t 1 app >/dev/null
wait_log "$T/fl.err" "restarted"
wait_log "$T/fl.err" "attached again (1)"
IP=$(dk_ip app)
for _ in $(seq 50); do
	pid=$(dk inspect -f '{{.State.Pid}}' app)
	nsenter -t "$pid" -n iptables-save 2>/dev/null | grep -q FAULTLINE && break
	sleep 0.1
done
avg=$(rtt_avg "$IP" 5)
log "after docker restart: $avg ms"
[ "${avg:-0}" -ge 200 ] || fail "after the restart: round trip $avg ms"
kill -0 "$FL_PID" || fail "faultline did not follow the restart"

dk rm -f app >/dev/null
rc=0
wait "$FL_PID" || rc=$?
FL_PID=
[ $rc = 4 ] || fail "removed container: exit $rc, not 4: $(cat "$T/fl.err")"
grep -q "container 'app' was removed" "$T/fl.err" || fail "no removal message: $(cat "$T/fl.err")"

# --netns-path: the process holding the path dies.
dk run -d --name app2 debian:bookworm-slim sleep infinity >/dev/null
pid=$(dk inspect -f '{{.State.Pid}}' app2)
"$FL" run --netns-path "/proc/$pid/ns/net" --no-control --rule 'icmp => delay 10ms' 2>"$T/fl2.err" &
FL_PID=$!
sleep 1
dk kill app2 >/dev/null
rc=0
wait "$FL_PID" || rc=$?
FL_PID=
[ $rc = 3 ] || fail "--netns-path after docker kill: exit $rc, not 3: $(cat "$T/fl2.err")"
grep -q "network namespace /proc/$pid/ns/net is gone (" "$T/fl2.err" || fail "no message: $(cat "$T/fl2.err")"

# Partition by container names, measured from each container's own namespace.
for c in db api web; do dk run -d --name $c debian:bookworm-slim sleep infinity >/dev/null; done
pid_of() { dk inspect -f '{{.State.Pid}}' "$1"; }
loss_from() {
	nsenter -t "$(pid_of "$1")" -n ping -n -q -c 3 -i 0.2 -W 1 "$(dk_ip "$2")" |
		sed -n 's/.* \([0-9]*\)% packet loss.*/\1/p'
}
[ "$(loss_from api db)" = 0 ] || fail "api cannot reach db before the partition"
out=$("$FL" run --container db --no-control --rule 'host @db and host @nosuch => drop' 2>&1) &&
	fail "an unknown @NAME ran"
grep -q "1:19: unknown container '@nosuch'" <<<"$out" || fail "unknown @NAME: $out"
"$FL" run --container db --no-control --rule 'host @db and host @api => drop' 2>"$T/fl3.err" &
FL_PID=$!
wait_log "$T/fl3.err" "running (queue"
[ "$(loss_from api db)" = 100 ] || fail "api still reaches db through the partition"
[ "$(loss_from web db)" = 0 ] || fail "web lost packets to db: the partition is not only api's"
echo "PASS"

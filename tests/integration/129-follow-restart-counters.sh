#!/usr/bin/env bash
# A followed container restart, without docker: a stand-in `docker` on PATH
# answers `docker inspect` with the PID of a process holding the
# "container's" namespace. When that process exits and another holds a new
# namespace, faultline (--container app) follows it: one "netns" event
# (followed, the old and new namespaces' inodes, the new PID), counters that
# go on from where they were (a rule's delayed, packets) and netns_follows
# 1. When the container is then removed, a "netns" event says so and the
# exit status is 4; so does one when a --netns-path's process exits (exit
# 3). Every event and counters line conforms to the schema.
. "$(dirname "$0")/lib.sh"
SCHEMA="python3 $(dirname "$0")/../tools/evschema.py"
make_pair --no-ipv6
# The restarted container's namespace: R, reached from A over a second pair.
ip netns add "$NS_R"
ip link add "vx-$ID" netns "$NS_A" type veth peer name "vr-$ID" netns "$NS_R"
ip -n "$NS_A" addr add 10.98.0.1/24 dev "vx-$ID"
ip -n "$NS_R" addr add 10.98.0.2/24 dev "vr-$ID"
ip -n "$NS_A" link set "vx-$ID" up
ip -n "$NS_R" link set "vr-$ID" up
ip -n "$NS_R" link set lo up

mkdir "$T/bin"
cat >"$T/bin/docker" <<EOF
#!/bin/sh
# docker inspect --type container -f FORMAT NAME: the PID in $T/pid, or no such container.
[ "\$1" = inspect ] && [ "\$6" = app ] && [ -s "$T/pid" ] && exec cat "$T/pid"
exit 1
EOF
chmod +x "$T/bin/docker"
export PATH=$T/bin:$PATH

# in_ns NS: start a process in NS (the container's first), its PID in $HELD once it is there.
in_ns() {
	ip netns exec "$1" sleep 600 &
	HELD=$!
	PIDS+=("$HELD")
	for _ in $(seq 1 100); do
		[ "$(stat -L -c %i /proc/"$HELD"/ns/net)" = "$(stat -L -c %i /run/netns/"$1")" ] && return 0
		sleep 0.02
	done
	fail "process $HELD never entered $1"
}
in_ns "$NS_B"
OLD=$HELD
echo "$OLD" >"$T/pid"
from=$(stat -L -c %i /run/netns/"$NS_B")

"$FL" run --container app --rule 'slow: udp dst port 5000 => delay 5ms' --seed 1 --no-control \
	--events "$T/ev" >"$T/fl.out" 2>"$T/fl.err" &
FL_PID=$!
# running: wait until faultline has said "running" N times.
running() {
	for _ in $(seq 1 200); do
		[ "$(grep -c 'faultline: running' "$T/fl.err")" -ge "$1" ] && return 0
		kill -0 "$FL_PID" 2>/dev/null || fail "faultline ended: $(cat "$T/fl.err")"
		sleep 0.05
	done
	fail "not running ($1) after 10 s: $(cat "$T/fl.err")"
}
running 1
udp_recv "$NS_B" 5000 1000 50
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 50 200
udp_recv_wait

# The restart: a new process in a new namespace, then the old one ends.
in_ns "$NS_R"
NEW=$HELD
to=$(stat -L -c %i /run/netns/"$NS_R")
echo "$NEW" >"$T/pid"
kill "$OLD"
running 2
udp_recv "$NS_R" 5000 1000 30
ip netns exec "$NS_A" "$UDPSEQ" send 10.98.0.2 5000 30 200
udp_recv_wait

# Removed: the engine no longer knows it, and its process ends.
: >"$T/pid"
kill "$NEW"
rc=0
wait "$FL_PID" || rc=$?
FL_PID=
log "$(grep -c . "$T/fl.out") counters lines; exit $rc; $(grep '"ev":"netns"' "$T/ev" | tr '\n' ' ')"
[ $rc -eq 4 ] || fail "exit $rc after the container was removed, expected 4"
python3 - "$T/ev" "$T/fl.out" "$from" "$to" "$NEW" <<'EOF' || fail "events or counters"
import json, sys
ev, out, frm, to, new = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
lines = [json.loads(l) for l in open(ev)]
netns = [l for l in lines if l["ev"] == "netns"]
want = [{"change": "followed", "container": "app", "from": frm, "to": to, "pid": new, "netns_follows": 1},
        {"change": "removed", "container": "app", "from": to, "netns_follows": 1}]
got = [{k: v for k, v in l.items() if k not in ("t", "ev")} for l in netns]
assert got == want, f"netns events {got}, expected {want}"
counters = [json.loads(l) for l in open(out) if l.startswith("{")]
first, last = counters[0], counters[-1]
assert first["rules"][0]["delayed"] == 50 and first["netns_follows"] == 0, first["rules"][0]
assert last["rules"][0]["delayed"] == 80, f"delayed {last['rules'][0]['delayed']}, expected 50 + 30"
assert last["rules"][0]["matched"] == 80 and last["packets"] >= 80, last["packets"]
assert last["netns_follows"] == 1 and last["seed"] == 1, last["netns_follows"]
print(f"  first run: delayed {first['rules'][0]['delayed']}; after the follow: delayed "
      f"{last['rules'][0]['delayed']}, packets {last['packets']}, netns_follows {last['netns_follows']}",
      file=sys.stderr)
EOF

# --netns-path whose process exits: a "netns" line says it is gone, exit 3.
in_ns "$NS_B"
"$FL" run --netns-path /proc/"$HELD"/ns/net --rule 'udp => delay 1ms' --no-control --events "$T/ev2" \
	>"$T/fl.out2" 2>"$T/fl.err" &
FL_PID=$!
running 1
kill "$HELD"
rc=0
wait "$FL_PID" || rc=$?
FL_PID=
gone=$(grep '"ev":"netns"' "$T/ev2" | sed 's/^{"t":[0-9.]*,//')
log "--netns-path, its process gone: exit $rc, $gone"
[ $rc -eq 3 ] || fail "exit $rc, expected 3"
[ "$gone" = "\"ev\":\"netns\",\"change\":\"gone\",\"from\":$from,\"netns_follows\":0}" ] || fail "netns line: $gone"
$SCHEMA events "$T/ev" "$T/ev2" >/dev/null || fail "event log against the schema"
$SCHEMA counters "$T/fl.out" || fail "counters against the schema"
echo ok

#!/usr/bin/env bash
# faultline wrap passes the command's exit status on, as env and timeout do
# (an exit code: 122 and 124): a signal death as 128+N (the command killed
# with SIGKILL by the test: 137), 127 for a command not found, 126 for one
# that cannot run, and SIGTERM to faultline goes on to the command, whose
# status (7, from its trap) faultline passes on; after each,
# the chain, the marking rule and the cgroup are gone. SIGKILL of the
# command is noticed at once: the run ends with it, and its command was in
# the cgroup faultline-wrap.PID.
. "$(dirname "$0")/lib.sh"
ip netns add "$NS_A"
CG=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$CG" ] || fail "no cgroup2 mounted"

# wrap_rc ARGS...: the exit status of faultline wrap ARGS.
wrap_rc() {
	local rc=0
	"$FL" wrap --netns "$NS_A" --no-control -r 'udp => drop' -- "$@" >"$T/cmd.out" 2>"$T/fl.err" || rc=$?
	echo $rc
}
clean() {
	no_chain_left "$NS_A"
	! ip netns exec "$NS_A" iptables-save | grep -q faultline-wrap || fail "$1: the marking rule was left"
	! ls "$CG" | grep -q '^faultline-wrap\.' || fail "$1: a wrap cgroup was left: $(ls "$CG")"
}

# The command reports its pid, then sleeps; the test kills it with SIGKILL.
"$FL" wrap --netns "$NS_A" --no-control -r 'udp => drop' -- sh -c 'echo $$ >"$0"; exec sleep 60' "$T/pid" \
	2>"$T/fl.err" &
FL_PID=$!
for _ in $(seq 1 200); do [ -s "$T/pid" ] && break; sleep 0.05; done
[ -s "$T/pid" ] || fail "the wrapped command did not start: $(cat "$T/fl.err")"
grep -q "0::/faultline-wrap.$FL_PID\$" "/proc/$(cat "$T/pid")/cgroup" ||
	fail "the command is not in faultline-wrap.$FL_PID: $(cat "/proc/$(cat "$T/pid")/cgroup")"
kill -9 "$(cat "$T/pid")"
rc=0
wait "$FL_PID" || rc=$?
FL_PID=
[ "$rc" -eq 137 ] || fail "SIGKILL of the command came back as $rc, not 137: $(cat "$T/fl.err")"
clean "SIGKILL of the command"

rc=$(wrap_rc no-such-command-here)
[ "$rc" -eq 127 ] || fail "a missing command gave $rc, not 127"
grep -q "cannot run 'no-such-command-here': No such file or directory" "$T/fl.err" ||
	fail "no message for the missing command: $(cat "$T/fl.err")"
clean "command not found"
rc=$(wrap_rc "$T")	# a directory
[ "$rc" -eq 126 ] || fail "a command that cannot run gave $rc, not 126"
clean "command cannot run"

# SIGTERM to faultline: the rules go, then the command gets it (its trap exits 7).
rm -f "$T/pid"
"$FL" wrap --netns "$NS_A" --no-control -r 'udp => drop' -- \
	sh -c 'trap "exit 7" TERM; echo $$ >"$0"; while :; do sleep 0.05; done' "$T/pid" 2>"$T/fl.err" &
FL_PID=$!
for _ in $(seq 1 200); do [ -s "$T/pid" ] && break; sleep 0.05; done
[ -s "$T/pid" ] || fail "the wrapped command did not start: $(cat "$T/fl.err")"
kill -TERM "$FL_PID"
rc=0
wait "$FL_PID" || rc=$?
FL_PID=
[ "$rc" -eq 7 ] || fail "SIGTERM to faultline: exit $rc, not the command's 7: $(cat "$T/fl.err")"
clean "SIGTERM to faultline"
log "SIGKILL -> 137, not found -> 127, cannot run -> 126, SIGTERM to faultline -> the command's 7; nothing left after each"
echo ok

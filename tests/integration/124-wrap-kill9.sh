#!/usr/bin/env bash
# SIGKILL of faultline wrap: its chain (with the marking rule) and its
# cgroup stay, the command dies with it (SIGKILL, PR_SET_PDEATHSIG) while
# the command's own child lives on in the cgroup. 'faultline cleanup'
# removes the chain, keeps the cgroup while that child runs and says so,
# and removes it once it ended: then iptables-save and ip6tables-save of
# both backends, and the listing of the cgroup2 root, are as before. A
# second kill -9, and the next wrap removes what it left (and exits 0, its
# command's status).
. "$(dirname "$0")/lib.sh"
ip netns add "$NS_A"
CG=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$CG" ] || fail "no cgroup2 mounted"

state() {
	local s
	for s in iptables-save ip6tables-save iptables-legacy-save ip6tables-legacy-save; do
		echo "--- $s"
		command -v $s >/dev/null && ip netns exec "$NS_A" $s | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
	done
	echo "--- cgroups"
	ls "$CG" | grep '^faultline-wrap\.' || true
}
state >"$T/before"

# kill9_wrap: a wrap whose command leaves a child behind, killed with SIGKILL once running.
kill9_wrap() {
	rm -f "$T/pids"
	"$FL" wrap --netns "$NS_A" --no-control -r 'udp => drop' -- \
		sh -c 'sleep 60 & echo "$$ $!" >"$0"; wait' "$T/pids" 2>"$T/fl.err" &
	FL_PID=$!
	for _ in $(seq 1 200); do [ -s "$T/pids" ] && break; sleep 0.05; done
	[ -s "$T/pids" ] || fail "the wrapped command did not start: $(cat "$T/fl.err")"
	read -r CMD ORPHAN <"$T/pids"
	PIDS+=("$ORPHAN")
	kill -9 "$FL_PID"
	wait "$FL_PID" 2>/dev/null || true
	KILLED=$FL_PID
	FL_PID=
	for _ in $(seq 1 100); do kill -0 "$CMD" 2>/dev/null || break; sleep 0.02; done
	! kill -0 "$CMD" 2>/dev/null || fail "the command outlived faultline's SIGKILL"
	ip netns exec "$NS_A" iptables-save | grep -q -- "--comment faultline-wrap-4242" ||
		fail "kill -9 took the marking rule"
	[ -d "$CG/faultline-wrap.$KILLED" ] || fail "kill -9 took the cgroup"
}

kill9_wrap
"$FL" cleanup --netns "$NS_A" 2>"$T/cleanup.err" || fail "cleanup exited $?: $(cat "$T/cleanup.err")"
grep -q 'removed 2 chains' "$T/cleanup.err" || fail "cleanup said: $(cat "$T/cleanup.err")"
grep -q "kept $CG/faultline-wrap.$KILLED: 1 process of its wrapped command still runs in it" "$T/cleanup.err" ||
	fail "cleanup did not say why it kept the cgroup: $(cat "$T/cleanup.err")"
kill -9 "$ORPHAN"
wait "$ORPHAN" 2>/dev/null || true
"$FL" cleanup --netns "$NS_A" 2>"$T/cleanup.err" || fail "cleanup exited $?: $(cat "$T/cleanup.err")"
grep -q "removed $CG/faultline-wrap.$KILLED " "$T/cleanup.err" ||
	fail "cleanup did not remove the cgroup: $(cat "$T/cleanup.err")"
state >"$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "iptables or the cgroups differ from before, after kill -9 and cleanup"

kill9_wrap
kill -9 "$ORPHAN"
wait "$ORPHAN" 2>/dev/null || true
"$FL" wrap --netns "$NS_A" --no-control -r 'udp => drop' -- true 2>"$T/fl.err" ||
	fail "the wrap after kill -9 exited $?: $(cat "$T/fl.err")"
grep -q "removed $CG/faultline-wrap.$KILLED " "$T/fl.err" || fail "the next wrap did not remove the cgroup"
state >"$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "iptables or the cgroups differ from before, after kill -9 and the next wrap"
log "kill -9 left chain and cgroup; cleanup and the next wrap each restored both"
echo ok

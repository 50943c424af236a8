#!/usr/bin/env bash
# faultline wrap faults the wrapped command's connections only, both ways,
# its children's too: with a rule that drops ICMP echo replies, pings from
# the wrapped command (directly, from a child and from a grandchild) get no
# answer, over the veth (the reply comes in at PREROUTING) and over
# loopback (the kernel's reply leaves through OUTPUT, from no socket of
# the cgroup: the conntrack mark carries it), while the same pings from an
# unwrapped process of the same namespace, during the same run, get theirs.
# The command's exit status (3) is faultline's.
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6

# Wrapped pings wait 0.3 s for an answer that is dropped (the counters check
# that each reply was); unwrapped ones wait 2 s for theirs.
cat >"$T/pings.sh" <<'SH'
echo "direct $(p 10.99.0.2) $(p 127.0.0.1)"
sh -c '. "$0"; echo "child $(p 10.99.0.2)"' "$T/fns.sh"
sh -c 'sh -c ". \"\$0\"; echo \"grandchild \$(p 127.0.0.1)\"" "$0"' "$T/fns.sh"
touch "$T/wrapped.done"
# Still wrapped while the unwrapped pings run.
while [ ! -e "$T/unwrapped.done" ]; do sleep 0.05; done
exit 3
SH
# p ADDR: ping's exit status (0 answered, 1 no answer).
echo 'p() { ping -n -c1 -W${W:-0.3} "$1" >/dev/null 2>&1; echo $?; }' >"$T/fns.sh"
T=$T "$FL" wrap --netns "$NS_A" --no-control -r 'icmp[icmptype] == icmp-echoreply => drop' \
	-- env T="$T" sh -c '. "$T/fns.sh"; . "$T/pings.sh"' >"$T/wrapped.out" 2>"$T/fl.err" &
FL_PID=$!
for _ in $(seq 1 200); do
	[ -e "$T/wrapped.done" ] && break
	kill -0 "$FL_PID" 2>/dev/null || fail "wrap ended early: $(cat "$T/fl.err")"
	sleep 0.05
done
[ -e "$T/wrapped.done" ] || fail "the wrapped pings did not finish"
. "$T/fns.sh"
unwrapped="$(W=2 ip netns exec "$NS_A" sh -c '. "$0"; echo "$(p 10.99.0.2) $(p 127.0.0.1)"' "$T/fns.sh")"
ip netns exec "$NS_A" iptables-save | grep -q -- '-m cgroup --path "/faultline-wrap\.' ||
	fail "no marking rule while the wrap runs"
touch "$T/unwrapped.done"
rc=0
wait "$FL_PID" || rc=$?
FL_PID=
[ $rc -eq 3 ] || fail "wrap exited $rc, not the command's 3: $(cat "$T/fl.err")"
log "wrapped: $(tr '\n' ';' <"$T/wrapped.out") unwrapped: $unwrapped (0 answered, 1 not)"
[ "$(cat "$T/wrapped.out")" = "direct 1 1
child 1
grandchild 1" ] || fail "a wrapped ping was answered: $(cat "$T/wrapped.out")"
[ "$unwrapped" = "0 0" ] || fail "an unwrapped ping was not answered: $unwrapped"
# One echo reply dropped per wrapped ping: the counters (stderr under wrap) say 4.
dropped=$(grep '^{' "$T/fl.err" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["dropped"])')
[ "$dropped" -eq 4 ] || fail "dropped $dropped replies, not 4"
no_chain_left "$NS_A"
ls /sys/fs/cgroup/unified /sys/fs/cgroup 2>/dev/null | grep -q '^faultline-wrap\.' &&
	fail "a wrap cgroup was left: $(ls -d /sys/fs/cgroup/unified/faultline-wrap.* /sys/fs/cgroup/faultline-wrap.* 2>/dev/null)"
echo ok

#!/usr/bin/env bash
# reload and SIGHUP read the -f files and -r lines again. A file with an
# error changes nothing (the rules and their counters stay as they were)
# and its located error (FILE:LINE:COL) goes to the caller (exit 1) and to
# faultline's stderr; a good file swaps in, by `ctl reload` or by SIGHUP.
. "$(dirname "$0")/lib.sh"
make_pair
CTL=("$FL" ctl --netns "$NS_B")
lost() {
	local got
	got=$(ip netns exec "$NS_A" ping -c 5 -i 0.05 -W 0.5 -q 10.99.0.2 | awk '/received/ {print $4}' || true)
	echo $((5 - got))
}
# said TEXT: faultline's stderr says TEXT (within 5 s: SIGHUP is handled on its loop).
said() {
	for _ in $(seq 1 100); do
		grep -qF -- "$1" "$T/fl.err" && return 0
		sleep 0.05
	done
	fail "faultline did not say '$1': $(cat "$T/fl.err")"
}

echo 'icmp => drop' >"$T/rules"
fl_start "$NS_B" -f "$T/rules" -r 'udp dst port 9 => drop' --seed 1
[ "$(lost)" -eq 5 ] || fail "the file's drop did not drop"
"${CTL[@]}" --json list >"$T/before"

# A bad file: refused with its place, the running rules untouched.
printf 'icmp => drop\n\nudp port => drop\n' >"$T/rules"
rc=0
"${CTL[@]}" reload 2>"$T/err" || rc=$?
[ $rc -eq 1 ] || fail "a bad reload exited $rc"
grep -q "^faultline: $T/rules:3:[0-9]*: " "$T/err" || fail "ctl said: $(cat "$T/err")"
said "reload failed, the rules are unchanged: $T/rules:3:"
"${CTL[@]}" --json list >"$T/after"
cmp -s "$T/before" "$T/after" || fail "the rules changed: $(cat "$T/before") -> $(cat "$T/after")"
[ "$(lost)" -eq 5 ] || fail "the drop stopped after a bad reload"

# The same by SIGHUP: said on stderr, nothing changes, faultline runs on.
n=$(grep -c 'reload failed' "$T/fl.err")
kill -HUP "$FL_PID"
for _ in $(seq 1 100); do
	[ "$(grep -c 'reload failed' "$T/fl.err")" -gt "$n" ] && break
	sleep 0.05
done
[ "$(grep -c "reload failed, the rules are unchanged: $T/rules:3:" "$T/fl.err")" -eq $((n + 1)) ] ||
	fail "SIGHUP with a bad file: $(cat "$T/fl.err")"
kill -0 "$FL_PID" || fail "SIGHUP ended faultline"
grep -q '"rule":"icmp => drop"' <("${CTL[@]}" --json list) || fail "SIGHUP changed the rules"

# A good file: SIGHUP swaps it in.
echo 'icmp => delay 1ms' >"$T/rules"
kill -HUP "$FL_PID"
said "SIGHUP: rules reloaded (2 rules)"
"${CTL[@]}" list >"$T/list"
grep -Eq '^ +1 +rule-1 +yes .* icmp => delay 1ms$' "$T/list" || fail "after SIGHUP: $(cat "$T/list")"
grep -Eq '^ +2 +rule-2 +yes .* udp dst port 9 => drop$' "$T/list" || fail "after SIGHUP: $(cat "$T/list")"
[ "$(lost)" -eq 0 ] || fail "pings lost after the good reload"
# And ctl reload too.
echo 'icmp => drop' >"$T/rules"
"${CTL[@]}" reload >/dev/null
[ "$(lost)" -eq 5 ] || fail "ctl reload of a good file did not take"
fl_stop
no_chain_left "$NS_B"
echo ok

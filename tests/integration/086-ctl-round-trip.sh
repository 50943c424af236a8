#!/usr/bin/env bash
# Every `faultline ctl` command against a live run, seen in real traffic:
# an ICMP drop added while ping runs makes ping lose every echo, disabled,
# enabled, deleted, replaced, reset and reloaded, each change seen in the
# next pings and in the rule's counters. Refusals exit 1 with the reason,
# usage errors 2, and a refused change leaves the rules as they were.
. "$(dirname "$0")/lib.sh"
make_pair
CTL=("$FL" ctl --netns "$NS_B")
# lost: how many of 5 echo requests got no reply.
lost() {
	local got
	got=$(ip netns exec "$NS_A" ping -c 5 -i 0.05 -W 0.5 -q 10.99.0.2 | awk '/received/ {print $4}' || true)
	echo $((5 - got))
}
# field NAME KEY: a member of rule NAME, from ctl get --json (no Python: it starts slowly).
field() { "${CTL[@]}" --json get "$1" | grep -o "\"$2\":[a-z0-9]*" | cut -d: -f2; }
# refused EXIT WHY CMD...: the command exits EXIT and says WHY on stderr.
refused() {
	local want=$1 why=$2 rc=0
	shift 2
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc -eq "$want" ] || fail "$* exited $rc, not $want: $(cat "$T/err")"
	grep -q -- "$why" "$T/err" || fail "$*: '$(cat "$T/err")' does not say '$why'"
}

echo 'udp dst port 9 => drop' >"$T/rules"
fl_start "$NS_B" -f "$T/rules" --seed 1
"${CTL[@]}" list >"$T/list"
grep -Eq '^ +1 +rule-1 +yes +0 +- +udp dst port 9 => drop$' "$T/list" || fail "list: $(cat "$T/list")"
[ "$(lost)" -eq 0 ] || fail "pings lost before any ICMP rule"

"${CTL[@]}" add 'icmp => drop' cut >"$T/out"
grep -Eq '^ +2 +cut +yes ' "$T/out" || fail "add printed: $(cat "$T/out")"
[ "$(lost)" -eq 5 ] || fail "the added drop did not drop"
[ "$(field cut dropped)" -eq 5 ] || fail "cut dropped $(field cut dropped), not 5"
"${CTL[@]}" wait 'cut.dropped >= 5' --timeout 10s >/dev/null || fail "wait for what holds did not exit 0"
refused 3 "timed out" "${CTL[@]}" wait 'cut.dropped >= 1000' --timeout 200ms
"${CTL[@]}" disable cut >/dev/null
[ "$(lost)" -eq 0 ] || fail "pings lost with the rule disabled"
[ "$(field cut enabled)" = false ] || fail "cut still enabled"
"${CTL[@]}" enable cut >/dev/null
[ "$(lost)" -eq 5 ] || fail "the enabled drop did not drop"
"${CTL[@]}" del cut
[ "$(lost)" -eq 0 ] || fail "pings lost after del"
refused 1 "no rule named 'cut'" "${CTL[@]}" get cut

# Refusals change nothing.
refused 1 "rule:1:9: unknown action 'dorp'" "${CTL[@]}" add 'icmp => dorp'
"${CTL[@]}" add 'icmp => delay 1ms' slow >/dev/null
refused 1 "a rule named 'slow' exists already" "${CTL[@]}" add 'icmp => drop' slow
printf 'icmp => drop\nudp port x => drop\n' >"$T/bad"
refused 1 "$T/bad:2:" "${CTL[@]}" replace "$T/bad"
[ "$(lost)" -eq 0 ] || fail "a refused replace changed the rules"
[ "$("${CTL[@]}" --json list | grep -o '"index":' | wc -l)" -eq 2 ] ||
	fail "the refusals changed the rules"

# replace swaps the whole set; reset goes back to the start.
printf '# one rule\nicmp => drop\n' >"$T/new"
"${CTL[@]}" replace "$T/new" >"$T/out"
grep -Eq '^ +1 +rule-1 +yes +0 +- +icmp => drop$' "$T/out" || fail "replace printed: $(cat "$T/out")"
[ "$(lost)" -eq 5 ] || fail "the replaced set did not drop"
"${CTL[@]}" reset >"$T/out"
grep -q 'udp dst port 9 => drop' "$T/out" && [ "$(wc -l <"$T/out")" -eq 2 ] || fail "reset printed: $(cat "$T/out")"
[ "$(lost)" -eq 0 ] || fail "pings lost after reset"

# reload reads the file again.
echo 'icmp => drop' >"$T/rules"
"${CTL[@]}" reload >/dev/null
[ "$(lost)" -eq 5 ] || fail "the reloaded file did not drop"
"${CTL[@]}" stats >"$T/stats"
dropped=$(grep -o '"packets":[0-9]*,"accepted":[0-9]*,"dropped":[0-9]*' "$T/stats" | cut -d: -f4)
[ "$dropped" -ge 20 ] || fail "stats: $(cat "$T/stats")"

# Usage errors exit 2.
refused 2 "unknown command 'bogus'" "${CTL[@]}" bogus
refused 2 "needs a rule line" "${CTL[@]}" add
refused 2 "needs a rule name" "${CTL[@]}" del
refused 2 "which command" "${CTL[@]}"
refused 2 "excludes" "$FL" ctl --control /x --queue 1 list
refused 1 "cannot reach faultline" "$FL" ctl --queue 4243 --netns "$NS_B" list
fl_stop
[ ! -e "/run/faultline/$NS_B.queue-4242.sock" ] || fail "the socket stayed after exit"
refused 1 "cannot reach faultline" "${CTL[@]}" list
no_chain_left "$NS_B"

# A run may start with no rules and take them through the socket.
fl_start "$NS_B" --seed 1
[ "$(lost)" -eq 0 ] || fail "pings lost with no rules"
"${CTL[@]}" add 'icmp => drop' >/dev/null
[ "$(lost)" -eq 5 ] || fail "a rule added to a run started with none did not drop"
fl_stop
no_chain_left "$NS_B"
echo ok

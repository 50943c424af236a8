#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A scenario that does not parse stops `faultline run` before it touches
# anything: the error is located FILE:LINE:COL (a bad time, a bad step, a
# bad condition, a bad rule with the rule parser's own message at its
# column in the scenario), the exit status is 2, and no chain is installed.
. "$(dirname "$0")/lib.sh"
make_pair
# bad LINE WANT: a scenario whose second line is LINE fails with WANT on stderr.
bad() {
	local rc=0
	printf 'at 0s end\n%s\n' "$1" >"$T/bad.scn"
	"$FL" run --netns "$NS_B" --scenario "$T/bad.scn" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc -eq 2 ] || fail "'$1': exit $rc, not 2: $(cat "$T/err")"
	grep -qF -- "$T/bad.scn:$2" "$T/err" || fail "'$1': '$(cat "$T/err")' lacks '$T/bad.scn:$2'"
}
bad 'at soon end' "2:4: 'soon' is not a time"
bad 'at 1s stop' "2:7: 'stop' is not a step"
bad '  at 1s add cut: tcp port 5432 => dorp' "2:35: unknown action 'dorp'"
bad 'on conn port 99999 state ESTABLISHED end' "2:14: port 99999 is out of range"
bad 'whenever end' "2:1: 'whenever': a step starts with"
rc=0
"$FL" run --netns "$NS_B" --scenario "$T/none.scn" >"$T/out" 2>"$T/err" || rc=$?
[ $rc -eq 2 ] || fail "a missing scenario: exit $rc"
grep -q "$T/none.scn: " "$T/err" || fail "a missing scenario: $(cat "$T/err")"
no_chain_left "$NS_B"
echo ok

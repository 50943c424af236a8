#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A wait whose condition never holds ends when its timeout passes, with
# its own exit code (3), the reason on stderr and, with --json, the values
# it saw ("met":false); a bad condition is a refusal (1) that says where;
# a condition over a rule that is not there is refused too; faultline goes
# on serving.
. "$(dirname "$0")/lib.sh"
make_pair
CTL=("$FL" ctl --netns "$NS_B")

fl_start "$NS_B" --rule 'cut: udp dst port 9 => drop'
rc=0
"${CTL[@]}" wait 'cut.dropped >= 1 and held == 0' --timeout 300ms >"$T/out" 2>"$T/err" || rc=$?
[ $rc -eq 3 ] || fail "a timed-out wait exited $rc, not 3: $(cat "$T/err")"
grep -q 'timed out after 300 ms' "$T/err" || fail "stderr: $(cat "$T/err")"
rc=0
"${CTL[@]}" --json wait 'cut.dropped >= 1' --timeout 200ms >"$T/out" 2>"$T/err" || rc=$?
[ $rc -eq 3 ] || fail "--json: exited $rc, not 3"
grep -q '"status":408' "$T/out" || fail "--json: $(cat "$T/out")"
grep -q '"met":false' "$T/out" || fail "--json: $(cat "$T/out")"
grep -q '"term":"cut.dropped >= 1","value":0,"holds":false' "$T/out" || fail "--json: $(cat "$T/out")"
rc=0
"${CTL[@]}" wait 'cut.dropped >> 1' >"$T/out" 2>"$T/err" || rc=$?
[ $rc -eq 1 ] || fail "a bad condition exited $rc, not 1"
grep -q "condition:13: '>>' is not a comparison" "$T/err" || fail "stderr: $(cat "$T/err")"
rc=0
"${CTL[@]}" wait 'slow.dropped >= 1' >"$T/out" 2>"$T/err" || rc=$?
[ $rc -eq 1 ] || fail "a missing rule exited $rc, not 1"
grep -q "no rule named 'slow'" "$T/err" || fail "stderr: $(cat "$T/err")"
# Still serving, and the condition can hold.
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 9 1
"${CTL[@]}" wait 'cut.dropped >= 1 and held == 0' --timeout 20s >/dev/null || fail "the wait that holds exited $?"
fl_stop
echo ok

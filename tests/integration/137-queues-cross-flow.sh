#!/usr/bin/env bash
# --queues 2 refuses rules that count across flows (each queue would keep a
# count of its own): at the start, with the rule's location, before any
# chain goes in; and at run time through the control socket, keeping the
# rules that run.
. "$(dirname "$0")/lib.sh"
ip netns add "$NS_A"

rc=0
"$FL" run --netns "$NS_A" --queues 2 --rule 'udp => drop' --rule 'tcp => drop, first 2' \
	>"$T/o" 2>"$T/e" || rc=$?
[ $rc -ne 0 ] || fail "--queues 2 took a 'first' rule"
grep -q "^faultline: --rule 2:1: rule rule-2 uses 'first', which counts packets across flows" "$T/e" ||
	fail "message: $(cat "$T/e")"
no_chain_left "$NS_A"

fl_start "$NS_A" --queues 2 --rule 'udp => drop'
rc=0
"$FL" ctl --netns "$NS_A" add 'udp => rate 1mbit' >"$T/o" 2>"$T/e" || rc=$?
[ $rc -ne 0 ] || fail "ctl add of a 'rate' rule succeeded on two queues"
grep -q "uses 'rate', which counts packets across flows" "$T/e" || fail "ctl message: $(cat "$T/e")"
"$FL" ctl --netns "$NS_A" add 'tcp port 80 => delay 1ms' >/dev/null || fail "ctl add of a delay rule failed"
[ "$("$FL" ctl --netns "$NS_A" --json stats | json /dev/stdin 'len(d["stats"]["rules"])')" -eq 2 ] ||
	fail "rules after the refusal: $("$FL" ctl --netns "$NS_A" list)"
fl_stop
no_chain_left "$NS_A"
echo ok

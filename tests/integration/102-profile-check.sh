#!/usr/bin/env bash
# 'faultline check' prints what a link profile expands to, as a comment under
# the rule (the output still loads as rules), with the source of its figures;
# an unknown profile is refused with its column and the known names.
. "$(dirname "$0")/lib.sh"
"$FL" check --rule 'tcp port 443 => profile 3g' --rule 'sat: => profile satellite, in' >"$T/out" 2>"$T/err" ||
	fail "check failed: $(cat "$T/err")"
cat >"$T/want" <<'OUT'
tcp port 443 => profile 3g
#   profile 3g = out: drop 1.5%, delay 125ms, rate 750kbit; in, fwd: drop 1.5%, delay 125ms, rate 750kbit (comcast README: 250 ms, 750 kbit/s, 1.5%)
sat: => profile satellite, in
#   profile satellite = out: drop 0.2%, delay 750ms; in, fwd: drop 0.2%, delay 750ms (comcast README: 1500 ms, no bandwidth given, 0.2%)
OUT
diff "$T/want" "$T/out" >&2 || fail "check printed something else"
# The output is a rule file again, and checks to itself.
"$FL" check "$T/out" >"$T/again" 2>"$T/err" || fail "the output does not load: $(cat "$T/err")"
diff "$T/out" "$T/again" >&2 || fail "check of its own output differs"
rc=0
"$FL" check --rule '=> profile 5g' >/dev/null 2>"$T/err" || rc=$?
[ "$rc" -eq 2 ] || fail "an unknown profile gave exit $rc, not 2"
grep -qF -- "--rule 1:1:12: unknown profile '5g' (expected gprs, edge, 3g, dialup, dsl-poor, dsl, wifi, satellite)" "$T/err" ||
	fail "message: $(cat "$T/err")"
echo ok

#!/usr/bin/env bash
# Rule errors name FILE:LINE:COL, exit 2 and leave iptables untouched; a
# missing namespace is one clear line; 'faultline check' prints rules in a
# canonical form that reads back to itself.
. "$(dirname "$0")/lib.sh"
make_pair

# iptables state of $NS_B; in a fresh namespace there are no tables at all.
ipt_state() {
	ip netns exec "$NS_B" iptables-save | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'
	ip netns exec "$NS_B" ip6tables-save | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'
}
ipt_state >"$T/ipt.before"

# expect_error RC ARGS...: run faultline, expect exit RC; stderr in $T/err.
expect_error() {
	local want=$1 rc=0
	shift
	timeout 10 "$FL" "$@" >"$T/out" 2>"$T/err" || rc=$?
	log "faultline $*: exit $rc: $(head -c 300 "$T/err")"
	[ "$rc" -eq "$want" ] || fail "faultline $*: exit $rc, expected $want"
	[ ! -s "$T/out" ] || fail "faultline $*: unexpected stdout: $(head -c 200 "$T/out")"
}

# 1. A bad action on line 3 of a rule file.
cat >"$T/bad.rules" <<'EOF'
# line 1 is a comment
udp dst port 5001 => delay 10ms
udp dst port 5000 => dorp 30%
udp dst port 5002 => drop
EOF
col=$(awk 'NR == 3 {print index($0, "dorp")}' "$T/bad.rules")
expect_error 2 run --netns "$NS_B" --rules "$T/bad.rules"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "expected one line on stderr, got $(wc -l <"$T/err")"
case "$(cat "$T/err")" in
"$T/bad.rules:3:$col: "*dorp*) ;;
*) fail "expected '$T/bad.rules:3:$col: ...dorp...', got '$(cat "$T/err")'" ;;
esac
ipt_state >"$T/ipt.after"
cmp -s "$T/ipt.before" "$T/ipt.after" || { cat "$T/ipt.after" >&2; fail "iptables changed by a run with a bad rule"; }
no_chain_left "$NS_B"
# 'check' reports the same error the same way.
expect_error 2 check --rules "$T/bad.rules"
case "$(cat "$T/err")" in "$T/bad.rules:3:$col: "*) ;; *) fail "check: wrong location: $(cat "$T/err")" ;; esac

# 2. A bad filter in --rule: location '--rule 1', line 1, column 1 (the filter starts the line).
expect_error 2 run --netns "$NS_B" --rule 'udp dst prot 5000 => drop'
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "expected one line on stderr for a bad filter"
case "$(cat "$T/err")" in
"--rule 1:1:1: "*filter*"udp dst prot 5000"*) ;;
*) fail "expected '--rule 1:1:1: ...filter 'udp dst prot 5000'...', got '$(cat "$T/err")'" ;;
esac
# The second --rule is '--rule 2'; the column points at the bad percentage.
expect_error 2 run --netns "$NS_B" --rule 'udp => drop' --rule 'udp => drop 300%'
case "$(cat "$T/err")" in "--rule 2:1:13: "*) ;; *) fail "expected '--rule 2:1:13: ...', got '$(cat "$T/err")'" ;; esac
ipt_state >"$T/ipt.after"
cmp -s "$T/ipt.before" "$T/ipt.after" || fail "iptables changed by a run with a bad --rule"

# 3. A namespace that does not exist: exit non-zero, one line naming it.
for args in "--seed 1" ""; do
	rc=0
	# shellcheck disable=SC2086
	timeout 10 "$FL" run --netns does-not-exist --rule '=> drop' $args >"$T/out" 2>"$T/err" || rc=$?
	log "missing namespace (${args:-no seed}): exit $rc: $(cat "$T/err")"
	[ "$rc" -ne 0 ] || fail "run in a missing namespace exited 0"
	[ "$(grep -c 'does-not-exist' "$T/err")" -eq 1 ] || fail "no line naming the namespace"
	# The random seed is announced only once the run is up: a failed start says one line.
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "expected exactly one line: $(cat "$T/err")"
done
rc=0
"$FL" cleanup --netns does-not-exist 2>"$T/err" || rc=$?
[ "$rc" -ne 0 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q does-not-exist "$T/err" ||
	fail "cleanup in a missing namespace: exit $rc, '$(cat "$T/err")'"

# 4. check: canonical form, and the canonical form is a fixed point.
cat >"$T/good.rules" <<'EOF'
# comments and blank lines are dropped

udp dst port 5000 => drop 30%
udp dst port 5001=>duplicate 50% ,  in     # trailing comment
=> delay 1ms 20%, first 10
icmp => delay 50ms jitter 10ms distribution normal, every 4, after 1s, for 2s
tcp => rate 100kbit limit 10, reorder 3 timeout 1s
tcp port 80 => corrupt 1.5%, out
ip6 and tcp port 8080 => delay 1500ms if syn
udp port 53 => accept
EOF
"$FL" check --rules "$T/good.rules" >"$T/canon1" 2>"$T/err" || fail "check of a good file failed: $(cat "$T/err")"
[ "$(wc -l <"$T/canon1")" -eq 8 ] || fail "check printed $(wc -l <"$T/canon1") rules, expected 8"
log "canonical form:"
sed 's/^/    /' "$T/canon1" >&2
grep -qx 'udp dst port 5000 => drop 30%' "$T/canon1" || fail "canonical form of line 3 unexpected"
grep -qx 'udp dst port 5001 => duplicate 50%, in' "$T/canon1" || fail "canonical form of line 4 unexpected"
"$FL" check --rules "$T/canon1" >"$T/canon2" 2>"$T/err" || fail "check of its own output failed: $(cat "$T/err")"
cmp -s "$T/canon1" "$T/canon2" || { diff "$T/canon1" "$T/canon2" >&2; fail "canonical form does not round-trip"; }
# Each canonical line as a --rule gives the same line back.
args=()
while IFS= read -r l; do args+=(--rule "$l"); done <"$T/canon1"
"$FL" check "${args[@]}" >"$T/canon3" 2>"$T/err" || fail "check --rule ... failed: $(cat "$T/err")"
cmp -s "$T/canon1" "$T/canon3" || { diff "$T/canon1" "$T/canon3" >&2; fail "canonical lines as --rule differ"; }
echo ok

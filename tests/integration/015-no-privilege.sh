#!/usr/bin/env bash
# Without root/CAP_NET_ADMIN faultline says so in one line, exits non-zero
# and installs nothing; the same for a missing iptables.
. "$(dirname "$0")/lib.sh"
make_pair
ip netns exec "$NS_B" iptables-save | sed '/^#/d' >"$T/before"
rc=0
ip netns exec "$NS_B" setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$FL" run --rule 'udp => drop' --seed 1 >"$T/out" 2>"$T/err" || rc=$?
log "as nobody: exit $rc: $(cat "$T/err")"
[ $rc -ne 0 ] || fail "ran without privileges"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "expected one line on stderr"
grep -q 'root or CAP_NET_ADMIN' "$T/err" || fail "the message does not say what is missing"
ip netns exec "$NS_B" iptables-save | sed '/^#/d' >"$T/after"
cmp -s "$T/before" "$T/after" || fail "iptables changed"
# No iptables on PATH.
rc=0
PATH=/nonexistent "$FL" run --netns "$NS_B" --rule 'udp => drop' --seed 1 >"$T/out" 2>"$T/err" || rc=$?
log "without iptables: exit $rc: $(cat "$T/err")"
[ $rc -ne 0 ] || fail "ran without iptables"
[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q 'install iptables' "$T/err" || fail "unclear message"
echo ok

#!/usr/bin/env bash
# 'faultline cleanup NAME' cleans namespace NAME, as 'cleanup --netns NAME'
# does, and nothing else: run from another namespace that also has a chain
# left by a kill -9, it leaves that one, and the host, byte for byte as
# they were. A NAME that does not exist is one line and exit 1.
. "$(dirname "$0")/lib.sh"
ip netns add "$NS_A"
ip netns add "$NS_B"
for ns in $NS_A $NS_B; do ip -n "$ns" link set lo up; done

# iptables state without counters and timestamps: "host" or a namespace.
ipt_state() {
	local run=()
	[ "$1" = host ] || run=(ip netns exec "$1")
	"${run[@]}" iptables-save | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'
	"${run[@]}" ip6tables-save | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'
}

# A chain left behind in each namespace, as a kill -9 leaves it.
for ns in $NS_A $NS_B; do
	fl_start "$ns" --rule 'udp port 9 => drop' --seed 1
	kill -9 "$FL_PID"
	wait "$FL_PID" 2>/dev/null || true
	FL_PID=
	ipt_state "$ns" >"$T/state"
	grep -q FAULTLINE "$T/state" || fail "no chain left in $ns after kill -9"
done
ipt_state host >"$T/host.before"
ipt_state "$NS_A" >"$T/a.before"

# A namespace that does not exist: one line, exit 1, nothing touched.
rc=0
ip netns exec "$NS_A" "$FL" cleanup "fl-none-$ID" >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "cleanup of a missing namespace: exit $rc"
[ "$(cat "$T/err")" = "faultline: network namespace 'fl-none-$ID' does not exist (see 'ip netns list')" ] ||
	fail "cleanup of a missing namespace said '$(cat "$T/err")'"
ipt_state "$NS_A" | cmp -s - "$T/a.before" || fail "cleanup of a missing namespace changed $NS_A"

# cleanup NAME, started in A: B is clean, A and the host are as they were.
ip netns exec "$NS_A" "$FL" cleanup "$NS_B" >"$T/out" 2>"$T/err" || fail "cleanup $NS_B: $(cat "$T/err")"
log "cleanup $NS_B: $(cat "$T/err")"
grep -Eq '^faultline: removed [1-9][0-9]* chains?( \((nf_tables|legacy|nf_tables: [0-9]+, legacy: [0-9]+)\))?$' "$T/err" || fail "cleanup said '$(cat "$T/err")'"
no_chain_left "$NS_B"
ipt_state "$NS_A" | cmp -s - "$T/a.before" || fail "cleanup $NS_B changed $NS_A, where it was started"
ipt_state host | cmp -s - "$T/host.before" || fail "cleanup $NS_B changed the host's iptables"

# And --netns, the same thing spelled out, cleans A.
"$FL" cleanup --netns "$NS_A" 2>"$T/err" || fail "cleanup --netns $NS_A: $(cat "$T/err")"
no_chain_left "$NS_A"
ipt_state host | cmp -s - "$T/host.before" || fail "cleanup --netns $NS_A changed the host's iptables"
echo ok

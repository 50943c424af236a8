#!/usr/bin/env bash
# Started with CAP_NET_ADMIN alone, as in a container run with --cap-drop ALL
# --cap-add NET_ADMIN (emulated with setpriv inside the namespace): rules
# that need no raw socket work, and the chain is removed at exit; a
# duplicate rule is refused in one line naming the rule and CAP_NET_RAW,
# leaving iptables as it was, and so is one added later by `faultline ctl`.
. "$(dirname "$0")/lib.sh"
make_pair
ip netns exec "$NS_B" iptables-save | sed '/^#/d' >"$T/before"
ip netns exec "$NS_B" ip6tables-save | sed '/^#/d' >>"$T/before"
only_net_admin() {
	exec ip netns exec "$NS_B" setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all,+net_admin -- "$@"
}

rc=0
(only_net_admin "$FL" run --rule 'udp => delay 1ms' --rule 'udp dst port 5000 => duplicate' \
	--seed 1) >"$T/out" 2>"$T/err" || rc=$?
log "duplicate rule, CAP_NET_ADMIN only: exit $rc: $(cat "$T/err")"
[ $rc -eq 1 ] || fail "exit $rc, expected 1"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "expected one line on stderr"
grep -q -- "--rule 2:1: 'duplicate' of rule rule-2 sends .*raw sockets.*(needs CAP_NET_RAW)" "$T/err" || fail "unclear message"

# No rule needs raw sockets: it runs, delays, and cleans up after itself.
udp_recv "$NS_B" 5000 1000 100
# The function execs, so FL_PID is faultline's own (ip netns exec and setpriv exec too).
only_net_admin "$FL" run --rule 'udp dst port 5000 => delay 100ms' --seed 1 >"$T/fl.out" 2>"$T/fl.err" &
FL_PID=$!
for _ in $(seq 1 100); do
	grep -q 'faultline: running' "$T/fl.err" && break
	kill -0 "$FL_PID" 2>/dev/null || fail "did not start: $(cat "$T/fl.err")"
	sleep 0.05
done
rc=0
"$FL" ctl add 'udp => duplicate' 2>"$T/ctl.err" || rc=$?
[ $rc -eq 1 ] && grep -q 'raw sockets.*lacks CAP_NET_RAW' "$T/ctl.err" || fail "ctl add duplicate: exit $rc: $(cat "$T/ctl.err")"
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 100 1000
udp_recv_wait
fl_stop TERM
d=$(json "$T/fl.out" 'd["rules"][0]["delayed"]')
log "CAP_NET_ADMIN only: received $(json "$T/recv.json" 'd["unique"]') of 100, $d delayed"
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 100 ] || fail "datagrams lost"
[ "$d" -eq 100 ] || fail "delayed $d of 100"
ip netns exec "$NS_B" iptables-save | sed '/^#/d' >"$T/after"
ip netns exec "$NS_B" ip6tables-save | sed '/^#/d' >>"$T/after"
grep -q FAULTLINE "$T/after" && fail "chain left behind"
echo ok

#!/usr/bin/env bash
# 'faultline cleanup' removes stale chains and keeps the chain of a running
# faultline (its queue is bound), saying whose it is, with exit 1: removing
# it would silently cut that run off its packets. Its control socket stays
# too: a process answers on it.
. "$(dirname "$0")/lib.sh"
make_pair

fl_start "$NS_B" --queue 4242 --rule 'udp dst port 5000 => delay 10ms'
# A stale chain, as a kill -9'd run on queue 11 would leave it, in both families.
for ipt in iptables ip6tables; do
	ip netns exec "$NS_B" $ipt -t mangle -N FAULTLINE-11
	ip netns exec "$NS_B" $ipt -t mangle -A FAULTLINE-11 -j NFQUEUE --queue-num 11 --queue-bypass
	ip netns exec "$NS_B" $ipt -t mangle -I OUTPUT 1 -m comment --comment faultline -j FAULTLINE-11
done
rc=0
"$FL" cleanup --netns "$NS_B" 2>"$T/cleanup.err" || rc=$?
log "cleanup: exit $rc: $(tr '\n' ' ' <"$T/cleanup.err")"
[ $rc -eq 1 ] || fail "cleanup exited $rc, expected 1"
grep -q 'removed 2 chains' "$T/cleanup.err" || fail "the stale chains were not reported removed"
grep -q "kept 2 chains of a running faultline: FAULTLINE-4242, whose queue 4242 is held by pid $FL_PID (faultline)" "$T/cleanup.err" ||
	fail "cleanup does not name the running faultline"
SOCK=/run/faultline/$NS_B.queue-4242.sock
grep -q "kept $SOCK: a running faultline listens on it" "$T/cleanup.err" || fail "cleanup does not report the live control socket"
[ -S "$SOCK" ] || fail "cleanup removed the running faultline's control socket"
for ipt in iptables ip6tables; do
	ip netns exec "$NS_B" $ipt-save >"$T/save"
	grep -q FAULTLINE-11 "$T/save" && fail "$ipt: the stale chain stayed"
	grep -q '^-A OUTPUT .*-j FAULTLINE-4242$' "$T/save" || fail "$ipt: the running faultline's chain went"
done
# The running faultline still gets every datagram.
udp_recv "$NS_B" 5000 500 20
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 20 1000
udp_recv_wait
fl_stop
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 20 ] || fail "datagrams lost"
[ "$(json "$T/fl.out" 'd["rules"][0]["delayed"]')" -eq 20 ] || fail "the run did not delay all 20 after cleanup"
no_chain_left "$NS_B"
echo ok

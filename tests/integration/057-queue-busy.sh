#!/usr/bin/env bash
# A run on a queue that is already bound says who holds it, not "needs root":
# another faultline in the namespace (with its pid), or another program
# (with its pid and name). The running faultline is not disturbed.
. "$(dirname "$0")/lib.sh"
make_pair

fl_start "$NS_B" --queue 4242 --rule 'udp dst port 5000 => delay 10ms'
rc=0
"$FL" run --netns "$NS_B" --queue 4242 --rule 'udp => drop' >"$T/second.out" 2>"$T/second.err" || rc=$?
log "same queue: exit $rc: $(tail -1 "$T/second.err")"
[ $rc -eq 1 ] || fail "second run on queue 4242 exited $rc, expected 1"
grep -q "cannot bind NFQUEUE queue 4242: a faultline already runs in this network namespace and holds it: pid $FL_PID (faultline)" "$T/second.err" ||
	fail "the message does not name the faultline holding the queue"
grep -q 'CAP_NET_ADMIN' "$T/second.err" && fail "the message blames privileges"
# The first run's chain is intact and it still works.
ip netns exec "$NS_B" iptables-save | grep -q '^-A FAULTLINE-4242 -j NFQUEUE' || fail "the first run's chain is gone"
udp_recv "$NS_B" 5000 500 20
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 20 1000
udp_recv_wait
fl_stop
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 20 ] || fail "datagrams lost"
[ "$(json "$T/fl.out" 'd["rules"][0]["delayed"]')" -eq 20 ] || fail "the first run did not delay all 20"

# Another program on the queue: named by pid and process name.
ip netns exec "$NS_B" "$FL_BUILD/nfq_accept" -q 4243 2>"$T/nfq.err" &
NFQ=$!
PIDS+=("$NFQ")
for _ in $(seq 1 100); do grep -q running "$T/nfq.err" 2>/dev/null && break; sleep 0.05; done
rc=0
"$FL" run --netns "$NS_B" --queue 4243 --rule 'udp => drop' >"$T/third.out" 2>"$T/third.err" || rc=$?
log "queue of nfq_accept: exit $rc: $(tail -1 "$T/third.err")"
[ $rc -eq 1 ] || fail "run on nfq_accept's queue exited $rc, expected 1"
grep -q "cannot bind NFQUEUE queue 4243: another program holds it: pid $NFQ (nfq_accept)" "$T/third.err" ||
	fail "the message does not name nfq_accept"
no_chain_left "$NS_B"
echo ok

#!/usr/bin/env bash
# Only what a rule can match leaves the kernel. With 'udp dst port 5000 =>
# drop', datagrams to port 5001 over IPv4 and IPv6 all arrive and are never
# queued: the queue's id sequence (/proc/net/netfilter/nfnetlink_queue) and
# faultline's packet counter both count exactly the datagrams to 5000, and
# every one of those is dropped. The jumps to the chain carry the rule's
# program in iptables and ip6tables, and the counters say "filtered".
. "$(dirname "$0")/lib.sh"
make_pair
fl_start "$NS_B" --no-control --rule 'udp dst port 5000 => drop' --seed 1
# The kernel's count of packets it queued to faultline's queue (4242).
queued() { ip netns exec "$NS_B" awk '$1 == 4242 { print $8 }' /proc/net/netfilter/nfnetlink_queue; }
for save in iptables-save ip6tables-save; do
	ip netns exec "$NS_B" $save -t mangle >"$T/save"
	[ "$(grep -c -- '-m bpf --bytecode .* -j FAULTLINE-4242' "$T/save")" -eq 2 ] ||
		fail "$save: not one bpf jump on each of PREROUTING and OUTPUT: $(grep FAULTLINE "$T/save")"
	! grep -E -- '-A (PREROUTING|OUTPUT) .*-j FAULTLINE' "$T/save" | grep -qv -- '-m bpf' ||
		fail "$save: a jump without a program"
done
before=$(queued)
for dst in 10.99.0.2 fd99::2; do
	udp_recv "$NS_B" 5001 300 100
	ip netns exec "$NS_A" "$UDPSEQ" send "$dst" 5001 100 100
	udp_recv_wait
	[ "$(json "$T/recv.json" 'd["unique"]')" -eq 100 ] || fail "$dst: $(json "$T/recv.json" 'd["unique"]') of 100 to 5001 arrived"
	ip netns exec "$NS_A" "$UDPSEQ" send "$dst" 5000 20 100
done
after=$(queued)
fl_stats
packets=$(json "$T/fl.out" 'd["packets"]')
log "kernel queued $((after - before)), faultline saw $packets, dropped $(json "$T/fl.out" 'd["dropped"]')"
[ $((after - before)) -eq 40 ] || fail "the kernel queued $((after - before)) packets, not the 40 to port 5000"
[ "$packets" -eq 40 ] || fail "faultline saw $packets packets, not 40"
[ "$(json "$T/fl.out" 'd["rules"][0]["dropped"]')" -eq 40 ] || fail "not every datagram to 5000 dropped"
[ "$(json "$T/fl.out" 'd["queue_scope"]')" = filtered ] || fail "queue_scope $(json "$T/fl.out" 'd["queue_scope"]')"
[ "$(json "$T/fl.out" 'd["queue_hooks"]')" = "{'in': 'filtered', 'out': 'filtered', 'fwd': 'none'}" ] ||
	fail "queue_hooks $(json "$T/fl.out" 'd["queue_hooks"]')"
fl_stop
no_chain_left "$NS_B"
echo ok

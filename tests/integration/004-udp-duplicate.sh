#!/usr/bin/env bash
# duplicate: the receiver gets every datagram twice, with faultline on the
# receiving side (INPUT: copies are looped back locally) and on the sending
# side (OUTPUT: copies go out on the wire). Also 'duplicate 2 50%'.
. "$(dirname "$0")/lib.sh"
make_pair
for side in "$NS_B" "$NS_A"; do
	udp_recv "$NS_B" 5000 800
	fl_start "$side" --rule 'udp dst port 5000 => duplicate'
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 200 500
	udp_recv_wait
	fl_stop
	r=$(json "$T/recv.json" 'd["received"]')
	u=$(json "$T/recv.json" 'd["unique"]')
	log "faultline in $side: received $r datagrams, $u distinct"
	[ "$u" -eq 200 ] && [ "$r" -eq 400 ] || fail "expected 200 distinct, 400 in all (faultline in $side)"
	[ "$(json "$T/fl.out" 'd["duplicates_sent"]')" -eq 200 ] || fail "duplicates_sent"
	# Copies are re-sent whole: the rule makes faultline copy whole packets.
	[ "$(json "$T/fl.out" 'd["copy_range"]')" -eq 65535 ] || fail "copy range not whole for duplicate"
done
# IPv6, sender side.
udp_recv "$NS_B" 5000 800
fl_start "$NS_A" --rule 'ip6 and udp dst port 5000 => duplicate'
ip netns exec "$NS_A" "$UDPSEQ" send fd99::2 5000 100 500
udp_recv_wait
fl_stop
[ "$(json "$T/recv.json" 'd["received"]')" -eq 200 ] || fail "IPv6 duplicate"
# Two copies with probability 50 %: each datagram arrives once or three times.
udp_recv "$NS_B" 5000 800
fl_start "$NS_B" --rule 'udp dst port 5000 => duplicate 2 50%' --seed 11
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 400 300
udp_recv_wait
fl_stop
dup=$(json "$T/fl.out" 'd["rules"][0]["duplicated"]')
r=$(json "$T/recv.json" 'd["received"]')
log "duplicate 2 50%: $dup datagrams duplicated, $r received"
[ $((400 + 2 * dup)) -eq "$r" ] || fail "received $r != 400 + 2 x $dup"
[ "$dup" -ge 140 ] && [ "$dup" -le 260 ] || fail "duplicated $dup of 400, far from 50 %"
echo ok

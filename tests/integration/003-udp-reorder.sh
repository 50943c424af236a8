#!/usr/bin/env bash
# udp dst port 5000 => reorder 4: every datagram arrives, and not in send order.
. "$(dirname "$0")/lib.sh"
make_pair
udp_recv "$NS_B" 5000 1000 400
fl_start "$NS_B" --rule 'udp dst port 5000 => reorder 4' --seed 3
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 400 200
udp_recv_wait
fl_stop
uniq=$(json "$T/recv.json" 'd["unique"]')
ooo=$(json "$T/recv.json" 'd["out_of_order"]')
sorted=$(json "$T/recv.json" 'd["order"] == sorted(d["order"])')
log "unique $uniq/400, out-of-order arrivals $ooo"
[ "$uniq" -eq 400 ] || fail "lost datagrams: $uniq of 400"
[ "$(json "$T/recv.json" 'd["received"]')" -eq 400 ] || fail "extra datagrams"
[ "$sorted" = False ] || fail "datagrams arrived in send order"
# Groups of 4 leave as a permutation of themselves: no datagram moves to another group.
[ "$(json "$T/recv.json" 'all(sorted(d["order"][i:i+4]) == list(range(i, i+4)) for i in range(0, 400, 4))')" = True ] ||
	fail "a datagram left its group of 4"
[ "$(json "$T/fl.out" 'd["rules"][0]["reordered"]')" -eq 400 ] || fail "counter"
no_chain_left "$NS_B"
echo ok

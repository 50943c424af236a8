#!/usr/bin/env bash
# udp dst port 5000 => delay 600s: 1000 datagrams are held; SIGTERM long before
# the delay is up releases every one of them at once, faultline exits 0,
# counts them as released early and leaves no chain behind. Before the
# SIGTERM, none had reached the receiving socket. The delay is far longer
# than any test runs, so no clock decides the outcome, however loaded the
# machine (a 2 s delay once made this a race against the SIGTERM).
. "$(dirname "$0")/lib.sh"
make_pair

# UDP datagrams delivered to sockets in namespace $1 (absolute, nstat history untouched).
udp_in() { ip netns exec "$1" nstat -asz UdpInDatagrams | awk '$1 == "UdpInDatagrams" {print $2}'; }
rm -f "$T/recv.json"
# Fewer than 1000 arrived: the receiver waits up to 120 s for the rest.
udp_recv "$NS_B" 5000 1500 1000 120000
fl_start "$NS_B" --rule 'udp dst port 5000 => delay 600s' --seed 1
in0=$(udp_in "$NS_B")
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 1000 20
# Wait until faultline has read all 1000 from its queue.
for _ in $(seq 1 200); do
	fl_stats
	[ "$(json "$T/fl.out" 'd["held_now"]')" -eq 1000 ] && break
	sleep 0.05
done
in1=$(udp_in "$NS_B")
cp "$T/fl.out" "$T/fl.before"
fl_stop TERM
read -r held released <<<"$(json "$T/fl.before" '"%d %d" % (d["held_now"], d["released"])')"
log "before SIGTERM: held_now $held, released $released, UdpInDatagrams +$((in1 - in0))"
udp_recv_wait
[ "$held" -eq 1000 ] || fail "held_now $held before SIGTERM, expected 1000"
[ "$released" -eq 0 ] || fail "$released datagrams released before SIGTERM"
[ "$in1" -eq "$in0" ] || fail "$((in1 - in0)) datagrams reached a socket in $NS_B before SIGTERM"

uniq=$(json "$T/recv.json" 'd["unique"]')
log "after SIGTERM: receiver got $uniq distinct datagrams ($(json "$T/recv.json" 'd["received"]') in all)"
[ "$uniq" -eq 1000 ] || fail "receiver got $uniq of 1000 held datagrams"
[ "$(json "$T/recv.json" 'd["received"]')" -eq 1000 ] || fail "duplicates after release"
[ "$(json "$T/fl.out" 'd["held"]')" -eq 1000 ] || fail "final held != 1000"
[ "$(json "$T/fl.out" 'd["released_early"]')" -eq 1000 ] || fail "final released_early != 1000"
[ "$(json "$T/fl.out" 'd["rules"][0]["released_early"]')" -eq 1000 ] || fail "rule released_early != 1000"
[ "$(json "$T/fl.out" 'd["held_now"]')" -eq 0 ] || fail "final held_now != 0"
no_chain_left "$NS_B"
echo ok

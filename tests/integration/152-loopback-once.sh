#!/usr/bin/env bash
# A loopback packet passes OUTPUT and then PREROUTING; faultline takes it
# once, on its way out. With the kernel-side filter (jumps with the rule's
# program) and with --queue-all (plain jumps), on IPv4 and IPv6: a
# 'drop 30%' rule matches each loopback datagram once, what arrives and what
# was dropped add up, and (filtered) faultline saw no other packet. Datagrams from
# the other end of a veth pair are still taken, once, at PREROUTING.
. "$(dirname "$0")/lib.sh"
make_pair
ip netns exec "$NS_B" ip -6 addr add ::1/128 dev lo 2>/dev/null || true

once() {
	local what=$1 from=$2 to=$3 n=$4
	shift 4
	udp_recv "$NS_B" 5000 1000 "$n" 2000
	fl_start "$NS_B" --rule 'udp dst port 5000 => drop 30%' --seed 7 "$@"
	ip netns exec "$from" "$UDPSEQ" send "$to" 5000 "$n" 50
	udp_recv_wait
	fl_stop
	local got matched dropped packets
	got=$(json "$T/recv.json" 'd["unique"]')
	matched=$(json "$T/fl.out" 'd["rules"][0]["matched"]')
	dropped=$(json "$T/fl.out" 'd["rules"][0]["dropped"]')
	packets=$(json "$T/fl.out" 'd["packets"]')
	log "$what: sent $n, received $got, matched $matched, dropped $dropped, faultline saw $packets"
	[ "$matched" -eq "$n" ] || fail "$what: the rule matched $matched of $n datagrams"
	# --queue-all also queues what else the namespace sends (IPv6 neighbour discovery).
	[ $# -gt 0 ] || [ "$packets" -eq "$n" ] || fail "$what: faultline saw $packets packets for $n datagrams"
	[ "$dropped" -gt 0 ] && [ "$got" -gt 0 ] || fail "$what: dropped $dropped, received $got"
	[ $((got + dropped)) -eq "$n" ] || fail "$what: received $got + dropped $dropped != $n"
}

once "loopback IPv4" "$NS_B" 127.0.0.1 1000
once "loopback IPv6" "$NS_B" ::1 1000
once "loopback IPv4, --queue-all" "$NS_B" 127.0.0.1 1000 --queue-all
once "veth IPv4" "$NS_A" 10.99.0.2 1000
once "veth IPv4, --queue-all" "$NS_A" 10.99.0.2 1000 --queue-all
no_chain_left "$NS_B"
echo ok

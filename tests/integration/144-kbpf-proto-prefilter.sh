#!/usr/bin/env bash
# A jump tests its program's one IPv4 protocol natively before the bpf
# match: with 'udp dst port 5000 => drop', the IPv4 jumps of PREROUTING
# and OUTPUT read '-p udp -m bpf' (ip6tables': the program alone, as -p
# looks past IPv6 extension headers and libpcap does not), in the
# nf_tables and the legacy backend. Through them, every datagram to 5000
# is still queued and dropped, and datagrams to 5001 and pings arrive
# without being queued: the queue's id sequence and faultline's packet
# counter both count exactly the datagrams to 5000.
. "$(dirname "$0")/lib.sh"
make_pair
queued() { ip netns exec "$NS_B" awk '$1 == 4242 { print $8 }' /proc/net/netfilter/nfnetlink_queue; }
backends=(nft)
command -v iptables-legacy-save >/dev/null && backends+=(legacy)
for be in "${backends[@]}"; do
	fl_start "$NS_B" --no-control --iptables-backend "$be" --rule 'udp dst port 5000 => drop' --seed 1
	ip netns exec "$NS_B" "iptables-$be-save" -t mangle >"$T/save4"
	ip netns exec "$NS_B" "ip6tables-$be-save" -t mangle >"$T/save6"
	for hook in PREROUTING OUTPUT; do
		grep -qE -- "^-A $hook (! -i lo )?-p udp -m bpf --bytecode .* -j FAULTLINE-4242\$" "$T/save4" ||
			fail "$be: IPv4 $hook jump without '-p udp' before its program: $(grep -- "-A $hook" "$T/save4")"
		grep -qE -- "^-A $hook (! -i lo )?-m bpf --bytecode .* -j FAULTLINE-4242\$" "$T/save6" ||
			fail "$be: IPv6 $hook jump not the program alone: $(grep -- "-A $hook" "$T/save6")"
	done
	before=$(queued)
	udp_recv "$NS_B" 5001 300 50
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5001 50 100
	udp_recv_wait
	[ "$(json "$T/recv.json" 'd["unique"]')" -eq 50 ] || fail "$be: $(json "$T/recv.json" 'd["unique"]') of 50 to 5001 arrived"
	ip netns exec "$NS_A" ping -c 5 -i 0.05 -W 1 -q 10.99.0.2 >/dev/null || fail "$be: pings lost"
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 20 100
	after=$(queued)
	fl_stats
	packets=$(json "$T/fl.out" 'd["packets"]')
	log "$be: kernel queued $((after - before)), faultline saw $packets, dropped $(json "$T/fl.out" 'd["rules"][0]["dropped"]')"
	[ $((after - before)) -eq 20 ] || fail "$be: the kernel queued $((after - before)) packets, not the 20 to port 5000"
	[ "$packets" -eq 20 ] || fail "$be: faultline saw $packets packets, not 20"
	[ "$(json "$T/fl.out" 'd["rules"][0]["dropped"]')" -eq 20 ] || fail "$be: not every datagram to 5000 dropped"
	fl_stop
	no_chain_left "$NS_B"
done
echo ok

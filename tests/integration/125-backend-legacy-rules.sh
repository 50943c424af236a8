#!/usr/bin/env bash
# The namespace's rules are in the legacy backend (iptables-legacy, as a
# container or an older Docker makes them): faultline's chain goes there
# too (the start line and the counters say "legacy"), nothing of it in
# nf_tables, a delay works, and every datagram is queued exactly once (the
# queue's packet id sequence and the chain's NFQUEUE counter both say 20
# for 20 datagrams; a chain in each backend would make it 40). After
# SIGTERM every save output of both backends and both families is as before.
. "$(dirname "$0")/lib.sh"
command -v iptables-legacy-save >/dev/null && command -v iptables-nft-save >/dev/null ||
	{ echo "skip: needs both iptables backends"; exit 0; }
make_pair --no-ipv6

# Someone else's rules, legacy only: in filter, and in mangle (the legacy
# kernel keeps a table once made, so one faultline would make stays).
for ipt in iptables-legacy ip6tables-legacy; do
	ip netns exec "$NS_B" $ipt -A INPUT -p tcp --dport 9 -j ACCEPT
	ip netns exec "$NS_B" $ipt -t mangle -A PREROUTING -p udp --dport 7 -j ACCEPT
done
ipt_state >"$T/before"
# The packet ids the kernel gave queue $1 so far (nfnetlink_queue's id_sequence).
qseq() { ip netns exec "$NS_B" awk -v q="$1" '$1 == q { print $8 }' /proc/net/netfilter/nfnetlink_queue; }

fl_start "$NS_B" --queue 4251 --rule 'udp dst port 5000 => delay 20ms'
grep -q 'running (queue 4251, 1 rules, seed [0-9]*, iptables legacy' "$T/fl.err" ||
	fail "the start line does not say legacy: $(cat "$T/fl.err")"
for ipt in iptables ip6tables; do
	ip netns exec "$NS_B" $ipt-legacy-save | grep -q '^:FAULTLINE-4251 ' || fail "$ipt: no legacy chain"
	ip netns exec "$NS_B" $ipt-nft-save 2>/dev/null | grep -q FAULTLINE && fail "$ipt: a chain in nf_tables too"
done
seq0=$(qseq 4251)
udp_recv "$NS_B" 5000 300 20
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 20 1000
udp_recv_wait
seq1=$(qseq 4251)
queued=$(ip netns exec "$NS_B" iptables-legacy-save -c -t mangle |
	sed -n 's/^\[\([0-9]*\):[0-9]*\] -A FAULTLINE-4251 -j NFQUEUE .*/\1/p')
fl_stop
log "20 datagrams: queue ids $seq0 -> $seq1, the legacy chain's NFQUEUE rule counted $queued"
[ $((seq1 - seq0)) -eq 20 ] || fail "the queue took $((seq1 - seq0)) packets for 20 datagrams"
[ "$queued" = 20 ] || fail "the legacy chain queued '$queued' packets, expected 20"
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 20 ] || fail "datagrams lost"
[ "$(json "$T/fl.out" '(d["iptables_backend"], d["rules"][0]["delayed"])')" = "('legacy', 20)" ] ||
	fail "counters: $(json "$T/fl.out" '(d["iptables_backend"], d["rules"][0]["delayed"])'), expected legacy, 20 delayed"
ipt_state >"$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "the iptables of either backend differ from before"
echo ok

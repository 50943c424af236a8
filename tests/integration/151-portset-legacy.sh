#!/usr/bin/env bash
# Port sets with the legacy iptables backend (a container or host whose
# iptables is iptables-legacy): 200 'udp port N' rules become set jumps in
# the legacy tables, none in nf_tables; a datagram to a rule's port is
# queued and dropped, one to another port is not queued and arrives; SIGTERM
# leaves every save output (both backends, both families) and 'ipset save'
# as before.
. "$(dirname "$0")/lib.sh"
command -v iptables-legacy-restore >/dev/null && command -v iptables-nft-save >/dev/null ||
	{ echo "skip: needs both iptables backends"; exit 0; }
command -v ipset >/dev/null || fail "ipset is not installed (scripts/deps.sh)"
make_pair --no-ipv6
queued() { ip netns exec "$NS_B" awk '$1 == 4242 { print $8 }' /proc/net/netfilter/nfnetlink_queue; }
state() {
	for s in iptables-save ip6tables-save iptables-legacy-save ip6tables-legacy-save; do
		echo "--- $s"
		ip netns exec "$NS_B" $s 2>/dev/null | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
	done
	echo "--- ipset"
	ip netns exec "$NS_B" ipset save
}
# send PORT N: prints how many of N datagrams arrived and how many the kernel queued.
send() {
	local q0
	q0=$(queued)
	# 2 s for the first datagram: a dropped flow's receiver waits no longer.
	udp_recv "$NS_B" "$1" 300 "$2" 2000
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 "$1" "$2" 1000
	udp_recv_wait
	echo "$(json "$T/recv.json" 'd["unique"]') $(($(queued) - q0))"
}

# The legacy kernel keeps a table once used: make both exist before the snapshot.
for ipt in iptables ip6tables; do ip netns exec "$NS_B" $ipt-legacy -t mangle -S >/dev/null; done
state >"$T/before"
for i in $(seq 0 199); do echo "udp port $((20000 + 3 * i)) => drop"; done >"$T/rules"
fl_start "$NS_B" --iptables-backend legacy -f "$T/rules"
legacy=$(ip netns exec "$NS_B" iptables-legacy-save -t mangle | grep -c -- '-m set --match-set FAULTLINE-4242-0-' || true)
[ "$legacy" -eq 4 ] || fail "$legacy set jumps in the legacy tables, not 4"
ip netns exec "$NS_B" iptables-nft-save 2>/dev/null | grep -q FAULTLINE && fail "faultline in nf_tables too"
[ "$(ip netns exec "$NS_B" ipset list -n | grep -c '^FAULTLINE-4242-0-')" -eq 4 ] || fail "not 4 sets"
read -r got q <<<"$(send 20001 30)"
[ "$got" -eq 30 ] && [ "$q" -eq 0 ] || fail "port 20001, in no rule: $got of 30 arrived, $q queued"
read -r got q <<<"$(send 20597 30)"
[ "$got" -eq 0 ] && [ "$q" -eq 30 ] || fail "port 20597 (drop): $got of 30 arrived, $q queued"
fl_stop
state >"$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "the host differs after SIGTERM"
echo ok

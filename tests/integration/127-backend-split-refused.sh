#!/usr/bin/env bash
# Rules in both iptables backends: `run` refuses (exit 1) with a message
# that counts each and names --iptables-backend, touching nothing; with
# --iptables-backend nft, then legacy, it runs, its chain in that backend
# only (with nft, a delay applied to every datagram), and iptables are as
# before after each.
. "$(dirname "$0")/lib.sh"
command -v iptables-legacy-save >/dev/null && command -v iptables-nft-save >/dev/null ||
	{ echo "skip: needs both iptables backends"; exit 0; }
make_pair --no-ipv6

for ipt in iptables ip6tables; do
	for b in nft legacy; do
		ip netns exec "$NS_B" $ipt-$b -A INPUT -p tcp --dport 9 -j ACCEPT
		ip netns exec "$NS_B" $ipt-$b -t mangle -A PREROUTING -p udp --dport 7 -j ACCEPT
	done
done
ipt_state >"$T/before"

rc=0
"$FL" run --netns "$NS_B" --queue 4253 --rule 'udp => drop' >/dev/null 2>"$T/refused.err" || rc=$?
log "refused: $(cat "$T/refused.err")"
[ $rc -eq 1 ] || fail "run exited $rc beside rules in both backends"
grep -q '^faultline: both iptables backends hold rules in this network namespace (4 in nf_tables: iptables-nft-save; 4 in legacy: iptables-legacy-save)' "$T/refused.err" &&
	grep -q 'say which with --iptables-backend nft or --iptables-backend legacy' "$T/refused.err" ||
	fail "the refusal does not count both and name the option"
ipt_state >"$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "the refused run changed iptables"

for b in nft legacy; do
	other=$([ $b = nft ] && echo legacy || echo nft)
	fl_start "$NS_B" --queue 4253 --iptables-backend $b --rule 'udp dst port 5000 => delay 10ms'
	grep -q "iptables $b" "$T/fl.err" || fail "--iptables-backend $b: $(cat "$T/fl.err")"
	ip netns exec "$NS_B" iptables-$b-save 2>/dev/null | grep -q '^:FAULTLINE-4253 ' || fail "$b: no chain"
	ip netns exec "$NS_B" iptables-$other-save 2>/dev/null | grep -q FAULTLINE && fail "$b: a chain in $other too"
	# The delay itself on one of them (125 moves traffic through a legacy chain).
	if [ $b = nft ]; then
		udp_recv "$NS_B" 5000 300 10
		ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 10 1000
		udp_recv_wait
	fi
	fl_stop
	[ "$(json "$T/fl.out" '(d["iptables_backend"], d["rules"][0]["delayed"])')" = "('$b', $([ $b = nft ] && echo 10 || echo 0))" ] ||
		fail "$b: the counters say $(json "$T/fl.out" '(d["iptables_backend"], d["rules"][0]["delayed"])')"
	ipt_state >"$T/after"
	diff -u "$T/before" "$T/after" >&2 || fail "$b: iptables after the run differ from before"
done
log "--iptables-backend nft and legacy: each ran in its backend and left iptables as before"
echo ok

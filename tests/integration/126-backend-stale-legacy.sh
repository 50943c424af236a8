#!/usr/bin/env bash
# A stale chain in the legacy backend, left by a SIGKILLed run that used it,
# when the namespace has no rules of its own (so the next run picks the
# system's nf_tables): `cleanup` finds and removes it ("removed 2 chains
# (legacy)"), and so does the next run on the same queue, which then
# queues each datagram exactly once (the stale chain left in place would
# queue it a second time, to the same queue). Both backends' save outputs
# end as they began. A cleanup with only the nf_tables tools installed
# still works (nothing legacy to sweep is no error).
. "$(dirname "$0")/lib.sh"
command -v iptables-legacy-save >/dev/null && command -v iptables-nft-save >/dev/null &&
	iptables --version | grep -q nf_tables || { echo "skip: needs both backends, nf_tables the system's"; exit 0; }
make_pair --no-ipv6

# The legacy kernel keeps a table once made: make the mangle tables now, empty.
for ipt in iptables-legacy ip6tables-legacy; do ip netns exec "$NS_B" $ipt -t mangle -S >/dev/null; done
ipt_state >"$T/before"
qseq() { ip netns exec "$NS_B" awk -v q="$1" '$1 == q { print $8 }' /proc/net/netfilter/nfnetlink_queue; }
RULE='udp dst port 5000 => delay 20ms'
# kill_legacy_run: a run on the legacy backend, SIGKILLed; its chains stay, IPv4 and IPv6.
kill_legacy_run() {
	fl_start "$NS_B" --queue 4252 --iptables-backend legacy --rule "$RULE"
	grep -q 'iptables legacy' "$T/fl.err" || fail "--iptables-backend legacy: $(cat "$T/fl.err")"
	kill -9 "$FL_PID"
	wait "$FL_PID" 2>/dev/null || true
	FL_PID=
	for ipt in iptables ip6tables; do
		ip netns exec "$NS_B" $ipt-legacy-save | grep -q '^:FAULTLINE-4252 ' || fail "$ipt: no stale legacy chain"
	done
}

kill_legacy_run
"$FL" cleanup --netns "$NS_B" 2>"$T/cleanup.err" || fail "cleanup exited $?: $(cat "$T/cleanup.err")"
log "cleanup: $(head -1 "$T/cleanup.err")"
grep -q '^faultline: removed 2 chains (legacy)$' "$T/cleanup.err" || fail "cleanup: $(cat "$T/cleanup.err")"
ipt_state >"$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "cleanup left iptables unlike before"

kill_legacy_run
fl_start "$NS_B" --queue 4252 --rule "$RULE"
grep -q 'iptables nft' "$T/fl.err" || fail "with no rules, not the system's nf_tables: $(cat "$T/fl.err")"
for ipt in iptables ip6tables; do
	ip netns exec "$NS_B" $ipt-legacy-save | grep -q FAULTLINE && fail "$ipt: the stale legacy chain stayed"
	ip netns exec "$NS_B" $ipt-nft-save 2>/dev/null | grep -q "^:FAULTLINE-4252 " || fail "$ipt: no nf_tables chain"
done
seq0=$(qseq 4252)
udp_recv "$NS_B" 5000 300 20
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 20 1000
udp_recv_wait
seq1=$(qseq 4252)
fl_stop
log "next run: 20 datagrams, queue ids $seq0 -> $seq1"
[ $((seq1 - seq0)) -eq 20 ] || fail "the queue took $((seq1 - seq0)) packets for 20 datagrams"
[ "$(json "$T/fl.out" 'd["rules"][0]["delayed"]')" -eq 20 ] || fail "not every datagram was delayed once"
ipt_state >"$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "iptables after the run differ from before"

# A host with the nf_tables tools only: the legacy tables are there, their
# tools are not; cleanup has nothing of theirs to sweep, and that is no error.
mkdir "$T/nft-only"
for t in iptables ip6tables; do
	for k in save restore; do ln -s "$(command -v $t-nft-$k)" "$T/nft-only/$t-$k"; done
done
rc=0
PATH=$T/nft-only "$FL" cleanup --netns "$NS_B" 2>"$T/cleanup.err" || rc=$?
[ $rc -eq 0 ] && grep -q '^faultline: removed 0 chains$' "$T/cleanup.err" ||
	fail "cleanup without the legacy tools: exit $rc: $(cat "$T/cleanup.err")"
echo ok

#!/usr/bin/env bash
# Both iptables backends: a faultline whose iptables-restore is the legacy
# one (as in a container that uses iptables-legacy) installs its chains
# there, where iptables-nft-save does not see them. A run with the nf_tables
# backend still refuses to start beside it, and after a kill -9 a cleanup
# with the nf_tables backend finds and removes the legacy chains, leaving
# every save output (nf_tables and legacy, IPv4 and IPv6) as before.
. "$(dirname "$0")/lib.sh"
command -v iptables-legacy-restore >/dev/null && command -v iptables-nft-save >/dev/null ||
	{ echo "skip: needs both iptables backends"; exit 0; }
make_pair

# The legacy kernel keeps a table once used: make it exist, with a rule of ours.
for ipt in iptables ip6tables; do
	ip netns exec "$NS_B" $ipt-legacy -t mangle -A PREROUTING -p udp --dport 7 -j ACCEPT
done
ipt_state() {
	for s in iptables-save ip6tables-save iptables-legacy-save ip6tables-legacy-save; do
		echo "--- $s"
		ip netns exec "$NS_B" $s 2>/dev/null | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
	done
}
ipt_state >"$T/before"

mkdir "$T/legacy"
for t in iptables ip6tables; do
	for k in save restore; do ln -s "$(command -v $t-legacy-$k)" "$T/legacy/$t-$k"; done
done
OLD_PATH=$PATH
export PATH=$T/legacy:$PATH
fl_start "$NS_B" --queue 4243 --rule 'udp dst port 5000 => delay 10ms'
export PATH=$OLD_PATH
ip netns exec "$NS_B" iptables-legacy-save | grep -q '^:FAULTLINE-4243 ' || fail "no legacy chain"
ip netns exec "$NS_B" iptables-nft-save 2>/dev/null | grep -q FAULTLINE && fail "a chain in nf_tables too"

"$FL" run --netns "$NS_B" --queue 4244 --rule 'udp => drop' >/dev/null 2>"$T/second.err" &
SECOND=$!
PIDS+=("$SECOND")
for _ in $(seq 1 100); do
	kill -0 "$SECOND" 2>/dev/null || break
	grep -q 'faultline: running' "$T/second.err" && fail "a run started beside the legacy one"
	sleep 0.1
done
rc=0
wait "$SECOND" || rc=$?
[ $rc -eq 1 ] && grep -q "chain FAULTLINE-4243 sends its packets to queue 4243, held by pid $FL_PID" "$T/second.err" ||
	fail "the nf_tables run did not refuse naming the legacy one: $(cat "$T/second.err")"
log "a run with nf_tables refuses beside the legacy one"

kill -9 "$FL_PID"
wait "$FL_PID" 2>/dev/null || true
FL_PID=
"$FL" cleanup --netns "$NS_B" 2>"$T/cleanup.err" || fail "cleanup exited $?: $(cat "$T/cleanup.err")"
log "cleanup with nf_tables: $(cat "$T/cleanup.err")"
grep -q 'removed 2 chains' "$T/cleanup.err" || fail "cleanup did not remove the legacy chains"
ipt_state >"$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "iptables (nf_tables or legacy) differ from before"
echo ok

#!/usr/bin/env bash
# kill -9 mid-stream: the chain stays behind, but its NFQUEUE rule has
# --queue-bypass, so with nobody bound to the queue traffic flows again.
# 'faultline cleanup' then restores iptables/ip6tables exactly, and a new
# 'faultline run' after a crash replaces the stale chain instead of adding
# a second jump.
. "$(dirname "$0")/lib.sh"
make_pair

# Rules of our own, so the filter and mangle tables exist before faultline
# touches them (iptables-nft creates a table on first use and leaves it,
# empty, behind) and we see that they survive.
for ipt in iptables ip6tables; do
	ip netns exec "$NS_B" $ipt -N MYCHAIN
	ip netns exec "$NS_B" $ipt -A MYCHAIN -p tcp --dport 7 -j ACCEPT
	ip netns exec "$NS_B" $ipt -A INPUT -p udp --dport 7 -j MYCHAIN
	ip netns exec "$NS_B" $ipt -A OUTPUT -p udp --dport 9 -j ACCEPT
	ip netns exec "$NS_B" $ipt -t mangle -A PREROUTING -p udp --dport 7 -j ACCEPT
	ip netns exec "$NS_B" $ipt -t mangle -A OUTPUT -p udp --dport 9 -j ACCEPT
done
# iptables-save of $NS_B without comment lines and packet counters.
ipt_state() {
	ip netns exec "$NS_B" iptables-save | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'
	echo "--- ip6"
	ip netns exec "$NS_B" ip6tables-save | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'
}
ipt_state >"$T/ipt.before"

rm -f "$T/recv.json"  # lib.sh's udp_recv would take the old file's "ready" for the new receiver
udp_recv "$NS_B" 5000 1500
fl_start "$NS_B" --rule 'udp dst port 5000 => delay 10ms' --seed 2
# 3000 datagrams, >= 1 ms apart: seq N leaves no earlier than N ms after the start.
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 3000 1000 &
SEND_PID=$!
PIDS+=("$SEND_PID")
sleep 1
kill -9 "$FL_PID"
wait "$FL_PID" 2>/dev/null || true
FL_PID=
log "faultline killed with SIGKILL"
wait "$SEND_PID" || fail "sender failed"
udp_recv_wait

for ipt in iptables ip6tables; do
	ip netns exec "$NS_B" $ipt-save >"$T/save"
	grep -q '^:FAULTLINE-4242 ' "$T/save" || fail "$ipt: expected the chain to stay after kill -9"
done

uniq=$(json "$T/recv.json" 'd["unique"]')
maxseq=$(json "$T/recv.json" 'max(d["order"] or [-1])')
early=$(json "$T/recv.json" 'len({s for s in d["order"] if s < 500})')
late=$(json "$T/recv.json" 'len({s for s in d["order"] if s >= 2000})')
log "received $uniq distinct of 3000, highest seq $maxseq; seq 0-499: $early, seq 2000-2999: $late"
# Before the kill faultline delayed and passed them (the first 500 left within
# its first second of life unless the machine is very slow, so ask for most).
[ "$early" -ge 400 ] || fail "only $early of seq 0-499 arrived while faultline ran"
# Seq >= 2000 left >= 2 s after the start, 1 s after the kill: all must pass.
[ "$maxseq" -eq 2999 ] || fail "highest seq received $maxseq, expected 2999"
[ "$late" -eq 1000 ] || fail "only $late of the 1000 datagrams sent after the kill arrived"

"$FL" cleanup --netns "$NS_B" 2>"$T/cleanup.err" || fail "faultline cleanup exited $?"
log "$(cat "$T/cleanup.err")"
ipt_state >"$T/ipt.after"
diff -u "$T/ipt.before" "$T/ipt.after" >&2 || fail "iptables state after cleanup differs from before"
# Cleanup again: nothing left to remove, still exit 0.
"$FL" cleanup --netns "$NS_B" 2>"$T/cleanup.err" || fail "second cleanup exited $?"
grep -q 'removed 0 chains' "$T/cleanup.err" || fail "second cleanup: $(cat "$T/cleanup.err")"

# A run after a crash: the stale chain is replaced, not doubled.
fl_start "$NS_B" --rule 'udp dst port 5000 => delay 10ms'
kill -9 "$FL_PID"
wait "$FL_PID" 2>/dev/null || true
FL_PID=
fl_start "$NS_B" --rule 'udp dst port 5000 => delay 10ms'
for ipt in iptables ip6tables; do
	ip netns exec "$NS_B" $ipt-save >"$T/save"
	chains=$(grep -c '^:FAULTLINE' "$T/save" || true)
	jin=$(grep -c '^-A PREROUTING .*-j FAULTLINE-4242$' "$T/save" || true)
	jout=$(grep -c '^-A OUTPUT .*-j FAULTLINE-4242$' "$T/save" || true)
	log "$ipt after a restart over a stale chain: $chains FAULTLINE chain(s), jumps PREROUTING $jin OUTPUT $jout"
	[ "$chains" -eq 1 ] && grep -q '^:FAULTLINE-4242 ' "$T/save" || fail "$ipt: expected exactly one chain FAULTLINE-4242"
	[ "$jin" -eq 1 ] && [ "$jout" -eq 1 ] || fail "$ipt: expected one jump from PREROUTING and one from OUTPUT"
done
# And it works: datagrams pass through it.
rm -f "$T/recv.json"  # lib.sh's udp_recv would take the old file's "ready" for the new receiver
udp_recv "$NS_B" 5000 800 100
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 100 200
udp_recv_wait
fl_stop
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 100 ] || fail "restarted faultline lost datagrams"
[ "$(json "$T/fl.out" 'd["rules"][0]["delayed"]')" -eq 100 ] || fail "restarted faultline delayed != 100"
ipt_state >"$T/ipt.after"
diff -u "$T/ipt.before" "$T/ipt.after" >&2 || fail "iptables state after the restarted run differs from before"
no_chain_left "$NS_B"
echo ok

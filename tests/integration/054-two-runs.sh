#!/usr/bin/env bash
# Two runs in one namespace: the second, on another queue, refuses and names
# the first (its chain, queue and pid), since its chain would hide the
# first's packets (an NFQUEUE verdict ends the hook). The first keeps every
# packet. A stale chain of a kill -9'd run on another queue does not block:
# the next run removes it and takes the packets.
. "$(dirname "$0")/lib.sh"
make_pair

fl_start "$NS_B" --queue 11 --rule 'icmp => delay 50ms, in' --seed 1
FIRST=$FL_PID
"$FL" run --netns "$NS_B" --queue 12 --rule 'icmp => delay 200ms, in' >"$T/second.out" 2>"$T/second.err" &
SECOND=$!
PIDS+=("$SECOND")
# Bounded: a second run that starts (the old, silent behaviour) would not exit.
for _ in $(seq 1 100); do
	kill -0 "$SECOND" 2>/dev/null || break
	grep -q 'faultline: running' "$T/second.err" && fail "the second run started: $(cat "$T/second.err")"
	sleep 0.1
done
rc=0
wait "$SECOND" || rc=$?
log "second run: exit $rc: $(tail -1 "$T/second.err")"
[ $rc -eq 1 ] || fail "second run exited $rc, expected 1"
grep -q "chain FAULTLINE-11 sends its packets to queue 11, held by pid $FIRST (faultline)" "$T/second.err" ||
	fail "the refusal does not name the first run's chain, queue and pid"
for ipt in iptables ip6tables; do
	chains=$(ip netns exec "$NS_B" $ipt-save | grep -c '^:FAULTLINE' || true)
	[ "$chains" -eq 1 ] || fail "$ipt: $chains FAULTLINE chains after the refused run, expected 1"
done

# The first run still sees every echo request (delay applies to 'in' only).
ip netns exec "$NS_A" ping -c 5 -i 0.2 -W 3 10.99.0.2 >"$T/ping1" || fail "ping through the first run failed"
kill -USR1 "$FIRST"
for _ in $(seq 1 50); do grep -q '"delayed"' "$T/fl.out" 2>/dev/null && break; sleep 0.1; done
d=$(json "$T/fl.out" 'd["rules"][0]["delayed"]')
log "first run delayed $d of 5 echo requests"
[ "$d" -eq 5 ] || fail "first run delayed $d echo requests, expected 5"

# kill -9 leaves a stale FAULTLINE-11; a run on queue 12 removes it and works.
kill -9 "$FIRST"
wait "$FIRST" 2>/dev/null || true
FL_PID=
fl_start "$NS_B" --queue 12 --rule 'icmp => delay 50ms, in' --seed 1
for ipt in iptables ip6tables; do
	ip netns exec "$NS_B" $ipt-save >"$T/save"
	grep -q FAULTLINE-11 "$T/save" && fail "$ipt: stale FAULTLINE-11 still there"
	grep -q '^:FAULTLINE-12 ' "$T/save" || fail "$ipt: no FAULTLINE-12"
done
ip netns exec "$NS_A" ping -c 5 -i 0.2 -W 3 10.99.0.2 >"$T/ping2" || fail "ping through the second run failed"
fl_stop
d=$(json "$T/fl.out" 'd["rules"][0]["delayed"]')
log "run after the stale chain delayed $d of 5"
[ "$d" -eq 5 ] || fail "run on queue 12 delayed $d echo requests, expected 5"
no_chain_left "$NS_B"
echo ok

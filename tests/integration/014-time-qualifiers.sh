#!/usr/bin/env bash
# Qualifiers: 'first N' fires on the first N matching packets only, 'every N'
# on every Nth, 'in'/'out' by direction, 'after DUR' only once DUR has passed
# since start. Timing checks are one-sided, with wide margins.
. "$(dirname "$0")/lib.sh"
make_pair
now() { date +%s.%N; }

# run_case RULE COUNT [EXPECT]: faultline in $NS_B, COUNT datagrams A -> B:5000.
run_case() {
	rm -f "$T/recv.json"  # lib.sh's udp_recv would take the old file's "ready" for the new receiver
	udp_recv "$NS_B" 5000 800 "${3:-0}"
	fl_start "$NS_B" --rule "$1" --seed 3
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 "$2" 300
	udp_recv_wait
	fl_stop
	log "'$1': received $(json "$T/recv.json" 'd["received"]') of $2, faultline dropped $(json "$T/fl.out" 'd["dropped"]')"
}

# first 10: exactly seq 0-9 are dropped.
run_case 'udp dst port 5000 => drop, first 10' 100 90
[ "$(json "$T/recv.json" 'd["order"] == list(range(10, 100))')" = True ] ||
	fail "'first 10': arrivals are not exactly seq 10-99 in order: $(json "$T/recv.json" 'd["order"][:15]')..."
[ "$(json "$T/fl.out" 'd["dropped"]')" -eq 10 ] || fail "'first 10': dropped != 10"

# every 4: the 4th, 8th, ... matching datagram, i.e. seq 3, 7, 11, ...
run_case 'udp dst port 5000 => drop, every 4' 100 75
[ "$(json "$T/recv.json" 'd["order"] == [i for i in range(100) if i % 4 != 3]')" = True ] ||
	fail "'every 4': arrivals are not exactly the seqs not 3 mod 4: $(json "$T/recv.json" 'd["order"][:15]')..."
[ "$(json "$T/fl.out" 'd["dropped"]')" -eq 25 ] || fail "'every 4': dropped != 25"

# out: faultline in the receiving namespace sees these datagrams on INPUT only.
run_case 'udp dst port 5000 => drop, out' 100 100
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 100 ] || fail "'out' dropped incoming datagrams"
[ "$(json "$T/fl.out" 'd["dropped"]')" -eq 0 ] || fail "'out': dropped != 0"
[ "$(json "$T/fl.out" 'd["rules"][0]["matched"]')" -eq 0 ] || fail "'out': rule matched incoming datagrams"

# in: all 100 dropped. The receiver would wait long for a first datagram, so
# once faultline is gone 10 more are sent: only those may arrive.
rm -f "$T/recv.json"  # lib.sh's udp_recv would take the old file's "ready" for the new receiver
udp_recv "$NS_B" 5000 800 10
fl_start "$NS_B" --rule 'udp dst port 5000 => drop, in'
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 100 300
# Let faultline read all 100 before it stops (on SIGTERM it accepts what is still queued).
for _ in $(seq 1 50); do
	fl_stats
	[ "$(json "$T/fl.out" 'd["dropped"]')" -ge 100 ] && break
	sleep 0.1
done
fl_stop
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 10 300
udp_recv_wait
log "'udp dst port 5000 => drop, in': dropped $(json "$T/fl.out" 'd["dropped"]') of 100," \
	"then $(json "$T/recv.json" 'd["received"]') of 10 arrived without faultline"
[ "$(json "$T/fl.out" 'd["dropped"]')" -eq 100 ] || fail "'in': dropped != 100"
[ "$(json "$T/recv.json" 'd["received"]')" -eq 10 ] || fail "'in': datagrams arrived while faultline dropped them all"

# after 1s: 50 datagrams sent right after the start pass; 50 sent after the second has passed
# (counted from when faultline was ready, which is after its clock started) are dropped.
# If the machine is too slow to send the first 50 within 0.5 s of launching faultline, retry.
ok=0
for attempt in 1 2 3; do
	rm -f "$T/recv.json"  # lib.sh's udp_recv would take the old file's "ready" for the new receiver
	udp_recv "$NS_B" 5000 2500
	t0=$(now)
	fl_start "$NS_B" --rule 'udp dst port 5000 => drop, after 1s' --events "$T/events"
	t_ready=$(now)
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 50 1000
	t_sent=$(now)
	sleep "$(python3 -c "print(max(0, $t_ready + 1.3 - $(now)))")"
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 50 1000
	udp_recv_wait
	fl_stop
	early=$(python3 -c "print(round($t_sent - $t0, 2))")
	log "'after 1s' (attempt $attempt): first 50 sent within ${early}s of launch;" \
		"received $(json "$T/recv.json" 'd["received"]'), dropped $(json "$T/fl.out" 'd["dropped"]')"
	if python3 -c "import sys; sys.exit(0 if $t_sent - $t0 <= 0.5 else 1)"; then
		ok=1
		break
	fi
	log "machine slow: the first batch took more than 0.5 s, trying again"
done
[ $ok -eq 1 ] || fail "'after 1s': could not send 50 datagrams within 0.5 s of launch in 3 attempts"
[ "$(json "$T/recv.json" 'd["received"]')" -eq 50 ] && [ "$(json "$T/recv.json" 'd["order"] == list(range(50))')" = True ] ||
	fail "'after 1s': expected exactly the 50 early datagrams, got $(json "$T/recv.json" 'd["received"]')"
[ "$(json "$T/fl.out" 'd["dropped"]')" -eq 50 ] || fail "'after 1s': expected the 50 late datagrams dropped"
python3 -c "import json,sys; sys.exit(0 if all(e['t'] >= 1.0 for e in map(json.loads, open('$T/events')) if e['ev'] == 'verdict') else 1)" ||
	fail "'after 1s': a drop event earlier than t = 1.0"
no_chain_left "$NS_B"
echo ok

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

# after 1s: a datagram passes if faultline saw it before its clock reached
# 1 s, and is dropped from then on. The event log says when faultline saw
# each one, so the verdicts are checked against faultline's own clock, not
# the test's: 50 are sent as soon as faultline is ready, 50 more 1.3 s
# later (those are late whatever the load: faultline's clock started before
# it said it was ready). Only when none came before 1 s, on a machine too
# slow to show the early side, start over.
ok=0
for attempt in 1 2 3; do
	rm -f "$T/recv.json"  # lib.sh's udp_recv would take the old file's "ready" for the new receiver
	udp_recv "$NS_B" 5000 2500
	fl_start "$NS_B" --rule 'udp dst port 5000 => drop, after 1s' --events "$T/events"
	t_ready=$(now)
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 50 1000
	sleep "$(python3 -c "print(max(0, $t_ready + 1.3 - $(now)))")"
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 50 1000
	udp_recv_wait
	fl_stop
	# early late wrong: packets faultline saw before / from t = 1 s, and
	# those whose verdict does not follow from that.
	read -r early late wrong <<<"$(python3 -c "
import json
ev = [e for e in map(json.loads, open('$T/events')) if e['ev'] == 'packet' and e['flow'].endswith(':5000')]
early = [e for e in ev if e['t'] < 1.0]
late = [e for e in ev if e['t'] >= 1.0]
wrong = [e for e in early if e['verdict'] != 'accept'] + [e for e in late if e['verdict'] != 'drop']
print(len(early), len(late), len(wrong))")"
	log "'after 1s' (attempt $attempt): faultline saw $early before t = 1 s and $late after;" \
		"received $(json "$T/recv.json" 'd["received"]'), dropped $(json "$T/fl.out" 'd["dropped"]')"
	[ "$wrong" -eq 0 ] || fail "'after 1s': $wrong verdicts disagree with when faultline saw the packet"
	if [ "$early" -gt 0 ]; then
		ok=1
		break
	fi
	log "machine slow: no datagram reached faultline before t = 1 s, trying again"
done
[ $ok -eq 1 ] || fail "'after 1s': no datagram reached faultline before t = 1 s in 3 attempts"
[ $((early + late)) -eq 100 ] || fail "'after 1s': faultline saw $((early + late)) of 100 datagrams"
[ "$late" -ge 50 ] || fail "'after 1s': only $late datagrams after t = 1 s, the second 50 all came later"
[ "$(json "$T/recv.json" 'd["received"]')" -eq "$early" ] &&
	[ "$(json "$T/recv.json" "d['order'] == list(range($early))")" = True ] ||
	fail "'after 1s': expected exactly the $early early datagrams, got $(json "$T/recv.json" 'd["received"]')"
[ "$(json "$T/fl.out" 'd["dropped"]')" -eq "$late" ] || fail "'after 1s': expected the $late late datagrams dropped"
no_chain_left "$NS_B"
echo ok

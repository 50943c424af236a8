#!/usr/bin/env bash
# udp dst port 5000 => delay 5s, with faultline stopped (SIGSTOP) while the
# deadlines pass: on SIGCONT the release timer finds 20,000, then 50,000
# held datagrams due at once and releases them in one go, while running.
# One netlink send carries about 6,600 verdicts at the default send buffer:
# the receiver must still get every datagram exactly once, all released at
# their deadline (none early), no verdict error, and faultline exits 0.
. "$(dirname "$0")/lib.sh"
make_pair

burst() {
	local n=$1 held=0 rel=0 uniq recvd early verr sends
	udp_recv "$NS_B" 5000 1000 "$n" 30000
	fl_start "$NS_B" --rule 'udp dst port 5000 => delay 5s' --seed 1 --no-track
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 "$n"
	for _ in $(seq 1 100); do
		fl_stats
		read -r held rel <<<"$(json "$T/fl.out" '"%d %d" % (d["held_now"], d["released"])')"
		[ "$held" -eq "$n" ] && break
		sleep 0.05
	done
	[ "$held" -eq "$n" ] && [ "$rel" -eq 0 ] || fail "$n sent, faultline holds $held, released $rel"
	kill -STOP "$FL_PID"
	# Every deadline is at most 5 s after this point: let them all pass.
	sleep 5.5
	kill -CONT "$FL_PID"
	udp_recv_wait
	fl_stats
	read -r uniq recvd <<<"$(json "$T/recv.json" '"%d %d" % (d["unique"], d["received"])')"
	read -r rel early verr sends <<<"$(json "$T/fl.out" \
		'"%d %d %d %d" % (d["released"], d["released_early"], d["verdict_errors"], d["verdict_sends"])')"
	log "held $n, stopped past their deadline: delivered $uniq ($recvd in all)," \
		"released $rel (early $early), verdict_errors $verr, $sends sends"
	[ "$uniq" -eq "$n" ] || fail "receiver got $uniq of $n datagrams released at their deadline"
	[ "$recvd" -eq "$n" ] || fail "duplicates after the release"
	[ "$rel" -eq "$n" ] || fail "released $rel != $n"
	[ "$early" -eq 0 ] || fail "$early released early"
	[ "$verr" -eq 0 ] || fail "$verr verdict errors"
	fl_stop TERM
	[ "$(json "$T/fl.out" 'd["verdict_errors"]')" -eq 0 ] || fail "verdict errors at exit"
	no_chain_left "$NS_B"
}

for n in ${BURSTS:-20000 50000}; do
	burst "$n"
done
echo ok

#!/usr/bin/env bash
# udp dst port 5000 => delay 60s: 7,000, then 20,000, then 100,000 datagrams
# are held; SIGTERM releases each burst at once. One netlink send carries at
# most the socket's send buffer (about 6,600 verdicts at the default size),
# so a burst must go out in several: the receiver gets every datagram
# exactly once, faultline counts them all released early, no verdict error,
# exit 0. Of 100,000, at most --max-held (50,000 by default) wait at once:
# each one past the bound sends the soonest due on early, counted in
# early_max_held, and SIGTERM releases the 50,000 left. (The kernel here
# queues at most 65,536 packets whatever --queue-maxlen asks; past that,
# fail-open passes them unheld and unseen.)
. "$(dirname "$0")/lib.sh"
make_pair

burst() {
	local n=$1 held=0 total=0 early=0 rc=0 bound=50000 sent chunk
	[ "$n" -lt $bound ] && bound=$n
	udp_recv "$NS_B" 5000 1000 "$n" 30000
	fl_start "$NS_B" --rule 'udp dst port 5000 => delay 60s' --seed 1 --no-track
	# In chunks of 10,000, each read by faultline before the next leaves:
	# the kernel queues at most 65,536 (--max-held's 50,000 and what is not
	# read yet), and fail-open would pass the rest unseen on a loaded
	# machine where faultline reads slower than the sender sends.
	for ((sent = 0; sent < n; sent += chunk)); do
		chunk=$((n - sent < 10000 ? n - sent : 10000))
		ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 "$chunk" 0 0 "$sent"
		# Until faultline has read them (one json call a round: python is slow to start).
		for _ in $(seq 1 100); do
			fl_stats
			read -r held total early <<<"$(json "$T/fl.out" \
				'"%d %d %d" % (d["held_now"], d["held"], d["early_max_held"])')"
			[ "$total" -eq $((sent + chunk)) ] && break
			sleep 0.1
		done
	done
	[ "$held" -eq $bound ] && [ "$total" -eq "$n" ] ||
		fail "$n sent, faultline held $total, $held at once, not $bound"
	[ "$early" -eq $((n - bound)) ] || fail "early_max_held $early, not $((n - bound))"
	kill -TERM "$FL_PID"
	wait "$FL_PID" || rc=$?
	FL_PID=
	udp_recv_wait
	read -r uniq recvd <<<"$(json "$T/recv.json" '"%d %d" % (d["unique"], d["received"])')"
	read -r total held rel early verr <<<"$(json "$T/fl.out" \
		'"%d %d %d %d %d" % (d["held"], d["held_now"], d["released_early"], d["early_max_held"], d["verdict_errors"])')"
	log "held $n ($bound at once): delivered $uniq ($recvd in all), released_early $rel," \
		"early_max_held $early, verdict_errors $verr, exit $rc"
	[ $rc -eq 0 ] || fail "faultline exited $rc"
	[ "$uniq" -eq "$n" ] || fail "receiver got $uniq of $n held datagrams"
	[ "$recvd" -eq "$n" ] || fail "$((recvd - n)) duplicates after the release"
	[ "$total" -eq "$n" ] || fail "final held $total != $n"
	[ "$held" -eq 0 ] || fail "final held_now $held != 0"
	[ "$rel" -eq "$n" ] || fail "released_early $rel != $n"
	[ "$early" -eq $((n - bound)) ] || fail "early_max_held $early at exit"
	[ "$verr" -eq 0 ] || fail "$verr verdict errors"
	no_chain_left "$NS_B"
}

for n in ${BURSTS:-7000 20000 100000}; do
	burst "$n"
done
echo ok

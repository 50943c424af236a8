#!/usr/bin/env bash
# udp dst port 5000 => delay 2s: 1000 datagrams are held; SIGTERM long before
# the 2 s are up releases every one of them at once, faultline exits 0,
# counts them as released early and leaves no chain behind. Before the
# SIGTERM, none had reached the receiving socket.
. "$(dirname "$0")/lib.sh"
make_pair

# UDP datagrams delivered to sockets in namespace $1 (absolute, nstat history untouched).
udp_in() { ip netns exec "$1" nstat -asz UdpInDatagrams | awk '$1 == "UdpInDatagrams" {print $2}'; }
now() { date +%s.%N; }
# The SIGTERM must come well before the 2 s are up: on a machine so loaded
# that it does not (1.5 s after the first datagram left), start over.
ok=0
for attempt in 1 2 3; do
	rm -f "$T/recv.json"  # lib.sh's udp_recv would take the old file's "ready" for the new receiver
	udp_recv "$NS_B" 5000 1500 1000
	fl_start "$NS_B" --rule 'udp dst port 5000 => delay 2s' --seed 1
	in0=$(udp_in "$NS_B")
	t0=$(now)
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 1000 20
	# Wait (briefly) until faultline has read all 1000 from its queue.
	for _ in $(seq 1 20); do
		fl_stats
		[ "$(json "$T/fl.out" 'd["held_now"]')" -eq 1000 ] && break
		sleep 0.05
	done
	in1=$(udp_in "$NS_B")
	t1=$(now)
	cp "$T/fl.out" "$T/fl.before"
	fl_stop TERM
	elapsed=$(python3 -c "print(round($t1 - $t0, 2))")
	read -r held released <<<"$(json "$T/fl.before" '"%d %d" % (d["held_now"], d["released"])')"
	log "attempt $attempt: before SIGTERM (${elapsed}s after the first datagram): held_now $held," \
		"released $released, UdpInDatagrams +$((in1 - in0))"
	udp_recv_wait
	if python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 1.5 else 1)"; then
		ok=1
		break
	fi
	log "machine too slow: SIGTERM came ${elapsed}s after sending, the 2 s delay may have run out; again"
done
[ $ok -eq 1 ] || fail "could not send SIGTERM within 1.5 s of sending in 3 attempts"
[ "$held" -eq 1000 ] || fail "held_now $held before SIGTERM, expected 1000"
[ "$released" -eq 0 ] || fail "$released datagrams released before SIGTERM"
[ "$in1" -eq "$in0" ] || fail "$((in1 - in0)) datagrams reached a socket in $NS_B before SIGTERM"

uniq=$(json "$T/recv.json" 'd["unique"]')
log "after SIGTERM: receiver got $uniq distinct datagrams ($(json "$T/recv.json" 'd["received"]') in all)"
[ "$uniq" -eq 1000 ] || fail "receiver got $uniq of 1000 held datagrams"
[ "$(json "$T/recv.json" 'd["received"]')" -eq 1000 ] || fail "duplicates after release"
[ "$(json "$T/fl.out" 'd["held"]')" -eq 1000 ] || fail "final held != 1000"
[ "$(json "$T/fl.out" 'd["released_early"]')" -eq 1000 ] || fail "final released_early != 1000"
[ "$(json "$T/fl.out" 'd["rules"][0]["released_early"]')" -eq 1000 ] || fail "rule released_early != 1000"
[ "$(json "$T/fl.out" 'd["held_now"]')" -eq 0 ] || fail "final held_now != 0"
no_chain_left "$NS_B"
echo ok

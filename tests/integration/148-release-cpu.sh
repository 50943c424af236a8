#!/usr/bin/env bash
# --release-cpu sets the share of a CPU that spinning to deadlines may
# take: with 100 % and --release-early 2ms, 500 datagrams held 10 ms each,
# 1 ms apart, keep the releasing thread spinning for longer than the
# default 10 % budget could ever pay for over the whole run (its initial
# 32 spins plus a tenth of the time that passed); every datagram arrives.
# A share out of range, and more than half a CPU with --realtime, are
# refused with the option named; by default, more than half a CPU makes
# the releasing thread an ordinary one (it would be SCHED_FIFO), and the
# counters say why.
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
for bad in 0 101 abc; do
	if "$FL" run --netns "$NS_B" --release-cpu "$bad" -r 'udp => drop' 2>"$T/err"; then
		fail "--release-cpu $bad accepted"
	fi
	grep -q -- '--release-cpu' "$T/err" || fail "--release-cpu $bad: $(cat "$T/err")"
done
if "$FL" run --netns "$NS_B" --realtime --release-cpu 60 -r 'udp => drop' 2>"$T/err"; then
	fail "--realtime --release-cpu 60 accepted"
fi
grep -q -- '--release-cpu' "$T/err" || fail "--realtime --release-cpu 60: $(cat "$T/err")"

udp_recv "$NS_B" 5000 500 500
t0=$(date +%s%N)
fl_start "$NS_B" --no-track --release-early 2ms --release-cpu 100 \
	--rule 'udp dst port 5000 => delay 10ms, in'
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 500 1000
udp_recv_wait
fl_stop
t1=$(date +%s%N)
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 500 ] || fail "lost datagrams: $(cat "$T/recv.json")"
why=$(json "$T/fl.out" 'd["release_sched"] + "|" + d["release_sched_why"]')
[ "$why" = "SCHED_OTHER|--release-cpu above 50%" ] || fail "--release-cpu 100: counters say $why"
spin=$(json "$T/fl.out" 'd["release_spin_us"]')
# What the default share allows at most: 32 spins of 2 ms, and 10 % of the time.
cap=$(( 32 * 2000 + (t1 - t0) / 1000 / 10 ))
log "spun $spin us over $(( (t1 - t0) / 1000 )) us; the default share allows at most $cap"
[ "$spin" -gt "$cap" ] || fail "spun $spin us, not more than the default's $cap us"
no_chain_left "$NS_B"
echo ok

#!/usr/bin/env bash
# --max-held-bytes 100k with udp dst port 5000 => delay 60s: of 10,000 small
# datagrams only what fits in 100 KiB waits; each one past the bound sends
# the soonest due on early (early_max_held_bytes), so the held bytes stay
# within one datagram of the bound. SIGTERM releases the rest: the receiver
# gets every datagram exactly once, none lost, exit 0. A bad size is refused.
. "$(dirname "$0")/lib.sh"
make_pair

for bad in 0 12X -5 2000G; do
	rc=0
	"$FL" run --rule 'udp => delay 1s' --max-held-bytes "$bad" 2>"$T/bad.err" || rc=$?
	[ $rc -eq 2 ] || fail "--max-held-bytes $bad: exit $rc, not 2"
	grep -q -- "^faultline: --max-held-bytes '$bad': " "$T/bad.err" || fail "--max-held-bytes $bad: $(cat "$T/bad.err")"
done

n=10000 bound=102400
udp_recv "$NS_B" 5000 1000 $n 30000
fl_start "$NS_B" --rule 'udp dst port 5000 => delay 60s' --seed 1 --no-track --max-held-bytes 100k
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 $n
for _ in $(seq 1 100); do
	kill -USR1 "$FL_PID"
	sleep 0.1
	[ "$(json "$T/fl.out" 'd["held"]')" -eq $n ] && break
done
read -r held held_now bytes early early_n <<<"$(json "$T/fl.out" \
	'"%d %d %d %d %d" % (d["held"], d["held_now"], d["held_bytes_now"], d["early_max_held_bytes"], d["early_max_held"])')"
log "held $held, $held_now at once in $bytes bytes (bound $bound), $early left early at the bound"
[ "$held" -eq $n ] || fail "held $held of $n"
[ "$bytes" -le $bound ] || fail "$bytes bytes held, bound $bound"
# "seq N" datagrams are 37 or 38 bytes on the wire: full to within one.
[ "$bytes" -gt $((bound - 38)) ] || fail "only $bytes bytes held before the bound was hit"
[ "$early" -eq $((n - held_now)) ] || fail "early_max_held_bytes $early, not $((n - held_now))"
[ "$early_n" -eq 0 ] || fail "the packet bound was hit ($early_n)"
fl_stop TERM
udp_recv_wait
uniq=$(json "$T/recv.json" 'd["unique"]')
log "after SIGTERM: delivered $uniq ($(json "$T/recv.json" 'd["received"]') in all)"
[ "$uniq" -eq $n ] || fail "receiver got $uniq of $n"
[ "$(json "$T/recv.json" 'd["received"]')" -eq $n ] || fail "duplicates"
[ "$(json "$T/fl.out" 'd["released_early"]')" -eq $n ] || fail "released_early != $n"
[ "$(json "$T/fl.out" 'd["early_max_held_bytes"]')" -eq "$early" ] || fail "early count moved at SIGTERM"
[ "$(json "$T/fl.out" 'd["held_bytes_now"]')" -eq 0 ] || fail "held bytes left after SIGTERM"
[ "$(json "$T/fl.out" 'd["verdict_errors"]')" -eq 0 ] || fail "verdict errors"
no_chain_left "$NS_B"
echo ok

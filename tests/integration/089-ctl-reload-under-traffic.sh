#!/usr/bin/env bash
# Reloads while datagrams flow, the file switching between a 10% drop and
# a 30 ms delay: every datagram is received except those a rule dropped
# (faultline's "dropped" total), none twice, and every held datagram left
# at its time (none early: a swap does not touch what is held).
. "$(dirname "$0")/lib.sh"
make_pair
N=3000
drop='udp dst port 5000 => drop 10%'
delay='udp dst port 5000 => delay 30ms'
echo "$drop" >"$T/rules"
udp_recv "$NS_B" 5000 1500
fl_start "$NS_B" -f "$T/rules" --seed 7
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 $N 1000 &
SEND=$!
PIDS+=("$SEND")
reloads=0
while kill -0 "$SEND" 2>/dev/null; do
	if [ $((reloads % 2)) -eq 0 ]; then echo "$delay"; else echo "$drop"; fi >"$T/rules"
	"$FL" ctl --netns "$NS_B" reload >/dev/null || fail "reload $reloads refused"
	reloads=$((reloads + 1))
	sleep 0.2
done
wait "$SEND"
udp_recv_wait
fl_stop
# The counters from the last line of faultline's output, without Python (it starts slowly under load).
total() { grep '^{' "$T/fl.out" | tail -1 | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
got=$(grep -o '"unique":[0-9]*' "$T/recv.json" | cut -d: -f2)
dups=$(grep -o '"duplicates":[0-9]*' "$T/recv.json" | cut -d: -f2)
dropped=$(total dropped)
log "$reloads reloads; sent $N, received $got, dropped by rules $dropped, held $(total held), released early $(total released_early)"
[ "$reloads" -ge 4 ] || fail "only $reloads reloads while sending"
[ "$dropped" -gt 0 ] && [ "$(total held)" -gt 0 ] || fail "the drop and the delay did not both run"
[ $((got + dropped)) -eq $N ] || fail "$((N - got - dropped)) datagrams lost that no rule dropped"
[ "$dups" -eq 0 ] || fail "$dups duplicates"
[ "$(total released_early)" -eq 0 ] || fail "held datagrams left early"
[ "$(total released)" -eq "$(total held)" ] || fail "held $(total held), released $(total released)"
no_chain_left "$NS_B"
echo ok

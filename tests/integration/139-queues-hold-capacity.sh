#!/usr/bin/env bash
# Held capacity with --queues, and a full kernel queue. Each kernel queue
# holds at most --queue-maxlen packets (and at most 65,536 on recent
# kernels, whatever it asks: README, "Overload"); the kernel picks the
# queue by the address pair and protocol only. Here --queue-maxlen 1000
# stands for that cap, so the test needs few packets:
#  - 2 x 900 datagrams into a 60 s delay, from one source address per
#    queue, are all held at once, more than one queue can hold: in
#    faultline (held_now) and in the kernel queues (queue_total in
#    /proc/net/netfilter/nfnetlink_queue), none dropped or passed unseen;
#  - 300 more on a queue with room for about 100: the kernel passes the
#    rest at once (fail-open), unseen by faultline and not in
#    queue_dropped; the NFQUEUE rules' counters count them, so their
#    excess over faultline's packets is what passed;
#  - SIGTERM releases every held one; every datagram arrives once.
# Which queue an address gets depends on the kernel's hash seed (drawn at
# boot): one datagram from each candidate shows which queue's id sequence
# it moved. With 64 candidates, all on one queue (a false failure) has a
# chance of 2^-63.
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
for i in $(seq 1 64); do echo "addr add 10.99.0.$((100 + i))/24 dev va-$ID"; done | ip -n "$NS_A" -batch -
MAXLEN=1000 N=900 MORE=300
Q0=4242 Q1=4243

# A queue's line: num portid queue_total copy_mode copy_range
# queue_dropped user_dropped id_sequence 1.
qline() { ip netns exec "$NS_B" awk -v q="$1" '$1 == q' /proc/net/netfilter/nfnetlink_queue; }
ids() { qline "$1" | awk '{ print $8 }'; }
# Packets the NFQUEUE rules of faultline's chains sent to the queues.
nfqueue_counter() {
	ip netns exec "$NS_B" iptables-save -c | awk '/-j NFQUEUE/ && $3 ~ /^FAULTLINE/ {
		c = $1; gsub(/[\[\]]/, "", c); split(c, f, ":"); n += f[1] } END { print n + 0 }'
}
send() { ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 "$2" 0 "$1:0" "$3"; }
# jq FILTER FILE: on the last JSON line of FILE (jq starts faster than python).
last() { grep '^{' "$2" | tail -1 | jq -r "$1"; }

fl_start "$NS_B" --queues 2 --no-track --queue-maxlen $MAXLEN --rule 'udp dst port 5000 => delay 60s'

# One source address per queue; probe datagrams are numbered 900001...
SRC0='' SRC1='' probes=0
for i in $(seq 1 64); do
	a=10.99.0.$((100 + i))
	b0=$(ids $Q0) b1=$(ids $Q1)
	send "$a" 1 $((900000 + i))
	probes=$((probes + 1))
	for _ in $(seq 1 200); do
		if [ "$(ids $Q0)" != "$b0" ]; then SRC0=${SRC0:-$a}; break; fi
		if [ "$(ids $Q1)" != "$b1" ]; then SRC1=${SRC1:-$a}; break; fi
		sleep 0.01
	done
	[ -n "$SRC0" ] && [ -n "$SRC1" ] && break
done
[ -n "$SRC0" ] && [ -n "$SRC1" ] || fail "64 addresses did not reach both queues: $(qline $Q0) / $(qline $Q1)"
read -r _ _ p0 _ <<<"$(qline $Q0)"
read -r _ _ p1 _ <<<"$(qline $Q1)"
log "sources: $SRC0 on queue $Q0 ($p0 probes), $SRC1 on queue $Q1 ($p1)"

udp_recv "$NS_B" 5000 300 $((2 * N + MORE + probes)) 20000
send "$SRC0" $N 0
send "$SRC1" $N $N
# held: what faultline holds once it has read all that the kernel queued.
held_wait() {
	for _ in $(seq 1 100); do
		fl_stats
		read -r held pkts <<<"$(last '"\(.held_now) \(.packets)"' "$T/fl.out")"
		[ "$held" -eq "$1" ] && return 0
		sleep 0.05
	done
	fail "faultline holds $held, not $1"
}
want=$((2 * N + probes))
held_wait $want
read -r _ _ t0 _ _ d0 u0 i0 _ <<<"$(qline $Q0)"
read -r _ _ t1 _ _ d1 u1 i1 _ <<<"$(qline $Q1)"
log "held $held; queue $Q0: $t0 (ids $i0), queue $Q1: $t1 (ids $i1), dropped $d0 $u0 $d1 $u1"
[ "$held" -gt $MAXLEN ] || fail "held $held: no more than one queue's $MAXLEN"
[ "$t0" -eq $((p0 + N)) ] && [ "$t1" -eq $((p1 + N)) ] ||
	fail "the kernel queues hold $t0 and $t1, not $((p0 + N)) and $((p1 + N))"
[ $((d0 + u0 + d1 + u1)) -eq 0 ] || fail "kernel queue drops: $d0 $u0 $d1 $u1"
[ "$i0" -eq "$t0" ] && [ "$i1" -eq "$t1" ] || fail "numbered $i0 and $i1, held $t0 and $t1"
[ "$(nfqueue_counter)" -eq $want ] || fail "NFQUEUE counters $(nfqueue_counter), not $want"

# Queue 0 full: fail-open passes what does not fit, unseen.
room=$((MAXLEN - t0))
send "$SRC0" $MORE $((2 * N))
held_wait $((want + room))
read -r _ _ t0 _ _ d0 u0 _ <<<"$(qline $Q0)"
passed=$(($(nfqueue_counter) - pkts))
log "queue $Q0 full: $t0 held, $passed passed unseen, dropped $d0 $u0"
[ "$t0" -eq $MAXLEN ] || fail "queue $Q0 holds $t0, not $MAXLEN"
[ "$passed" -eq $((MORE - room)) ] || fail "$passed passed by fail-open, not $((MORE - room))"
[ $((d0 + u0)) -eq 0 ] || fail "fail-open counted as drops: $d0 $u0"

fl_stop
udp_recv_wait
read -r uniq recvd <<<"$(last '"\(.unique) \(.received)"' "$T/recv.json")"
all=$((2 * N + MORE + probes))
[ "$uniq" -eq $all ] && [ "$recvd" -eq $all ] || fail "received $recvd ($uniq distinct) of $all"
[ "$(last .released_early "$T/fl.out")" -eq $((want + room)) ] || fail "not all released at SIGTERM"
no_chain_left "$NS_B"
echo ok

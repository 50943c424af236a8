#!/usr/bin/env bash
# The kernel's receive timestamps are a host-wide switch: while faultline
# holds them on, every packet the host receives pays a clock read, touched
# by a rule or not. So they are on only while something needs arrival
# times: a rule that holds or paces packets, a tracker condition, --events,
# --pcap, a subscriber to the event stream. Checked on a live run through
# its counters ("kernel_stamps"), its open sockets (the switch is a socket
# of its own) and stamped packets, as rules come and go over the control
# socket and a subscriber comes and goes.
. "$(dirname "$0")/lib.sh"
make_pair
CTL=("$FL" ctl --netns "$NS_B")
socks() { find /proc/"$FL_PID"/fd -lname 'socket:*' 2>/dev/null | wc -l; }
stamps() {
	fl_stats
	json "$T/fl.out" 'str(d["kernel_stamps"]).lower()'
}
# want STATE WHAT: the switch reaches STATE within 5 s.
want() {
	for _ in $(seq 1 50); do
		[ "$(stamps)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "$2: kernel_stamps is not $1"
}

fl_start "$NS_B" --rule 'udp dst port 5000 => drop' --seed 1
want false "drop-only rules"
s0=$(socks)

"${CTL[@]}" add 'udp dst port 5001 => delay 1ms' slow >/dev/null
want true "a delay rule added"
[ "$(socks)" -eq $((s0 + 1)) ] || fail "sockets $s0 -> $(socks) after the delay rule, not one more"
udp_recv "$NS_B" 5001 1000 200 2000
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5001 200 500
udp_recv_wait
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 200 ] || fail "delayed datagrams lost"
fl_stats
stamped=$(json "$T/fl.out" 'd["kernel_timestamps"]')
used=$(json "$T/fl.out" 'd["timestamps_used"]')
log "with the delay rule: $stamped packets came stamped, $used used"
[ "$stamped" -ge 200 ] || fail "only $stamped packets came stamped, 200 were delayed"

"${CTL[@]}" del slow >/dev/null
want false "the delay rule deleted"
[ "$(socks)" -eq "$s0" ] || fail "sockets $(socks) after the delete, not $s0"

"${CTL[@]}" add 'tcp => drop if retransmission' rt >/dev/null
want true "a tracker condition added"
"${CTL[@]}" del rt >/dev/null
want false "the tracker condition deleted"

"${CTL[@]}" events >"$T/stream" 2>&1 &
EV=$!
PIDS+=("$EV")
want true "a subscriber to the event stream"
kill "$EV"
wait "$EV" 2>/dev/null || true
# The server finds the subscriber gone when it next writes to it: a packet's event.
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 5 1000
want false "the subscriber gone"
fl_stop
[ "$(json "$T/fl.out" 'str(d["kernel_stamps"]).lower()')" = false ] || fail "exit counters: stamps on"

fl_start "$NS_B" --rule 'udp dst port 5000 => drop' --events "$T/events.jsonl"
want true "--events"
fl_stop
no_chain_left "$NS_B"
echo ok

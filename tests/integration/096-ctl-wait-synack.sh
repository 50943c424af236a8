#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `faultline ctl wait` as a test uses it: drop the server's SYN+ACKs until
# the client has retried its SYN twice (a counting rule's counter), then
# let the handshake through and wait until the tracker saw the connection
# reach ESTABLISHED (a transition read from the event stream). Each wait
# exits 0 once its condition holds; the drop rule then dropped at least two
# SYN+ACKs and the client had not connected before it was deleted.
. "$(dirname "$0")/lib.sh"
make_pair
CTL=("$FL" ctl --netns "$NS_B")

fl_start "$NS_B" --rule 'synack: tcp src port 8080 and tcp[tcpflags] == (tcp-syn|tcp-ack) => drop' \
	--rule 'syns: tcp dst port 8080 and tcp[tcpflags] == tcp-syn => accept'
ip netns exec "$NS_B" socat -u TCP-LISTEN:8080,reuseaddr OPEN:"$T/got",creat,trunc 2>"$T/recv.err" &
PIDS+=($!)
wait_listen "$NS_B" 8080
echo hello >"$T/in"
ip netns exec "$NS_A" socat -u OPEN:"$T/in" TCP:10.99.0.2:8080,connect-timeout=60 2>"$T/send.err" &
SEND=$!
PIDS+=("$SEND")

# The first SYN and two retries (Linux: 1 s, then 2 s later).
"${CTL[@]}" wait 'syns.matched >= 3' --timeout 30s >"$T/w1.out" 2>"$T/w1.err" ||
	fail "wait for the retries exited $?: $(cat "$T/w1.err")"
[ ! -s "$T/got" ] || fail "the client connected while its SYN+ACKs were dropped"
dropped=$("${CTL[@]}" --json get synack | grep -o '"dropped":[0-9]*' | cut -d: -f2)
[ "$dropped" -ge 2 ] || fail "synack dropped $dropped SYN+ACKs, not 2 or more"
"${CTL[@]}" del synack
"${CTL[@]}" wait 'conn port 8080 state ESTABLISHED' --timeout 30s >"$T/w2.out" 2>"$T/w2.err" ||
	fail "wait for ESTABLISHED exited $?: $(cat "$T/w2.err")"
wait "$SEND" || fail "the client failed: $(cat "$T/send.err")"
fl_stop
no_chain_left "$NS_B"
echo ok

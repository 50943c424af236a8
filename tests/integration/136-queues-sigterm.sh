#!/usr/bin/env bash
# --queues 2, udp => delay 600s: datagrams from 16 client addresses are held
# on both queues; SIGTERM releases every one of them, from every queue,
# faultline exits 0 and removes its chain. None reached the receiver
# before the SIGTERM (the delay outlasts the test: no clock decides).
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
for i in $(seq 1 16); do ip -n "$NS_A" addr add "10.99.0.$((100 + i))/24" dev "va-$ID"; done
N=800

# The receiver counts the datagrams until it has N, or 60 s passed.
ip netns exec "$NS_B" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.99.0.2", 5000)); s.settimeout(60)
# Room for all of them at once (SO_RCVBUFFORCE): they arrive in one burst.
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)
print("ready", flush=True); n = 0
try:
    while n < int(sys.argv[1]):
        s.recv(2048); n += 1
except socket.timeout:
    pass
print(n, flush=True)' $N >"$T/recv.out" 2>"$T/recv.err" &
RECV_PID=$!
PIDS+=($RECV_PID)
for _ in $(seq 1 100); do grep -q ready "$T/recv.out" && break; sleep 0.05; done

fl_start "$NS_B" --queues 2 --rule 'udp dst port 5000 => delay 600s'
ip netns exec "$NS_A" python3 -c '
import socket
for i in range(1, 17):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.99.0.%d" % (100 + i), 0))
    for k in range(50):
        s.sendto(b"x" * 64, ("10.99.0.2", 5000))'
# Wait until faultline has read all N from its queues.
for _ in $(seq 1 200); do
	fl_stats
	[ "$(json "$T/fl.out" 'd["held_now"]')" -eq $N ] && break
	sleep 0.05
done
cp "$T/fl.out" "$T/fl.before"
fl_stop TERM
wait "$RECV_PID" || fail "receiver failed"
log "before SIGTERM: $(json "$T/fl.before" 'd["queues"]')"
read -r held released q0 q1 <<<"$(json "$T/fl.before" \
	'"%d %d %d %d" % (d["held_now"], d["released"], d["queues"][0]["held_now"], d["queues"][1]["held_now"])')"
[ "$held" -eq $N ] || fail "held_now $held before SIGTERM, expected $N"
[ "$released" -eq 0 ] || fail "$released datagrams released before SIGTERM"
[ "$q0" -gt 0 ] && [ "$q1" -gt 0 ] || fail "not held on both queues: $q0 and $q1"
got=$(tail -1 "$T/recv.out")
log "after SIGTERM: receiver got $got of $N"
[ "$got" -eq $N ] || fail "receiver got $got of $N held datagrams"
[ "$(json "$T/fl.out" 'd["released_early"]')" -eq $N ] || fail "final released_early != $N"
[ "$(json "$T/fl.out" 'd["held_now"] + sum(q["held_now"] for q in d["queues"])')" -eq 0 ] ||
	fail "final held_now != 0"
no_chain_left "$NS_B"
echo ok

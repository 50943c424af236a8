#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A simultaneous close replayed from a capture at either end (issue 17): the
# tracker's states of the far endpoint follow what its segments acknowledge.
#
# faultline in the server's namespace B delays every FIN by 300 ms
# ('tcp port 7003 => delay 300ms if fin'), both ways. The client A sends
# "go"; the server closes as soon as it reads it, the client 120 ms after
# the server closed (a file says when). Each FIN is held until after the
# other endpoint has sent its own, so both kernels close simultaneously:
# FIN_WAIT_1, then the client CLOSING (the server's FIN comes first), the
# server FIN_WAIT_2 (the client's ACK of its FIN overtakes the client's held
# FIN), then TIME_WAIT, as ss polled in both namespaces shows. The order of
# the closes is fixed, and 120 ms apart, so that the server's FIN is
# released before the client's: with the server closing last, its ACK of the
# client's FIN could pass its own held FIN and show it closing from
# CLOSE_WAIT, which it was not.
#
# tcpdump at A's interface sees the server's FIN 300 ms late, acknowledging
# the client's data but not its FIN (the server had not received it); at B's
# interface, the client's FIN 300 ms before B's kernel takes it. Replaying
# either capture, the tracker must end both endpoints in TIME_WAIT and pass
# through the states ss showed, in order. Before issue 17, the A capture gave
# the server ESTABLISHED > CLOSE_WAIT > LAST_ACK > CLOSED (the client's FIN
# taken as received when captured).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/farend.sh"
make_pair

P=$((41000 + RANDOM % 1000))
fl_start "$NS_B" --rule "tcp port $FE_PORT => delay 300ms if fin"
ip netns exec "$NS_B" python3 -c '
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.99.0.2", int(sys.argv[1])))
l.listen(1)
s, _ = l.accept()
while b"go" not in s.recv(10):
    pass
s.close()
open(sys.argv[2], "w").close()' "$FE_PORT" "$T/closed" 2>"$T/server.err" &
PIDS+=($!)
SERVER=$!
wait_listen "$NS_B" "$FE_PORT"
fe_capture_both "$P"
timeout 60 ip netns exec "$NS_A" python3 -c '
import os, socket, sys, time
s = socket.socket()
s.bind(("10.99.0.1", int(sys.argv[1])))
s.connect(("10.99.0.2", int(sys.argv[2])))
s.sendall(b"go")
while not os.path.exists(sys.argv[3]):
    time.sleep(0.005)
time.sleep(0.12)
s.close()' "$P" "$FE_PORT" "$T/closed" 2>"$T/client.err" || fail "client failed (rc $?)"
wait "$SERVER" || fail "server failed: $(cat "$T/server.err")"
fe_wait_ss "$NS_A" "$P" "$FE_PORT" TIME_WAIT
fe_wait_ss "$NS_B" "$FE_PORT" "$P" TIME_WAIT
sleep 0.1
fe_poll_stop
fe_capture_stop
fl_stop

# The kernels must have closed simultaneously, else the comparison is moot:
# each FIN acknowledges less than the other's FIN, so both kernels went
# through FIN_WAIT_1 (whether or not the poll caught it).
fe_simclose "$T/A.pcap" || fail "not a simultaneous close: FINs $(fe_fins "$T/A.pcap" | tr '\n' ' ')"
FE_MUST="0:FIN_WAIT_1 1:FIN_WAIT_1"
rc=0
fe_check A "$P" || rc=1
fe_check B "$P" || rc=1
[ $rc -eq 0 ] || fail "the tracker's states differ from the kernels'"
no_chain_left "$NS_B"
echo ok

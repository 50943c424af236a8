#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --local names the capture point when the handshake cannot (issue 17): the
# simultaneous close of 078, captured at the client A's interface from
# after the handshake on, so the tracker picks the connection up mid-stream
# and has no handshake timing to tell which end is far. Replayed with
# '--local 10.99.0.1' (the capture was taken on A), the server is the far
# end and its states must follow what ss showed in B: FIN_WAIT_1, then
# TIME_WAIT, not CLOSE_WAIT and LAST_ACK. (A capture at B's interface is
# not at B's receiver here: faultline holds the FINs between the two.)
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
# The client connects, then waits for $T/go: the captures start in between
# (60 s: only a guard against a hang, the setup may take long on a loaded machine).
timeout 60 ip netns exec "$NS_A" python3 -c '
import os, socket, sys, time
s = socket.socket()
s.bind(("10.99.0.1", int(sys.argv[1])))
s.connect(("10.99.0.2", int(sys.argv[2])))
while not os.path.exists(sys.argv[3]):
    time.sleep(0.01)
s.sendall(b"go")
while not os.path.exists(sys.argv[4]):
    time.sleep(0.005)
time.sleep(0.12)
s.close()' "$P" "$FE_PORT" "$T/go" "$T/closed" 2>"$T/client.err" &
CLIENT=$!
PIDS+=($!)
fe_wait_ss "$NS_A" "$P" "$FE_PORT" ESTABLISHED
fe_capture A "$NS_A" "va-$ID"
fe_poll_start "$P"
touch "$T/go"
wait "$CLIENT" || fail "client failed: $(cat "$T/client.err")"
wait "$SERVER" || fail "server failed: $(cat "$T/server.err")"
fe_wait_ss "$NS_A" "$P" "$FE_PORT" TIME_WAIT
fe_wait_ss "$NS_B" "$FE_PORT" "$P" TIME_WAIT
sleep 0.1
fe_poll_stop
fe_capture_stop
fl_stop

# Each FIN acknowledges less than the other's: both kernels went FIN_WAIT_1.
fe_simclose "$T/A.pcap" || fail "not a simultaneous close: FINs $(fe_fins "$T/A.pcap" | tr '\n' ' ')"
FE_MUST="0:FIN_WAIT_1 1:FIN_WAIT_1"
[ "$(tshark -r "$T/A.pcap" -Y 'tcp.flags.syn == 1' 2>/dev/null | wc -l)" = 0 ] ||
	fail "the capture has the handshake: nothing to show"
fe_check A "$P" --local 10.99.0.1 || fail "the tracker's states differ from the kernels'"
no_chain_left "$NS_B"
echo ok

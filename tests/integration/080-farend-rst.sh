#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# An abort by RST, replayed from a capture at either end (issue 17).
# faultline in the server's namespace B delays every RST by 300 ms
# ('delay 300ms if rst'), both ways. The client A sends "go" and, 50 ms
# later, aborts (SO_LINGER 0: a RST); the server, 50 ms after the client
# aborted (a file says when: the order may not depend on how fast each
# reads), closes and sends its FIN: it has not received the RST yet. The
# client, with no socket left, answers the FIN with another RST. ss polled
# in both namespaces shows the server going FIN_WAIT_1 before the RST ends
# it. Replaying either capture, the tracker must not close the server when
# the RST passes the capture point: the FIN it sends afterwards says it had
# not received it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/farend.sh"
make_pair

P=$((41000 + RANDOM % 1000))
fl_start "$NS_B" --rule "tcp port $FE_PORT => delay 300ms if rst"
ip netns exec "$NS_B" python3 -c '
import os, socket, sys, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.99.0.2", int(sys.argv[1])))
l.listen(1)
s, _ = l.accept()
while b"go" not in s.recv(10):
    pass
while not os.path.exists(sys.argv[2]):
    time.sleep(0.005)
time.sleep(0.05)
s.close()' "$FE_PORT" "$T/aborted" 2>"$T/server.err" &
PIDS+=($!)
SERVER=$!
wait_listen "$NS_B" "$FE_PORT"
fe_capture_both "$P"
timeout 60 ip netns exec "$NS_A" python3 -c '
import socket, struct, sys, time
s = socket.socket()
s.bind(("10.99.0.1", int(sys.argv[1])))
s.connect(("10.99.0.2", int(sys.argv[2])))
s.sendall(b"go")
time.sleep(0.05)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
open(sys.argv[3], "w").close()' "$P" "$FE_PORT" "$T/aborted" 2>"$T/client.err" || fail "client failed (rc $?)"
wait "$SERVER" || fail "server failed: $(cat "$T/server.err")"
fe_wait_ss "$NS_B" "$FE_PORT" "$P" -
sleep 0.1
fe_poll_stop
fe_capture_stop
fl_stop

# The server must have closed before the RST reached it, else the comparison is moot.
# B sent a FIN (a socket the RST had reached would not) and A none: B went
# from ESTABLISHED to FIN_WAIT_1; and A's RST left A before B's FIN came
# (A aborted from ESTABLISHED, not CLOSE_WAIT).
[ "$(fe_fins "$T/A.pcap" | cut -d' ' -f1 | sort -u | tr -d '\n')" = B ] ||
	fail "the server did not close first: FINs $(fe_fins "$T/A.pcap" | tr '\n' ' ')"
first=$(tshark -r "$T/A.pcap" -Y 'tcp.flags.fin == 1 or tcp.flags.reset == 1' -T fields \
	-e ip.src -e tcp.flags.reset 2>/dev/null | head -1)
[ "$first" = "$(printf '10.99.0.1\tTrue')" ] || [ "$first" = "$(printf '10.99.0.1\t1')" ] ||
	fail "the client's RST did not cross the server's FIN: the first of them is '$first'"
FE_MUST="1:FIN_WAIT_1"
# The server's FIN takes back the RST it was taken to have received.
FE_RETRACT="1:CLOSED>ESTABLISHED"
rc=0
fe_check A "$P" || rc=1
fe_check B "$P" || rc=1
[ $rc -eq 0 ] || fail "the tracker's states differ from the kernels'"
no_chain_left "$NS_B"
echo ok

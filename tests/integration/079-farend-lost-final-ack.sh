#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A close whose final ACK is lost, replayed from a capture at either end
# (issue 17). faultline in the server's namespace B drops the first segment
# that arrives at B in LAST_ACK ('drop if state LAST_ACK, first 1'): the
# client A sends "go" and closes, the server reads to the end and closes,
# the client's ACK of the server's FIN is lost after both captures saw it
# (tcpdump in B sees it before faultline drops it). The server stays in
# LAST_ACK and retransmits its FIN, the client's TIME_WAIT acknowledges it
# again, and that ACK closes the server, as ss polled in both namespaces
# shows. Replaying either capture, the tracker must not close the server at
# the first ACK: the FIN it sends after that ACK says it had not received it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/farend.sh"
make_pair

P=$((41000 + RANDOM % 1000))
fl_start "$NS_B" --rule "tcp port $FE_PORT => drop if state LAST_ACK, first 1"
fe_drain_server
fe_capture_both "$P"
timeout 60 ip netns exec "$NS_A" python3 -c '
import socket, sys
s = socket.socket()
s.bind(("10.99.0.1", int(sys.argv[1])))
s.connect(("10.99.0.2", int(sys.argv[2])))
s.sendall(b"go")
s.close()' "$P" "$FE_PORT" 2>"$T/client.err" || fail "client failed (rc $?)"
wait "$SERVER" || fail "server failed: $(cat "$T/server.err")"
fe_wait_ss "$NS_B" "$FE_PORT" "$P" -
fe_wait_ss "$NS_A" "$P" "$FE_PORT" TIME_WAIT
sleep 0.1
fe_poll_stop
fe_capture_stop
fl_stop

# The final ACK must have been lost, else the comparison is moot.
[ "$(json "$T/fl.out" 'd["rules"][0]["dropped"]')" = 1 ] || fail "faultline did not drop the final ACK"
# B's FIN acknowledges A's (B closed from CLOSE_WAIT: LAST_ACK) and is sent
# again (it was still in LAST_ACK after the lost ACK).
fe_fins "$T/A.pcap" | awk '$1 == "A" && !ha {ha = 1; a = $2} $1 == "B" {n++; if (n == 1) {s = $2; k = $3} else if ($2 != s) n = -99}
	END {exit !(ha && k == (a + 1) % 4294967296 && n >= 2)}' ||
	fail "not a lost final ACK: FINs $(fe_fins "$T/A.pcap" | tr '\n' ' ')"
FE_MUST="1:LAST_ACK"
# The server's FIN again takes back the ACK it was taken to have received.
FE_RETRACT="1:CLOSED>LAST_ACK"
rc=0
fe_check A "$P" || rc=1
fe_check B "$P" || rc=1
[ $rc -eq 0 ] || fail "the tracker's states differ from the kernels'"
no_chain_left "$NS_B"
echo ok

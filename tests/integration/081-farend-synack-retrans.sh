#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A SYN+ACK retransmitted into an established connection, replayed from a
# capture at either end (issue 17). faultline in the server's namespace B
# drops the client's first ACK of the handshake ('drop if ack-only and state
# SYN_RECEIVED, first 1'), after both captures saw it. The client A is
# established; the server, still in SYN_RECEIVED, retransmits its SYN+ACK
# after a second, the client acknowledges it again, and only then is the
# server established, as ss polled in both namespaces shows. The client then
# sends "go" and closes. Replaying either capture, the tracker must keep the
# server in SYN_RECEIVED until the second ACK: the SYN+ACK it sends after
# the first says it had not received that. The retransmitted SYN+ACK stays a
# retransmission to the classification (what the wire shows is unchanged).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/farend.sh"
make_pair

P=$((41000 + RANDOM % 1000))
fl_start "$NS_B" --rule "tcp port $FE_PORT => drop if ack-only and state SYN_RECEIVED, first 1"
fe_drain_server
fe_capture_both "$P"
timeout 60 ip netns exec "$NS_A" python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("10.99.0.1", int(sys.argv[1])))
s.connect(("10.99.0.2", int(sys.argv[2])))
time.sleep(1.5)
s.sendall(b"go")
s.close()' "$P" "$FE_PORT" 2>"$T/client.err" || fail "client failed (rc $?)"
wait "$SERVER" || fail "server failed: $(cat "$T/server.err")"
fe_wait_ss "$NS_B" "$FE_PORT" "$P" -
fe_wait_ss "$NS_A" "$P" "$FE_PORT" TIME_WAIT
sleep 0.1
fe_poll_stop
fe_capture_stop
fl_stop

[ "$(json "$T/fl.out" 'd["rules"][0]["dropped"]')" = 1 ] || fail "faultline did not drop the handshake's ACK"
# The server's SYN+ACK again takes back the ACK it was taken to have received.
FE_RETRACT="1:ESTABLISHED>SYN_RECEIVED"
rc=0
for side in A B; do
	fe_check "$side" "$P" || rc=1
	# The wire's story is unchanged: the second SYN+ACK is a retransmission.
	python3 -c 'import json,sys
ev=[json.loads(l) for l in open(sys.argv[1])]
sa=[e for e in ev if e.get("ev")=="packet" and e["flags"]=="SA"]
sys.exit(0 if len(sa)==2 and "retransmission" in sa[1]["class"] else
         "FAIL: %s capture: SYN+ACKs %s" % (sys.argv[2], [e["class"] for e in sa]))' "$T/$side.ev" "$side" || rc=1
done
[ $rc -eq 0 ] || fail "the tracker's states differ from the kernels'"
no_chain_left "$NS_B"
echo ok

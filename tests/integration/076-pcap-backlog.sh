#!/usr/bin/env bash
# --pcap to a FIFO whose reader stops (SIGSTOP): packets keep flowing (every
# datagram delayed and delivered, SIGUSR1 answered), records beyond
# --pcap-backlog are dropped whole and counted (pcap_dropped), SIGTERM gives
# up on the reader and exits 1 naming the FIFO. When the reader goes on, what
# it got reads in tshark without error: whole blocks, as many packets as
# pcap_written, and written + dropped is two records (in, out) per packet.
. "$(dirname "$0")/lib.sh"
make_pair
N=2000
mkfifo "$T/cap"
cat "$T/cap" >"$T/cap.pcapng" &
READER=$!
PIDS+=("$READER")
udp_recv "$NS_B" 5000 1500 $N
fl_start "$NS_B" --rule 'udp dst port 5000 => delay 10ms' --seed 1 --pcap "$T/cap" --pcap-backlog 65536
kill -STOP "$READER"
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 $N 200
udp_recv_wait
got=$(json "$T/recv.json" 'd["unique"]')
fl_stats
read -r delayed dropped full <<<"$(json "$T/fl.out" '"%d %d %d" % (d["rules"][0]["delayed"], d["pcap_dropped"], d["pcap_dropped_full"])')"
log "reader stopped: received $got of $N, $delayed delayed; pcap_dropped $dropped (ring full: $full)"
[ "$got" -eq $N ] || fail "received $got of $N datagrams while the capture's reader was stopped"
[ "$delayed" -eq $N ] || fail "delayed $delayed of $N"
[ "$dropped" -gt 0 ] && [ "$full" -eq "$dropped" ] || fail "no records counted as dropped"
# SIGTERM with the reader still stopped: faultline gives up on it and exits.
rc=0
kill -TERM "$FL_PID"
wait "$FL_PID" || rc=$?
FL_PID=
log "exit $rc: $(tail -1 "$T/fl.err")"
[ $rc -eq 1 ] || fail "exit $rc with records dropped, expected 1"
grep -qF "$T/cap: " "$T/fl.err" && grep -q 'packet records not written ("pcap_dropped"): the reader fell behind' "$T/fl.err" ||
	fail "no message naming the FIFO"
kill -CONT "$READER"
wait "$READER"
read -r written dropped packets <<<"$(json "$T/fl.out" '"%d %d %d" % (d["pcap_written"], d["pcap_dropped"], d["packets"])')"
tshark -r "$T/cap.pcapng" >"$T/tshark.out" 2>"$T/tshark.err" || fail "tshark: $(cat "$T/tshark.err")"
! grep -v 'Running as user' "$T/tshark.err" | grep -q . || fail "tshark: $(cat "$T/tshark.err")"
n=$(wc -l <"$T/tshark.out")
log "reader got $n packets; pcap_written $written, pcap_dropped $dropped, packets $packets"
[ "$n" -eq "$written" ] || fail "$n packets in the file, pcap_written $written"
[ $((written + dropped)) -eq $((2 * packets)) ] ||
	fail "written + dropped = $((written + dropped)), expected 2 x $packets packets (in and out)"
no_chain_left "$NS_B"
echo ok

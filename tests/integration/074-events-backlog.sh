#!/usr/bin/env bash
# --events to a FIFO whose reader stops reading: packets keep flowing (every
# datagram delayed and delivered, SIGUSR1 answered), event lines beyond
# --events-backlog are dropped whole and counted (events_dropped), and the
# exit says so with status 1. The file holds whole JSON lines only, as many
# as events_written, and written + dropped is every line: a "packet" line
# per packet seen, a "verdict" and a "release" line per datagram delayed.
. "$(dirname "$0")/lib.sh"
make_pair
N=2000
mkfifo "$T/ev"
# A reader that opens the FIFO and never reads.
sleep 600 <"$T/ev" &
STALLED=$!
PIDS+=("$STALLED")
udp_recv "$NS_B" 5000 1500 $N
fl_start "$NS_B" --rule 'udp dst port 5000 => delay 10ms' --seed 1 --events "$T/ev" --events-backlog 65536
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 $N 200
udp_recv_wait
got=$(json "$T/recv.json" 'd["unique"]')
fl_stats
read -r delayed dropped full <<<"$(json "$T/fl.out" '"%d %d %d" % (d["rules"][0]["delayed"], d["events_dropped"], d["events_dropped_full"])')"
log "reader stalled: received $got of $N, $delayed delayed; events_dropped $dropped (ring full: $full)"
[ "$got" -eq $N ] || fail "received $got of $N datagrams while the event reader stalled"
[ "$delayed" -eq $N ] || fail "delayed $delayed of $N"
[ "$dropped" -gt 0 ] && [ "$full" -eq "$dropped" ] || fail "no event lines counted as dropped"
# Someone reads again: what is queued gets out, then faultline stops.
cat "$T/ev" >"$T/ev.out" &
CAT=$!
PIDS+=("$CAT")
sleep 0.2
kill "$STALLED"
rc=0
kill -TERM "$FL_PID"
wait "$FL_PID" || rc=$?
FL_PID=
wait "$CAT"
log "exit $rc: $(tail -1 "$T/fl.err")"
[ $rc -eq 1 ] || fail "exit $rc with event lines dropped, expected 1"
grep -q 'event lines not written ("events_dropped"): the reader fell behind' "$T/fl.err" || fail "no message"
read -r written dropped packets <<<"$(json "$T/fl.out" '"%d %d %d" % (d["events_written"], d["events_dropped"], d["packets"])')"
lines=$(wc -l <"$T/ev.out")
log "file: $lines lines; events_written $written, events_dropped $dropped"
[ "$lines" -eq "$written" ] || fail "$lines lines in the file, events_written $written"
[ $((written + dropped)) -eq $((packets + 2 * N)) ] ||
	fail "written + dropped = $((written + dropped)), expected $packets packets + 2 x $N"
python3 -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$T/ev.out" || fail "a line in the file is not whole JSON"
no_chain_left "$NS_B"
echo ok

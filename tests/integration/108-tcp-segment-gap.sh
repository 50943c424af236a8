#!/usr/bin/env bash
# segment N gap D: toxiproxy's slicer with its delay. faultline on the
# sender's side cuts each data segment into pieces of at most 100 bytes
# that leave 5 ms apart, so the receiving application, which reads as soon
# as data arrives, gets its 10000 bytes in small reads: most of its reads
# (more than half; measured: nearly all) are of at most 100 bytes, where
# without the gap (107) most are of several pieces at once. The bytes
# arrive unchanged and the sender resends nothing (no piece overtook
# another: the flow's next segment waits for the last piece).
. "$(dirname "$0")/lib.sh"
APP="python3 $(cd "$(dirname "$0")/../tools" && pwd)/tcpapp.py"
make_pair --no-ipv6
counter() { ip netns exec "$1" nstat -asz "$2" | awk -v k="$2" '$1 == k {print $2}'; }
retrans=$(counter "$NS_A" TcpRetransSegs)
ip netns exec "$NS_B" $APP server 7003 --idle 10 >"$T/srv.json" 2>"$T/srv.err" &
srv=$!
PIDS+=("$srv")
wait_listen "$NS_B" 7003
fl_start "$NS_A" --rule 'tcp dst port 7003 => segment 100 gap 5ms'
timeout 30 ip netns exec "$NS_A" $APP send 10.99.0.2 7003 10000 --nodelay --chunk 1000 >"$T/cli.json" 2>"$T/cli.err" ||
	fail "the sender failed: $(cat "$T/cli.json" "$T/cli.err")"
wait "$srv"
fl_stop

[ "$(json "$T/srv.json" 'd["bytes"]')" -eq 10000 ] || fail "the receiver got $(json "$T/srv.json" 'd["bytes"]') bytes"
[ "$(json "$T/srv.json" 'd["ok_bytes"]')" = True ] || fail "the bytes it got are not the sender's"
reads=$(json "$T/srv.json" 'd["recvs"]')
small=$(json "$T/srv.json" 'sum(1 for s in d["sizes"] if s <= 100)')
rt=$(($(counter "$NS_A" TcpRetransSegs) - retrans))
log "$(json "$T/fl.out" 'd["rules"][0]["segmented"]') segments cut into $(json "$T/fl.out" 'd["pieces"]') pieces, 5 ms apart; the app read $reads times, $small of them at most 100 bytes, largest $(json "$T/srv.json" 'd["max_recv"]'); A retransmitted $rt"
[ "$(json "$T/fl.out" 'd["pieces"]')" -ge 100 ] || fail "fewer than 100 pieces"
[ $((small * 2)) -gt "$reads" ] || fail "only $small of $reads reads were of at most 100 bytes"
[ "$rt" -eq 0 ] || fail "A retransmitted $rt segments"
[ "$(json "$T/fl.out" 'd["inject_errors"]')" -eq 0 ] || fail "inject_errors"
echo ok

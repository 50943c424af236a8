#!/usr/bin/env bash
# Crash safety: a TCP stream crosses a delay rule while faultline is killed
# with SIGKILL 20 times, each at a random moment of its run, and 4 more times
# within 0.2 s of its start (mostly while it installs its chain; one that
# was already running is counted as such). The last kill is of a running
# one. After each kill the stream moves on (--queue-bypass; TCP resends what was held), and the next
# run starts cleanly on the same queue with one chain and one jump of each
# kind. At the end every byte arrived in order, and 'faultline cleanup'
# leaves iptables-save and ip6tables-save as they were before the first run
# (comment lines removed, chain counters blanked) and removes the control
# socket the last run left in /run/faultline (nobody answers on it).
. "$(dirname "$0")/lib.sh"
make_pair
SEED=${CRASH_SEED:-$$}
RANDOM=$SEED
log "random moments from seed $SEED (CRASH_SEED=$SEED to repeat)"

ipt_state() {
	ip netns exec "$NS_B" iptables-save | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
	echo "--- ip6"
	ip netns exec "$NS_B" ip6tables-save | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
}
ipt_state >"$T/before"

# The stream: bytes i % 251, checked by the receiver, which keeps its count in rx.count.
cat >"$T/rx.py" <<'PY'
import os, socket, sys, json
P = bytes(range(251)) * 300
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.99.0.2", 5001))
s.listen(1)
c, _ = s.accept()
total = bad = last = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    off = total % 251
    bad += b != P[off:off + len(b)]
    total += len(b)
    if total - last >= 16384:
        last = total
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write(str(total))
        os.replace(sys.argv[1] + ".tmp", sys.argv[1])
c.close()
print(json.dumps({"bytes": total, "bad_reads": bad}))
PY
cat >"$T/tx.py" <<'PY'
import os, socket, sys, time
P = bytes(range(251)) * 300
c = socket.create_connection(("10.99.0.2", 5001))
total = 0
while not os.path.exists(sys.argv[1]):
    off = total % 251
    c.sendall(P[off:off + 8192])
    total += 8192
    time.sleep(0.004)
c.shutdown(socket.SHUT_WR)
c.recv(1)
print(total)
PY
echo 0 >"$T/rx.count"
ip netns exec "$NS_B" python3 "$T/rx.py" "$T/rx.count" >"$T/rx.json" &
RX=$!
PIDS+=("$RX")
wait_listen "$NS_B" 5001
ip netns exec "$NS_A" python3 "$T/tx.py" "$T/stop" >"$T/tx.out" &
TX=$!
PIDS+=("$TX")

# moves_on N: the receiver's count passes its current value by 64 KiB.
moves_on() {
	local c0 c
	c0=$(cat "$T/rx.count")
	for _ in $(seq 1 200); do
		c=$(cat "$T/rx.count")
		[ "$c" -ge $((c0 + 65536)) ] && return 0
		sleep 0.1
	done
	fail "kill $1: the stream stalled at $c bytes"
}
# one_chain: exactly one FAULTLINE chain, of queue 4242, one jump from OUTPUT and PREROUTING.
one_chain() {
	for ipt in iptables ip6tables; do
		ip netns exec "$NS_B" $ipt-save >"$T/save"
		[ "$(grep -c '^:FAULTLINE' "$T/save")" -eq 1 ] && grep -q '^:FAULTLINE-4242 ' "$T/save" ||
			fail "$1: $ipt: expected exactly the chain FAULTLINE-4242"
		[ "$(grep -c '^-A OUTPUT .*-j FAULTLINE-4242$' "$T/save")" -eq 1 ] &&
			[ "$(grep -c '^-A PREROUTING .*-j FAULTLINE-4242$' "$T/save")" -eq 1 ] ||
			fail "$1: $ipt: expected one jump from OUTPUT and one from PREROUTING"
	done
}

RULE='tcp port 5001 => delay 5ms'
running=0
starting=0
for i in $(seq 1 24); do
	if [ $((i % 6)) -eq 3 ]; then
		# During start-up: binding the queue, installing the chain.
		"$FL" run --netns "$NS_B" --rule "$RULE" >/dev/null 2>"$T/fl.err" &
		FL_PID=$!
		sleep "0.$(printf '%03d' $((RANDOM % 200)))"
		grep -q 'faultline: running' "$T/fl.err" && running=$((running + 1)) || starting=$((starting + 1))
	else
		fl_start "$NS_B" --rule "$RULE"
		one_chain "run $i"
		sleep "0.$(printf '%03d' $((RANDOM % 500)))"
		running=$((running + 1))
	fi
	kill -9 "$FL_PID"
	wait "$FL_PID" 2>/dev/null || true
	FL_PID=
	moves_on "$i"
done
log "killed $running times while running, $starting times while starting; the stream moved on after each"

touch "$T/stop"
wait "$TX" || fail "sender failed"
wait "$RX" || fail "receiver failed"
sent=$(cat "$T/tx.out")
got=$(json "$T/rx.json" 'd["bytes"]')
bad=$(json "$T/rx.json" 'd["bad_reads"]')
log "sent $sent bytes, received $got, $bad reads out of pattern"
[ "$got" -eq "$sent" ] && [ "$bad" -eq 0 ] || fail "the stream did not arrive whole and in order"

SOCK=/run/faultline/$NS_B.queue-4242.sock
[ -S "$SOCK" ] || fail "the killed run left no control socket at $SOCK (was it renamed?)"
"$FL" cleanup --netns "$NS_B" 2>"$T/cleanup.err" || fail "cleanup exited $?: $(cat "$T/cleanup.err")"
[ -e "$SOCK" ] && fail "cleanup left the killed run's control socket $SOCK"
grep -q 'removed 1 stale control socket$' "$T/cleanup.err" || fail "cleanup did not report the socket it removed"
log "$(cat "$T/cleanup.err")"
# The last kill hit a running faultline: its chains (IPv4, IPv6) were left.
grep -q 'removed 2 chains' "$T/cleanup.err" || fail "cleanup found no chain of the last run"
ipt_state >"$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "iptables after cleanup differ from before the first run"
echo ok

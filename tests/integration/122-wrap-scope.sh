#!/usr/bin/env bash
# faultline wrap faults the wrapped command's connections only, both ways,
# its children's too: with a rule that drops ICMP echo replies, pings from
# the wrapped command (directly, from a child and from a grandchild) get no
# answer, over the veth (the reply comes in at PREROUTING) and over
# loopback (the kernel's reply leaves through OUTPUT, from no socket of
# the cgroup: the conntrack mark carries it), while the same pings from an
# unwrapped process of the same namespace, during the same run, get theirs.
# The command's exit status (3) is faultline's. A wrapped TCP server, which
# a client in the peer namespace reaches: its connection is queued from the
# first packet the accepted socket sends (its ACK of the client's data);
# the handshake, whose SYN+ACK leaves from a request socket the cgroup
# match does not see, and the client's first data are not (--events).
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6

# Wrapped pings wait 0.3 s for an answer that is dropped (the counters check
# that each reply was); unwrapped ones wait 2 s for theirs.
cat >"$T/srv.py" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.99.0.1", 7001))
s.listen(1)
open(sys.argv[1], "w").close()
c, _ = s.accept()
c.recv(100)
c.sendall(b"pong")
c.recv(100)
PY
cat >"$T/pings.sh" <<'SH'
python3 "$T/srv.py" "$T/srv.ready" &
echo "direct $(p 10.99.0.2) $(p 127.0.0.1)"
sh -c '. "$0"; echo "child $(p 10.99.0.2)"' "$T/fns.sh"
sh -c 'sh -c ". \"\$0\"; echo \"grandchild \$(p 127.0.0.1)\"" "$0"' "$T/fns.sh"
touch "$T/wrapped.done"
# Still wrapped while the unwrapped pings run.
while [ ! -e "$T/unwrapped.done" ]; do sleep 0.05; done
exit 3
SH
# p ADDR: ping's exit status (0 answered, 1 no answer).
echo 'p() { ping -n -c1 -W${W:-0.3} "$1" >/dev/null 2>&1; echo $?; }' >"$T/fns.sh"
"$FL" wrap --netns "$NS_A" --no-control -e "$T/ev.jsonl" -r 'icmp[icmptype] == icmp-echoreply => drop' \
	-- env T="$T" sh -c '. "$T/fns.sh"; . "$T/pings.sh"' >"$T/wrapped.out" 2>"$T/fl.err" &
FL_PID=$!
for _ in $(seq 1 200); do
	[ -e "$T/wrapped.done" ] && break
	kill -0 "$FL_PID" 2>/dev/null || fail "wrap ended early: $(cat "$T/fl.err")"
	sleep 0.05
done
[ -e "$T/wrapped.done" ] || fail "the wrapped pings did not finish"
. "$T/fns.sh"
unwrapped="$(W=2 ip netns exec "$NS_A" sh -c '. "$0"; echo "$(p 10.99.0.2) $(p 127.0.0.1)"' "$T/fns.sh")"
ip netns exec "$NS_A" iptables-save | grep -q -- '-m cgroup --path "/faultline-wrap\.' ||
	fail "no marking rule while the wrap runs"
[ -e "$T/srv.ready" ] || fail "the wrapped server did not start"
ip netns exec "$NS_B" python3 -c '
import socket, time
c = socket.create_connection(("10.99.0.1", 7001), timeout=5)
time.sleep(0.2)
c.sendall(b"ping")
assert c.recv(100) == b"pong"
c.close()' || fail "the client of the wrapped server failed"
touch "$T/unwrapped.done"
WRAP=$FL_PID
rc=0
wait "$FL_PID" || rc=$?
FL_PID=
[ $rc -eq 3 ] || fail "wrap exited $rc, not the command's 3: $(cat "$T/fl.err")"
log "wrapped: $(tr '\n' ';' <"$T/wrapped.out") unwrapped: $unwrapped (0 answered, 1 not)"
[ "$(cat "$T/wrapped.out")" = "direct 1 1
child 1
grandchild 1" ] || fail "a wrapped ping was answered: $(cat "$T/wrapped.out")"
[ "$unwrapped" = "0 0" ] || fail "an unwrapped ping was not answered: $unwrapped"
# One echo reply dropped per wrapped ping: the counters (stderr under wrap) say 4.
dropped=$(grep '^{' "$T/fl.err" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["dropped"])')
[ "$dropped" -eq 4 ] || fail "dropped $dropped replies, not 4"
# The server's connection in the event log: its packets, in order, as "dir flags payload".
python3 - "$T/ev.jsonl" >"$T/srv.pkts" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("ev") == "packet" and ":7001 " in d.get("flow", "") + " ":
        print(d["dir"], d["flags"], d["plen"])
PY
log "the wrapped server's connection as queued: $(tr '\n' ';' <"$T/srv.pkts")"
# The first is the server's: its ACK of "ping" (quick ACKs at a connection's start), or "pong".
case $(head -1 "$T/srv.pkts") in
"out A 0" | "out PA 4") ;;
*) fail "the server's connection should be queued from its first packet after the handshake: $(cat "$T/srv.pkts")" ;;
esac
! grep -q ' S' "$T/srv.pkts" || fail "a handshake packet was queued: $(cat "$T/srv.pkts")"
! grep -q '^in PA 4$' "$T/srv.pkts" || fail "the client's first data was queued: $(cat "$T/srv.pkts")"
grep -q '^out PA 4$' "$T/srv.pkts" && grep -q '^in FA 0$' "$T/srv.pkts" ||
	fail "the server's reply and the client's FIN were not queued: $(cat "$T/srv.pkts")"
no_chain_left "$NS_A"
CG=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ ! -e "$CG/faultline-wrap.$WRAP" ] || fail "the wrap's cgroup $CG/faultline-wrap.$WRAP was left"
echo ok

#!/usr/bin/env bash
# The tracker's final states agree with the kernel's (ss -tan), both ways of
# closing a connection that carried 100 KB through faultline in NS_B:
#  1. the client A sends and closes first: A is in TIME-WAIT, B has no socket
#     left; the tracker says endpoint 0 TIME_WAIT, endpoint 1 CLOSED, and the
#     states reached are the whole active/passive close sequences;
#  2. the server B sends a file and closes first: B is in TIME-WAIT, A has no
#     socket left; the tracker says endpoint 1 TIME_WAIT, endpoint 0 CLOSED.
# ss is read while faultline still runs, once the kernel has no socket left
# but the TIME-WAIT one (so the final ACK went through the proxy).
. "$(dirname "$0")/lib.sh"
make_pair

# ss_states NS LOCALPORT REMOTEPORT: the states of the sockets on that pair
# of ports (the listener excluded), one per line, as the tracker names them.
ss_states() {
	ip netns exec "$1" ss -Htan "( sport = :$2 and dport = :$3 )" |
		awk '$1 != "LISTEN" {gsub("-", "_", $1); print $1}'
}
# wait_ss NS LOCALPORT REMOTEPORT WANT: until ss shows exactly WANT ("" = no socket).
wait_ss() {
	local got
	for _ in $(seq 1 200); do
		got=$(ss_states "$1" "$2" "$3" | tr '\n' ' ' | sed 's/ $//')
		[ "$got" = "$4" ] && return 0
		sleep 0.05
	done
	fail "ss in $1 for :$2 <-> :$3 shows '$got', expected '$4'"
}
# wait_exit PID SECONDS: until the process has exited (tail --pid polls only each second).
wait_exit() {
	for _ in $(seq 1 $(($2 * 20))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}
head -c $((100 * 1024)) /dev/urandom >"$T/in"
P1=$((41000 + RANDOM % 1000))
P2=$((P1 + 1000))

fl_start "$NS_B" --rule 'udp port 9 => drop' --events "$T/ev.jsonl"

# 1. The client sends and closes first.
ip netns exec "$NS_B" socat -u TCP-LISTEN:8080,reuseaddr OPEN:"$T/out1",creat,trunc 2>"$T/recv1.err" &
RECV_PID=$!
PIDS+=("$RECV_PID")
wait_listen "$NS_B" 8080
timeout 30 ip netns exec "$NS_A" socat -u OPEN:"$T/in" TCP:10.99.0.2:8080,sourceport=$P1 2>"$T/send1.err" ||
	fail "sender 1 failed (rc $?)"
wait_exit "$RECV_PID" 20 || fail "receiver 1 did not finish"
wait "$RECV_PID" || fail "receiver 1 failed"
cmp -s "$T/in" "$T/out1" || fail "transfer 1 corrupted"
wait_ss "$NS_B" 8080 "$P1" ""
wait_ss "$NS_A" "$P1" 8080 TIME_WAIT
ssa1=$(ss_states "$NS_A" "$P1" 8080)
ssb1=$(ss_states "$NS_B" 8080 "$P1")

# 2. The server sends a file and closes first.
ip netns exec "$NS_B" socat -u OPEN:"$T/in" TCP-LISTEN:8081,reuseaddr 2>"$T/send2.err" &
SEND_PID=$!
PIDS+=("$SEND_PID")
wait_listen "$NS_B" 8081
timeout 30 ip netns exec "$NS_A" socat -u TCP:10.99.0.2:8081,sourceport=$P2 OPEN:"$T/out2",creat,trunc \
	2>"$T/recv2.err" || fail "receiver 2 failed (rc $?)"
wait_exit "$SEND_PID" 20 || fail "sender 2 did not finish"
wait "$SEND_PID" || fail "sender 2 failed"
cmp -s "$T/in" "$T/out2" || fail "transfer 2 corrupted"
wait_ss "$NS_A" "$P2" 8081 ""
wait_ss "$NS_B" 8081 "$P2" TIME_WAIT
ssa2=$(ss_states "$NS_A" "$P2" 8081)
ssb2=$(ss_states "$NS_B" 8081 "$P2")
fl_stop

# One pass over the final JSON and the events: ss said ($1..$4) A/B for
# connection 1 and A/B for connection 2 ("" = no socket).
python3 - "$T/fl.out" "$T/ev.jsonl" "$P1" "$P2" "$ssa1" "$ssb1" "$ssa2" "$ssb2" <<'PY' || exit 1
import json, sys
out, evf, p1, p2, ssa1, ssb1, ssa2, ssb2 = sys.argv[1:]
d = json.loads([l for l in open(out) if l.startswith("{")][-1])
ev = [json.loads(l) for l in open(evf)]
bad = []
def conn(port):
    cs = [c for c in d["connections"] if c["conn"].startswith("10.99.0.1:%s " % port)]
    if len(cs) != 1:
        sys.exit("FAIL: client port %s: %d connections in the summary" % (port, len(cs)))
    return cs[0]
def last(port):
    l = {}
    for e in ev:
        if e.get("ev") == "transition" and e["conn"].startswith("10.99.0.1:%s " % port):
            l[e["endpoint"]] = e["new"]
    return [l.get(0), l.get(1)]
def check(name, c, ss, want_reached, port):
    # ss: what the kernel showed for endpoint 0 (A) and 1 (B); no socket = CLOSED.
    want = [s or "CLOSED" for s in ss]
    print("  %s: ss A %s, B %s; tracker %s; reached %s; %d segments, %d retransmissions"
          % (name, ss[0] or "none", ss[1] or "none", c["state"], c["reached"], c["segments"],
             c["retransmissions"]), file=sys.stderr)
    if c["state"] != want:
        bad.append("%s: tracker states %s, ss says %s" % (name, c["state"], want))
    for e in (0, 1):
        miss = [s for s in want_reached[e] if s not in c["reached"][e]]
        if miss:
            bad.append("%s: endpoint %d never reached %s" % (name, e, miss))
    if not {"LISTEN", "SYN_RECEIVED"} & set(c["reached"][1]):
        bad.append("%s: endpoint 1 reached neither LISTEN nor SYN_RECEIVED" % name)
    # Nothing was dropped or held, so nothing is blamed on faultline. The
    # kernel may still retransmit now and then (1 run in 7 or so): a FIN
    # early-demuxed to the socket while the orphaned FIN_WAIT_2 socket was
    # being turned into a timewait one is discarded after the queue (see
    # 023), and the peer resends it after an RTO; the tracker counts that
    # retransmission, as tshark would.
    if c["retransmissions_faultline"] or c["out_of_order_faultline"] or c["dup_acks_faultline"]:
        bad.append("%s: blamed on faultline, which did nothing: %s" % (name, c))
    if last(port) != want:
        bad.append("%s: last transitions in the events %s, ss says %s" % (name, last(port), want))
c1, c2 = conn(p1), conn(p2)
# The kernel must have shown the expected states, else the comparison is moot.
if [ssa1, ssb1] != ["TIME_WAIT", ""] or [ssa2, ssb2] != ["", "TIME_WAIT"]:
    bad.append("ss showed %s / %s" % ([ssa1, ssb1], [ssa2, ssb2]))
check("client closes first", c1, [ssa1, ssb1],
      [["SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"],
       ["ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"]], p1)
check("server closes first", c2, [ssa2, ssb2],
      [["SYN_SENT", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"],
       ["ESTABLISHED", "FIN_WAIT_1", "TIME_WAIT"]], p2)
for b in bad:
    print("FAIL: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
no_chain_left "$NS_B"
echo ok

#!/usr/bin/env bash
# A data segment held past the end of its connection arrives stale.
# faultline in the server's namespace B holds the client's first data
# segment for 3 s ('tcp dst port 8080 and tcp[13] & 8 != 0 => delay 3s,
# first 1'). The client writes "hello", then "world", and closes; its kernel
# retransmits "hello" (tail loss probe / RTO), the server gets both, both
# sides close: A in TIME-WAIT, B without a socket. Then faultline releases the
# held original. The events show:
#  - the hold verdict, and the client's retransmission blamed on it
#    (caused_by = the held segment);
#  - the close (endpoint 0 TIME_WAIT, endpoint 1 CLOSED) before the release;
#  - at the release, a class event "stale" for that very segment (same seg
#    number, egress view: what the receiver got), with the receiver CLOSED;
#  - what B's kernel answered: a RST from endpoint 1, itself stale (the
#    connection is over), which A's TIME-WAIT ignores (its sequence number
#    is the old one, not RCV.NXT): ss in A still shows TIME-WAIT and the
#    tracker keeps endpoint 0 in TIME_WAIT.
# --time-wait 30s keeps the entry in the tracker for the whole test.
#
# Early demux stays on (the default): faultline takes incoming packets at
# PREROUTING, before the kernel's early socket lookup, so the held segment
# does not carry a reference to the socket that closes meanwhile. (Held at
# INPUT, it would be processed against the dead socket and silently dropped,
# no RST.) The lookup happens at delivery and finds nothing: B answers with
# a RST, every time.
. "$(dirname "$0")/lib.sh"
make_pair


P=$((41000 + RANDOM % 1000))
ip netns exec "$NS_B" socat -u TCP-LISTEN:8080,reuseaddr OPEN:"$T/out",creat,trunc 2>"$T/recv.err" &
RECV_PID=$!
PIDS+=("$RECV_PID")
wait_listen "$NS_B" 8080
fl_start "$NS_B" --time-wait 30s --events "$T/ev.jsonl" \
	--rule 'tcp dst port 8080 and tcp[13] & 8 != 0 => delay 3s, first 1'
ip netns exec "$NS_A" timeout 20 python3 -c '
import socket, sys, time
s = socket.create_connection(("10.99.0.2", 8080), source_address=("10.99.0.1", int(sys.argv[1])))
s.sendall(b"hello")
time.sleep(0.05)
s.sendall(b"world")
s.close()' "$P" || fail "client failed"
wait "$RECV_PID" || fail "receiver failed"
[ "$(cat "$T/out")" = helloworld ] || fail "server got '$(cat "$T/out")'"

# Until the held segment has been released (at 3 s) and B's RST went out.
for _ in $(seq 1 300); do
	grep -q '"rst"' "$T/ev.jsonl" && break
	sleep 0.05
done
sleep 0.2
ss_a=$(ip netns exec "$NS_A" ss -Htan "( sport = :$P and dport = :8080 )" | awk '{print $1}')
ss_b=$(ip netns exec "$NS_B" ss -Htan "( sport = :8080 and dport = :$P )" | awk '{print $1}')
fl_stop
log "after the release: ss in A '$ss_a', in B '${ss_b:-none}';" \
	"tracker $(json "$T/fl.out" "[c['state'] for c in d['connections'] if c['conn'].startswith('10.99.0.1:$P ')]")"
[ "$ss_a" = TIME-WAIT ] || fail "ss in A shows '$ss_a', expected TIME-WAIT"
[ -z "$ss_b" ] || fail "ss in B shows '$ss_b', expected no socket"
[ "$(json "$T/fl.out" "[c['state'] for c in d['connections'] if c['conn'].startswith('10.99.0.1:$P ')]")" = \
	"[['TIME_WAIT', 'CLOSED']]" ] || fail "tracker states differ from ss"
[ "$(json "$T/fl.out" 'd["rules"][0]["delayed"]')" -eq 1 ] || fail "rule did not hold exactly one segment"

python3 - "$T/ev.jsonl" "$P" <<'PY' || exit 1
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
port = sys.argv[2]
conn = lambda e: e.get("conn", "").startswith("10.99.0.1:%s " % port)
def find(start, pred, what):
    for i in range(start, len(evs)):
        if pred(evs[i]):
            return i
    for e in evs:
        print("  " + json.dumps(e), file=sys.stderr)
    sys.exit("FAIL: no %s after event %d" % (what, start))
syn = find(0, lambda e: e["ev"] == "flow-new" and conn(e), "new connection")
hello_seq = (evs[syn]["seq"] + 1) % (1 << 32)
hold = find(0, lambda e: e["ev"] == "verdict" and e["verdict"] == "hold"
            and e["flow"] == "tcp 10.99.0.1:%s > 10.99.0.2:8080" % port and e["dir"] == "in", "hold verdict")
tw = find(0, lambda e: e["ev"] == "transition" and conn(e) and e["endpoint"] == 0 and e["new"] == "TIME_WAIT",
          "client TIME_WAIT")
cl = find(0, lambda e: e["ev"] == "transition" and conn(e) and e["endpoint"] == 1 and e["new"] == "CLOSED",
          "server CLOSED")
stale = find(0, lambda e: e["ev"] == "class" and conn(e) and "stale" in e["class"] and e["endpoint"] == 0,
             "stale class event from the client")
s = evs[stale]
if s["view"] != "egress" or s["len"] != 5 or s["seq"] != hello_seq:
    sys.exit("FAIL: the first stale event is not the release of the held \"hello\": %s" % json.dumps(s))
# The client sends "hello" again meanwhile: a retransmission, or for tshark
# (and the tracker) out-of-order when it follows the SACK of "world" within
# the initial RTT (RACK). ("world" may be retransmitted too: a tail loss
# probe.)
rtx = find(hold, lambda e: e["ev"] == "class" and conn(e) and e["endpoint"] == 0 and e["view"] == "ingress"
           and e["seq"] == s["seq"] and e["seg"] > s["seg"]
           and ({"retransmission", "out-of-order"} & set(e["class"])),
           "resend of the held \"hello\" by the client")
held = s["seg"]
# What the hold provoked is blamed on it: the resend, or the out-of-order
# arrival of "world" at the server.
blamed = [e for e in evs if e["ev"] == "class" and conn(e) and e["caused_by"] == held]
if not blamed:
    sys.exit("FAIL: no event has caused_by %d (the held segment)" % held)
if not max(tw, cl) < stale:
    sys.exit("FAIL: the held segment was released before the connection closed (events %d, %d, %d)"
             % (tw, cl, stale))
if s["t"] - evs[hold]["t"] < 2.9:
    sys.exit("FAIL: released %.3f s after the hold, expected >= 3 s" % (s["t"] - evs[hold]["t"]))
rst = find(stale, lambda e: e["ev"] == "class" and conn(e) and e["endpoint"] == 1 and "rst" in e["class"],
           "RST from the server after the release")
r = evs[rst]
if "stale" not in r["class"]:
    sys.exit("FAIL: the server's RST is not classed stale: %s" % json.dumps(r))
# The RST answers the held segment: its sequence number is that segment's ACK.
if r["seq"] != s["ack"]:
    sys.exit("FAIL: RST seq %d, the held segment acked %d" % (r["seq"], s["ack"]))
# Nothing moved the client out of TIME_WAIT afterwards.
later = [e for e in evs[stale:] if e["ev"] == "transition" and conn(e)]
if later:
    sys.exit("FAIL: transitions after the stale segment: %s" % later)
print("  hold at t=%.3f; resend seg %d t=%.3f %s caused_by %d; blamed on the hold: %s;"
      " TIME_WAIT t=%.3f, server CLOSED t=%.3f; stale release seg %d t=%.3f %s;"
      " answer: seg %d t=%.3f %s %s"
      % (evs[hold]["t"], evs[rtx]["seg"], evs[rtx]["t"], evs[rtx]["class"], evs[rtx]["caused_by"],
         [(e["seg"], e["view"], e["class"]) for e in blamed], evs[tw]["t"], evs[cl]["t"], s["seg"], s["t"],
         s["class"], r["seg"], r["t"], r["flags"], r["class"]), file=sys.stderr)
PY
no_chain_left "$NS_B"
echo ok

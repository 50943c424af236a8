#!/usr/bin/env bash
# 'tcp port 8080 => drop if state LAST_ACK' in the server's namespace B: the
# client A sends a few bytes and closes first; the server closes too and
# waits in LAST-ACK for an ACK that faultline drops every time. The events
# show, in this order:
#  1. endpoint 0 (the client) going to TIME_WAIT,
#  2. a drop verdict (the final ACK, on its way into B),
#  3. the server retransmitting its FIN: a class event from endpoint 1 with
#     "retransmission" and "fin", caused_by naming the dropped ACK,
#  4. the client's TIME_WAIT answering it with another ACK (a dup-ack class
#     event from endpoint 0, or one more drop of a segment from A).
# Meanwhile ss in B shows the server socket in LAST-ACK, and the tracker
# keeps endpoint 1 in LAST_ACK.
. "$(dirname "$0")/lib.sh"
make_pair

# count_ev PY_CONDITION: events (e) for which the condition holds.
count_ev() {
	python3 -c 'import json,sys
print(sum(1 for l in open(sys.argv[1]) for e in [json.loads(l)] if eval(sys.argv[2])))' "$T/ev.jsonl" "$1"
}

P=$((41000 + RANDOM % 1000))
fl_start "$NS_B" --rule 'tcp port 8080 => drop if state LAST_ACK' --events "$T/ev.jsonl"
ip netns exec "$NS_B" socat -u TCP-LISTEN:8080,reuseaddr OPEN:"$T/out",creat,trunc 2>"$T/recv.err" &
RECV_PID=$!
PIDS+=("$RECV_PID")
wait_listen "$NS_B" 8080
echo hello-lastack >"$T/in"
timeout 20 ip netns exec "$NS_A" socat -u OPEN:"$T/in" TCP:10.99.0.2:8080,sourceport=$P 2>"$T/send.err" ||
	fail "sender failed (rc $?)"
wait "$RECV_PID" || fail "receiver failed"
cmp -s "$T/in" "$T/out" || fail "payload not delivered"

# Wait until the server has retransmitted its FIN at least twice (a tail
# loss probe after about 200 ms, the RTO about 200 ms later; then 400 ms,
# 800 ms, ...) and the client answered, as the events tell.
# conn: this connection's tracker events; A > B: verdicts on A's segments.
CONN="e.get('conn','').startswith('10.99.0.1:$P ')"
ATOB="e.get('flow','') == 'tcp 10.99.0.1:$P > 10.99.0.2:8080'"
RFIN="e['ev'] == 'class' and $CONN and e['endpoint'] == 1 and 'retransmission' in e['class'] and 'fin' in e['class']"
for _ in $(seq 1 200); do
	[ "$(count_ev "$RFIN")" -ge 2 ] && break
	sleep 0.1
done
ss_b=$(ip netns exec "$NS_B" ss -Htan "( sport = :8080 and dport = :$P )" | awk '{print $1}')
ss_a=$(ip netns exec "$NS_A" ss -Htan "( sport = :$P and dport = :8080 )" | awk '{print $1}')
fl_stop

log "while faultline ran: ss in B '$ss_b', in A '$ss_a'"
log "tracker: $(json "$T/fl.out" "[(c['state'], c['retransmissions'], c['retransmissions_faultline'], c['dup_acks']) for c in d['connections'] if c['conn'].startswith('10.99.0.1:$P ')]") (state, retransmissions, by faultline, dup-acks)"
log "rule 0 dropped $(json "$T/fl.out" 'd["rules"][0]["dropped"]')"
[ "$ss_b" = LAST-ACK ] || fail "ss in B shows '$ss_b', expected LAST-ACK"
[ "$ss_a" = TIME-WAIT ] || fail "ss in A shows '$ss_a', expected TIME-WAIT"
[ "$(json "$T/fl.out" "[c['state'] for c in d['connections'] if c['conn'].startswith('10.99.0.1:$P ')]")" = \
	"[['TIME_WAIT', 'LAST_ACK']]" ] || fail "tracker states differ from ss"

# The sequence, in file order (the events are written as they happen).
python3 - "$T/ev.jsonl" "$P" <<'PY' || exit 1
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
port = sys.argv[2]
conn = lambda e: e.get("conn", "").startswith("10.99.0.1:%s " % port)
a_to_b = lambda e: e.get("flow") == "tcp 10.99.0.1:%s > 10.99.0.2:8080" % port
def find(start, pred, what):
    for i in range(start, len(evs)):
        if pred(evs[i]):
            return i
    for e in evs:
        print("  " + json.dumps(e), file=sys.stderr)
    sys.exit("FAIL: no %s after event %d" % (what, start))
i1 = find(0, lambda e: e["ev"] == "transition" and conn(e) and e["endpoint"] == 0
          and e["new"] == "TIME_WAIT", "transition of endpoint 0 to TIME_WAIT")
i2 = find(i1, lambda e: e["ev"] == "verdict" and a_to_b(e) and e["verdict"] == "drop",
          "drop verdict on a segment from A")
i3 = find(i2, lambda e: e["ev"] == "class" and conn(e) and e["endpoint"] == 1
          and "retransmission" in e["class"] and "fin" in e["class"], "FIN retransmission by endpoint 1")
r = evs[i3]
if not r["caused_by"]:
    sys.exit("FAIL: the FIN retransmission has caused_by 0: %s" % json.dumps(r))
# It names a segment sent after the server's FIN (which moved the client to
# TIME_WAIT) and before this retransmission of it: the client's final ACK.
if not evs[i1]["seg"] < r["caused_by"] < r["seg"]:
    sys.exit("FAIL: caused_by %d is not between the FIN (seg %d) and its retransmission (seg %d)"
             % (r["caused_by"], evs[i1]["seg"], r["seg"]))
i4 = find(i3 + 1, lambda e: (e["ev"] == "class" and conn(e) and e["endpoint"] == 0 and "dup-ack" in e["class"])
          or (e["ev"] == "verdict" and a_to_b(e) and e["verdict"] == "drop"),
          "answer from endpoint 0 (dup-ack or dropped ACK)")
drops = sum(1 for e in evs if e["ev"] == "verdict" and e["verdict"] == "drop")
non_a = [e for e in evs if e["ev"] == "verdict" and e["verdict"] == "drop" and not a_to_b(e)]
if non_a:
    sys.exit("FAIL: drops of segments not from A: %s" % json.dumps(non_a[0]))
rfin = [e for e in evs if e["ev"] == "class" and conn(e) and e["endpoint"] == 1
        and "retransmission" in e["class"] and "fin" in e["class"]]
print("  events: TIME_WAIT at t=%.3f, first drop t=%.3f, FIN retransmission t=%.3f seg %d caused_by %d,"
      " answer t=%.3f (%s); %d drops, %d FIN retransmissions (caused_by %s)"
      % (evs[i1]["t"], evs[i2]["t"], r["t"], r["seg"], r["caused_by"], evs[i4]["t"],
         evs[i4]["ev"], drops, len(rfin), [e["caused_by"] for e in rfin]), file=sys.stderr)
# Every FIN retransmission answers a drop: none is left unblamed.
if any(not e["caused_by"] for e in rfin):
    sys.exit("FAIL: a FIN retransmission without caused_by")
PY
no_chain_left "$NS_B"
echo ok

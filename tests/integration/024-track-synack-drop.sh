#!/usr/bin/env bash
# SYN-ACKs dropped in the server's namespace B; the client's connect still
# succeeds and the tracker sees the client's SYN retransmissions.
#
# 1. 'tcp port 8080 => drop if syn-ack, count 2': two drop verdicts (both
#    SYN-ACKs, leaving B), the connection completes, the client retransmits
#    its SYN (a class event "retransmission","syn" from endpoint 0) about 1 s
#    after the first, and the server's own SYN-ACK retransmission is blamed
#    on the first SYN-ACK faultline dropped (caused_by).
#    Two drops give only one SYN retransmission here, not two: the server's
#    SYN-ACK timer (1 s) expires with the client's SYN timer (1 s), so one of
#    the two drops is spent on the server's retransmission and the SYN-ACK
#    answering the second SYN gets through.
# 2. The back-off, 1 s then 2 s: that needs every SYN-ACK before the third
#    SYN dropped, and the server's timer away from the client's. So on port
#    8081 the first SYN is held 400 ms (the server's timers then run 0.4 s
#    behind the client's: SYN-ACKs at 0.4 (answer), 1.0 (answer to SYN 2,
#    which restarts the server's 1 s timer), 2.0 (timer), 3.0 (answer to SYN
#    3)), and the first three SYN-ACKs are dropped. The client sends SYNs at
#    0, 1 and 3 s. Kernels since 6.10 retransmit the first SYNs at linear
#    1 s intervals (net.ipv4.tcp_syn_linear_timeouts, default 4); the client
#    namespace sets it to 0 for the classic exponential back-off.
# Only lower bounds on the gaps: a busy machine makes timers late, not early.
. "$(dirname "$0")/lib.sh"
make_pair


if [ -e /proc/sys/net/ipv4/tcp_syn_linear_timeouts ]; then
	ip netns exec "$NS_A" sysctl -qw net.ipv4.tcp_syn_linear_timeouts=0
fi
echo hello-synack >"$T/hi"
P1=$((41000 + RANDOM % 1000))
P2=$((P1 + 1000))
ip netns exec "$NS_B" socat -u OPEN:"$T/hi" TCP-LISTEN:8080,reuseaddr 2>"$T/srv1.err" &
PIDS+=($!)
ip netns exec "$NS_B" socat -u OPEN:"$T/hi" TCP-LISTEN:8081,reuseaddr 2>"$T/srv2.err" &
PIDS+=($!)
wait_listen "$NS_B" 8080
wait_listen "$NS_B" 8081

fl_start "$NS_B" --events "$T/ev.jsonl" \
	--rule 'tcp port 8080 => drop if syn-ack, count 2' \
	--rule 'tcp dst port 8081 and tcp[13] == 2 => delay 400ms, first 1' \
	--rule 'tcp port 8081 => drop if syn-ack, count 3'
timeout 30 ip netns exec "$NS_A" socat -u TCP:10.99.0.2:8080,sourceport=$P1 OPEN:"$T/got1",creat,trunc \
	2>"$T/cli1.err" || fail "connect 1 failed (rc $?)"
timeout 30 ip netns exec "$NS_A" socat -u TCP:10.99.0.2:8081,sourceport=$P2 OPEN:"$T/got2",creat,trunc \
	2>"$T/cli2.err" || fail "connect 2 failed (rc $?)"
fl_stop
cmp -s "$T/hi" "$T/got1" || fail "connection 1 did not deliver the payload"
cmp -s "$T/hi" "$T/got2" || fail "connection 2 did not deliver the payload"
log "rules dropped $(json "$T/fl.out" '[r["dropped"] for r in d["rules"]]')," \
	"delayed $(json "$T/fl.out" '[r["delayed"] for r in d["rules"]]')"
[ "$(json "$T/fl.out" '[r["dropped"] for r in d["rules"]]')" = "[2, 0, 3]" ] ||
	fail "rules dropped $(json "$T/fl.out" '[r["dropped"] for r in d["rules"]]'), expected [2, 0, 3]"

python3 - "$T/ev.jsonl" "$P1" "$P2" <<'PY' || exit 1
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
p1, p2 = sys.argv[2], sys.argv[3]
bad = []
def conn_of(port):
    return lambda e: e.get("conn", "").startswith("10.99.0.1:%s " % port)
def syns(port):
    """Times of the client's SYNs: the one opening the flow, then its retransmissions."""
    c = conn_of(port)
    t = [e["t"] for e in evs if c(e) and e["ev"] == "flow-new" and e["flags"] == "S" and e["endpoint"] == 0]
    t += [e["t"] for e in evs if c(e) and e["ev"] == "class" and e["endpoint"] == 0
          and "syn" in e["class"] and "retransmission" in e["class"] and e["view"] == "ingress"]
    return sorted(t)
def drops(port):
    return [e for e in evs if e["ev"] == "verdict" and e["verdict"] == "drop"
            and e["flow"] == "tcp 10.99.0.2:%d > 10.99.0.1:%s" % (8080 if port == p1 else 8081, port)]
def established(port):
    c = conn_of(port)
    return [e["t"] for e in evs if c(e) and e["ev"] == "transition" and e["new"] == "ESTABLISHED"]
for port, ndrop in ((p1, 2), (p2, 3)):
    d = drops(port)
    all_drops = [e for e in evs if e["ev"] == "verdict" and e["verdict"] == "drop"
                 and (":%s " % port in e["flow"] or e["flow"].endswith(":%s" % port))]
    if len(d) != ndrop or len(all_drops) != ndrop:
        bad.append("port %s: %d drops of B's segments (%d in all), expected %d" % (port, len(d), len(all_drops), ndrop))
    if any(e["dir"] != "out" for e in d):
        bad.append("port %s: a drop not on OUTPUT" % port)
    if len(established(port)) != 2:
        bad.append("port %s: %d transitions to ESTABLISHED, expected 2" % (port, len(established(port))))
s1, s2 = syns(p1), syns(p2)
g1 = [round(b - a, 3) for a, b in zip(s1, s1[1:])]
g2 = [round(b - a, 3) for a, b in zip(s2, s2[1:])]
# The server's SYN-ACK retransmissions, and what the tracker blames them on.
c1 = conn_of(p1)
sa1 = [(e["seg"], e["caused_by"]) for e in evs if c1(e) and e["ev"] == "class" and e["endpoint"] == 1
       and "syn-ack" in e["class"] and "retransmission" in e["class"]]
syn_blame = [e["caused_by"] for e in evs if (c1(e) or conn_of(p2)(e)) and e["ev"] == "class"
             and e["endpoint"] == 0 and "syn" in e["class"] and "retransmission" in e["class"]]
print("  1 (count 2): SYNs at %s, gaps %s; SYN-ACK retransmissions (seg, caused_by) %s" % (s1, g1, sa1), file=sys.stderr)
print("  2 (count 3, first SYN held): SYNs at %s, gaps %s" % (s2, g2), file=sys.stderr)
print("  caused_by of the SYN retransmissions: %s" % syn_blame, file=sys.stderr)
if len(s1) < 2:
    bad.append("1: the client's SYN was not retransmitted")
elif g1[0] < 0.8:
    bad.append("1: SYN retransmitted %.3f s after the first (< 0.8 s)" % g1[0])
# Segment 2 is the first SYN-ACK, the one faultline dropped first.
if not sa1 or sa1[0][1] != 2:
    bad.append("1: the server's first SYN-ACK retransmission is not blamed on segment 2: %s" % sa1)
if len(s2) < 3:
    bad.append("2: %d SYNs, expected at least 3" % len(s2))
else:
    if g2[0] < 0.8 or g2[1] < 1.6:
        bad.append("2: gaps between SYNs %s, expected >= 0.8 s then >= 1.6 s" % g2)
    est = established(p2)
    if est and min(est) < s2[2]:
        bad.append("2: established at %.3f, before the third SYN at %.3f" % (min(est), s2[2]))
for b in bad:
    print("FAIL: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
no_chain_left "$NS_B"
echo ok

#!/usr/bin/env bash
# The tracker counts retransmissions as tshark does, and blames them on the
# segments faultline dropped.
#
# faultline in the receiver's namespace B drops 5 % of the segments entering
# B ('tcp port 9000 => drop 5%, in') during a 3 MB transfer A -> B. tcpdump
# on B's veth sees every segment that enters B before faultline does (it
# captures before INPUT, the dropped ones included) and every segment B sends
# after faultline let it out, so tshark's analysis of the capture and the
# tracker's ingress view are of the same segments. With only 'in' drops,
# nothing faultline drops is missing from the capture.
# Offloads (TSO/GSO/GRO) are off on both veth ends, so that both see wire
# segments, not super-packets.
#
# A second rule 'tcp port 9000 => delay 0ms' fires on every segment the
# first did not drop (and holds nothing), so every segment has exactly one
# verdict line, written in
# the order the tracker numbers segments: the n-th verdict line of the
# connection is the tracker's segment n (checked against the class events'
# direction and length).
#
# Asserted:
#  - the tracker's retransmissions (summary, and ingress class events) equal
#    tshark's tcp.analysis.retransmission / fast / spurious count within
#    max(2, 10 %): the two classify from different timestamps (tcpdump's at
#    the device, the tracker's at the queue read), and tshark's
#    out-of-order versus retransmission test depends on the time since the
#    last new data, so a segment near that line can go either way;
#  - every nonzero caused_by of a retransmission names a segment faultline
#    dropped, from the same sender, earlier;
#  - at least 90 % of the dropped data segments are named by the caused_by
#    of some retransmission. Not all of them: when faultline drops a
#    retransmission too, the next retransmission of the same bytes is
#    blamed on the first (oldest) drop of those bytes, and the tracker
#    remembers only the three most recent faultline drops per connection.
. "$(dirname "$0")/lib.sh"
make_pair

wait_listen() {
	for _ in $(seq 1 200); do
		ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q . && return 0
		sleep 0.05
	done
	fail "nothing listens on port $2 in $1"
}

if command -v ethtool >/dev/null; then
	ip netns exec "$NS_A" ethtool -K "va-$ID" gro off gso off tso off
	ip netns exec "$NS_B" ethtool -K "vb-$ID" gro off gso off tso off
	OFFLOAD=off
else
	# Super-packets then cross the veth whole, and tcpdump and faultline
	# still see the same units; the comparison holds, less finely.
	log "note: no ethtool, offloads stay on"
	OFFLOAD=on
fi

head -c $((3 * 1024 * 1024)) /dev/urandom >"$T/in"
P=$((41000 + RANDOM % 1000))
SEED=${SEED:-$((RANDOM * 32768 + RANDOM))}
ip netns exec "$NS_B" socat -u TCP-LISTEN:9000,reuseaddr OPEN:"$T/out",creat,trunc 2>"$T/recv.err" &
RECV_PID=$!
PIDS+=("$RECV_PID")
wait_listen "$NS_B" 9000
ip netns exec "$NS_B" tcpdump -i "vb-$ID" -nn -s 128 -B 8192 --immediate-mode -U -w "$T/cap.pcap" \
	tcp port 9000 2>"$T/tcpdump.err" &
TD_PID=$!
PIDS+=("$TD_PID")
for _ in $(seq 1 100); do
	grep -q 'listening on' "$T/tcpdump.err" && break
	sleep 0.05
done
grep -q 'listening on' "$T/tcpdump.err" || fail "tcpdump did not start"

fl_start "$NS_B" --seed "$SEED" --events "$T/ev.jsonl" \
	--rule 'tcp port 9000 => drop 5%, in' --rule 'tcp port 9000 => delay 0ms'
timeout 50 ip netns exec "$NS_A" socat -u OPEN:"$T/in" TCP:10.99.0.2:9000,sourceport=$P 2>"$T/send.err" ||
	fail "sender failed or timed out (rc $?)"
for _ in $(seq 1 400); do
	kill -0 "$RECV_PID" 2>/dev/null || break
	sleep 0.05
done
wait "$RECV_PID" || fail "receiver failed"
cmp -s "$T/in" "$T/out" || fail "file corrupted or truncated"
# Let the close finish through faultline (drops can delay the FIN's ACK).
for _ in $(seq 1 200); do
	ip netns exec "$NS_B" ss -Htan "( sport = :9000 and dport = :$P )" | grep -q . || break
	sleep 0.05
done
sleep 0.3
fl_stop
kill -INT "$TD_PID"
wait "$TD_PID" || true
grep -q '^0 packets dropped by kernel' "$T/tcpdump.err" || fail "tcpdump lost packets: $(cat "$T/tcpdump.err")"

tshark -r "$T/cap.pcap" -Y 'tcp.analysis.retransmission or tcp.analysis.fast_retransmission or tcp.analysis.spurious_retransmission' \
	-T fields -e frame.number 2>/dev/null | wc -l >"$T/tshark.count"
tshark -r "$T/cap.pcap" 2>/dev/null | wc -l >"$T/tshark.frames"

cp "$T/cap.pcap" "$T/ev.jsonl" "$T/fl.out" /tmp/exp/ 2>/dev/null || true
python3 - "$T/ev.jsonl" "$T/fl.out" "$P" "$(cat "$T/tshark.count")" "$(cat "$T/tshark.frames")" "$SEED" "$OFFLOAD" <<'PY' || exit 1
import json, sys
evf, outf, port, ts_rtx, ts_frames, seed, offload = sys.argv[1:]
ts_rtx, ts_frames = int(ts_rtx), int(ts_frames)
d = json.loads([l for l in open(outf) if l.startswith("{")][-1])
evs = [json.loads(l) for l in open(evf)]
a2b = "tcp 10.99.0.1:%s > 10.99.0.2:9000" % port
b2a = "tcp 10.99.0.2:9000 > 10.99.0.1:%s" % port
conn = lambda e: e.get("conn", "").startswith("10.99.0.1:%s " % port)
bad = []
cs = [c for c in d["connections"] if c["conn"].startswith("10.99.0.1:%s " % port)]
if len(cs) != 1:
    sys.exit("FAIL: %d connections in the summary" % len(cs))
c = cs[0]
# Segment n of the tracker = the n-th verdict line of the connection.
verdicts = [e for e in evs if e["ev"] == "verdict" and e["flow"] in (a2b, b2a)]
seg = {i + 1: v for i, v in enumerate(verdicts)}
if len(verdicts) != c["segments"]:
    bad.append("%d verdict lines, the tracker counted %d segments" % (len(verdicts), c["segments"]))
if len(verdicts) != ts_frames:
    bad.append("%d verdict lines, tcpdump captured %d segments" % (len(verdicts), ts_frames))
classes = [e for e in evs if e["ev"] == "class" and conn(e)]
mismatch = [e for e in classes if e["seg"] not in seg
            or seg[e["seg"]]["flow"] != (a2b if e["endpoint"] == 0 else b2a)
            or not 40 <= seg[e["seg"]]["len"] - e["len"] <= 60]
if mismatch:
    bad.append("verdict lines do not line up with the tracker's segments, e.g. %s vs %s"
               % (json.dumps(mismatch[0]), json.dumps(seg.get(mismatch[0]["seg"]))))
drops = {n for n, v in seg.items() if v["verdict"] == "drop"}
data_drops = {n for n in drops if seg[n]["len"] > 64}
ack_drops = drops - data_drops
rtx = [e for e in classes if e["view"] == "ingress" and "retransmission" in e["class"]]
blamed = [e for e in rtx if e["caused_by"]]
named = {e["caused_by"] for e in blamed}
wrong = [e for e in blamed if e["caused_by"] not in drops or e["caused_by"] >= e["seg"]
         or seg[e["caused_by"]]["flow"] != seg[e["seg"]]["flow"]]
# Drops that some later drop of the same bytes shadows cannot be named;
# without seq numbers on verdict lines, count the named share of all of them.
covered = len(data_drops & named)
tol = max(2, ts_rtx // 10)
print("  seed %s, offloads %s: %d segments (tcpdump %d), faultline dropped %d (%d data, %d other)"
      % (seed, offload, c["segments"], ts_frames, len(drops), len(data_drops), len(ack_drops)), file=sys.stderr)
print("  retransmissions: tshark %d, tracker summary %d (by faultline %d), ingress class events %d"
      " (fast %d, spurious %d); tolerance %d"
      % (ts_rtx, c["retransmissions"], c["retransmissions_faultline"], len(rtx),
         sum("fast-retransmission" in e["class"] for e in rtx),
         sum("spurious-retransmission" in e["class"] for e in rtx), tol), file=sys.stderr)
print("  caused_by: %d retransmissions blamed, %d distinct drops named, %d of %d data drops named (%.0f %%),"
      " %d unblamed retransmissions" % (len(blamed), len(named), covered, len(data_drops),
                                        100.0 * covered / max(1, len(data_drops)), len(rtx) - len(blamed)),
      file=sys.stderr)
if abs(c["retransmissions"] - ts_rtx) > tol:
    bad.append("tracker %d retransmissions, tshark %d (tolerance %d)" % (c["retransmissions"], ts_rtx, tol))
if len(rtx) != c["retransmissions"]:
    bad.append("%d retransmission class events, summary says %d" % (len(rtx), c["retransmissions"]))
if c["retransmissions_faultline"] != len(blamed):
    bad.append("summary retransmissions_faultline %d, %d events with caused_by"
               % (c["retransmissions_faultline"], len(blamed)))
if len(data_drops) < 20:
    bad.append("only %d data segments dropped: too few to judge" % len(data_drops))
if wrong:
    bad.append("%d retransmissions blame a segment faultline did not drop, e.g. %s"
               % (len(wrong), json.dumps(wrong[0])))
if covered < 0.9 * len(data_drops):
    bad.append("only %d of %d dropped data segments are named by a retransmission's caused_by"
               % (covered, len(data_drops)))
for b in bad:
    print("FAIL: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
cp "$T/cap.pcap" "$T/ev.jsonl" /tmp/exp/ 2>/dev/null || true
no_chain_left "$NS_B"
echo ok

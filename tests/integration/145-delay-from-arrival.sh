#!/usr/bin/env bash
# A delay counts from the packet's arrival at the host, not from when
# faultline read it, also with --no-track: 20 datagrams are held 200 ms,
# then faultline is stopped (SIGSTOP) while 20 more arrive and wait in the
# kernel queue, and continued. Every release is due at the kernel's
# arrival time ("arrived") plus the delay, or at once when read later
# than that; those that waited in the queue are due sooner than their read
# time plus the delay. The counters' release lateness counts every
# release and its max is the event log's largest release time - due.
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
udp_recv "$NS_B" 5000 500 40
fl_start "$NS_B" --no-track --rule 'udp dst port 5000 => delay 200ms, in' --events "$T/ev.jsonl"
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 20 1000
kill -STOP "$FL_PID"
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 20 2000 0 20
sleep 0.05
kill -CONT "$FL_PID"
udp_recv_wait
fl_stop
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 40 ] || fail "lost datagrams: $(cat "$T/recv.json")"
python3 - "$T/ev.jsonl" "$T/fl.out" <<'PY' || exit 1
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
st = [json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")][-1]
held = {e["pkt"]: e for e in ev if e["ev"] == "packet" and e.get("verdict") == "hold"}
rel = {e["pkt"]: e for e in ev if e["ev"] == "release"}
bad = []
if len(held) != 40 or len(rel) != 40:
    bad.append("%d held, %d released, not 40" % (len(held), len(rel)))
floor, waited = 0, 0
for p in sorted(held):
    e = held[p]
    t, delay = e["t"] * 1e6, e["delay_us"]
    # Arrivals count in queue order, never earlier than the one before.
    floor = max(floor, e.get("arrived", e["t"]) * 1e6)
    want = max(floor + delay, t)
    due = rel[p]["due"] * 1e6 if p in rel else 0
    if abs(due - want) > 2:
        bad.append("pkt %d due %.0f, not max(arrival + delay, read) %.0f" % (p, due, want))
    if rel.get(p, {}).get("t", 0) * 1e6 < due - 1:
        bad.append("pkt %d released before it was due" % p)
    if "arrived" in e and t - e["arrived"] * 1e6 >= 5000 and due < t + delay - 4000:
        waited += 1
if not waited:
    bad.append("no packet that waited in the queue was due sooner than its read time + delay")
late = st["release_late_us"]
worst = max((rel[p]["t"] - rel[p]["due"]) * 1e6 for p in rel)
if late["n"] != 40 or not late["p50"] <= late["p99"] <= late["max"] or abs(late["max"] - worst) > 2:
    bad.append("release_late_us %s, the log's worst %.0f us" % (late, worst))
print("  %d waited in the queue and were due sooner; release lateness %s" % (waited, late),
      file=sys.stderr)
if bad:
    print("FAIL: " + "; ".join(bad[:5]), file=sys.stderr)
    sys.exit(1)
PY
no_chain_left "$NS_B"
echo ok

#!/usr/bin/env bash
# Delays on time, in nanoseconds: datagrams "seq 0".."seq 7", sent back to
# back, are held 16.3, 14.3, ... 2.3 ms by eight rules (their payload's
# digit picks the rule), so each is due before the one sent before it.
# faultline releases them in deadline order (its event log: arrival time
# plus the delay, to the microsecond), never before their deadline, and
# the receiver gets them in that order. With --realtime the releasing
# thread (the loop thread, the process's first) runs SCHED_FIFO 10 and
# every other thread SCHED_OTHER; without it, the loop thread asks for
# short slices.
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
rules=()
for k in 0 1 2 3 4 5 6 7; do
	rules+=(--rule "udp dst port 5000 and udp[12] = $((0x30 + k)) => delay $((16300 - 2000 * k))us, in")
done
udp_recv "$NS_B" 5000 500 8
fl_start "$NS_B" "${rules[@]}" --no-track --realtime --events "$T/ev.jsonl"
if grep -q 'realtime' "$T/fl.err"; then
	fail "--realtime refused: $(cat "$T/fl.err")"
fi
# Scheduling classes, from /proc (policy is field 41: 1 = SCHED_FIFO, 0 = SCHED_OTHER).
python3 - "$FL_PID" <<'PY' || exit 1
import os, sys
pid = sys.argv[1]
bad = []
for tid in os.listdir("/proc/%s/task" % pid):
    f = open("/proc/%s/task/%s/stat" % (pid, tid)).read().rsplit(")", 1)[1].split()
    prio, policy = int(f[37]), int(f[38])
    want = (1, 10) if tid == pid else (0, 0)
    if (policy, prio) != want:
        bad.append("thread %s: policy %d priority %d, not %s" % (tid, policy, prio, want))
if bad:
    print("FAIL: " + "; ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 8 0
udp_recv_wait
fl_stop
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 8 ] || fail "lost datagrams: $(cat "$T/recv.json")"
python3 - "$T/ev.jsonl" "$T/recv.json" <<'PY' || exit 1
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
recv = [json.loads(l) for l in open(sys.argv[2]) if l.startswith("{") and "order" in l][-1]["order"]
held = {e["pkt"]: e for e in ev if e["ev"] == "packet" and e.get("verdict") == "hold"}
rel = [(e["t"] * 1e6, e["pkt"]) for e in ev if e["ev"] == "release"]
bad = []
if len(held) != 8 or len(rel) != 8:
    bad.append("%d held, %d released, not 8" % (len(held), len(rel)))
# The delay is logged as asked, to the microsecond: nothing rounded it to milliseconds.
delays = sorted(e["delay_us"] for e in held.values())
if delays != [2300.0 + 2000 * k for k in range(8)]:
    bad.append("delays logged %s" % delays)
# A delay counts from the packet's arrival (the kernel's stamp, "arrived",
# else the decision time t); each release says when it was due.
due = {e["pkt"]: e["due"] * 1e6 for e in ev if e["ev"] == "release"}
# Arrivals never count earlier than the one before (in queue order).
dl, floor = {}, 0
for p, e in sorted(held.items()):
    floor = max(floor, e.get("arrived", e["t"]) * 1e6)
    dl[p] = max(floor + e["delay_us"], e["t"] * 1e6)
    # Each time is rounded to 1 us in the log.
    if abs(due.get(p, 0) - dl[p]) > 2:
        bad.append("pkt %d due %.1f, not its arrival + delay %.1f" % (p, due.get(p, 0), dl[p]))
# The log's order is the release order (releases of one wake-up share their time).
order = [p for _, p in rel]
for a, b in zip(order, order[1:]):
    # Each t is rounded to 1 us in the log: deadlines closer than that may swap.
    if dl[a] > dl[b] + 1:
        bad.append("pkt %d (due %.1f) released before pkt %d (due %.1f)" % (a, dl[a], b, dl[b]))
for t, p in rel:
    if t < dl[p] - 1:
        bad.append("pkt %d released %.1f us early" % (p, dl[p] - t))
# The receiver's order is the release order: seq N is in payload digit N.
digit = {}
for p, e in held.items():
    digit[p] = round((16300 - e["delay_us"]) / 2000)
if [digit[p] for p in order] != recv:
    bad.append("received %s, released %s" % (recv, [digit[p] for p in order]))
late = sorted(t - dl[p] for t, p in rel)
print("  released in deadline order %s; late by %s us" % ([digit[p] for p in order],
      [round(x) for x in late]), file=sys.stderr)
if bad:
    print("FAIL: " + "; ".join(bad[:5]), file=sys.stderr)
    sys.exit(1)
PY
# Without --realtime the loop thread asks the fair scheduler for 100 us
# slices (EEVDF, Linux 6.12 on: sooner onto a busy CPU after its timer
# fires); the readers keep the default slice.
fl_start "$NS_B" "${rules[@]}" --no-track
python3 - "$FL_PID" <<'PY' || exit 1
import os, sys
pid = sys.argv[1]
if tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2]) < (6, 12):
    print("  kernel before 6.12: no slice to ask for", file=sys.stderr)
    sys.exit(0)
def slice_of(tid):
    for l in open("/proc/%s/task/%s/sched" % (pid, tid)):
        if l.startswith("se.slice"):
            return int(l.split(":")[1])
slices = {tid: slice_of(tid) for tid in os.listdir("/proc/%s/task" % pid)}
others = [s for t, s in slices.items() if t != pid]
if slices[pid] != 100000 or not others or 100000 in others:
    print("FAIL: slices %s (loop thread %s)" % (slices, pid), file=sys.stderr)
    sys.exit(1)
PY
fl_stop
no_chain_left "$NS_B"
echo ok

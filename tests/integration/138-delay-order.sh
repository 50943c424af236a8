#!/usr/bin/env bash
# Delays on time, in nanoseconds: datagrams "seq 0".."seq 7", sent back to
# back, are held 16.3, 14.3, ... 2.3 ms by eight rules (their payload's
# digit picks the rule), so each is due before the one sent before it.
# faultline releases them in deadline order (its event log: arrival time
# plus the delay, to the microsecond), never before their deadline, and
# the receiver gets them in that order. The releasing thread (named
# fl-release) runs SCHED_FIFO 10 with --realtime and by default where
# allowed, and every other thread SCHED_OTHER; with --no-realtime, or by
# default without CAP_SYS_NICE, it runs SCHED_OTHER, asks for short
# slices, and the counters say why; --realtime without CAP_SYS_NICE is
# refused.
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
# sched_check PID WANT: the releasing thread's class and priority, from
# /proc (policy is stat's field 41: 1 = SCHED_FIFO, 0 = SCHED_OTHER),
# WANT "fifo" or "other"; every other thread SCHED_OTHER at the default
# slice; the releasing thread at 100 us slices when SCHED_OTHER (kernels
# 6.12 and later).
sched_check() {
	python3 - "$1" "$2" <<'PY'
import os, sys
pid, want = sys.argv[1], sys.argv[2]
new_kernel = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2]) >= (6, 12)
bad, rel = [], []
for tid in os.listdir("/proc/%s/task" % pid):
    base = "/proc/%s/task/%s/" % (pid, tid)
    name = open(base + "comm").read().strip()
    f = open(base + "stat").read().rsplit(")", 1)[1].split()
    prio, policy = int(f[37]), int(f[38])
    sl = [int(l.split(":")[1]) for l in open(base + "sched") if l.startswith("se.slice")]
    if name == "fl-release":
        rel.append(tid)
        wanted = (1, 10) if want == "fifo" else (0, 0)
        if (policy, prio) != wanted:
            bad.append("releasing thread %s: policy %d priority %d, not %s" % (tid, policy, prio, wanted))
        if want == "other" and new_kernel and sl and sl[0] != 100000:
            bad.append("releasing thread %s: slice %d, not 100 us" % (tid, sl[0]))
    else:
        if (policy, prio) != (0, 0):
            bad.append("thread %s (%s): policy %d priority %d, not SCHED_OTHER" % (tid, name, policy, prio))
        if new_kernel and sl and sl[0] == 100000:
            bad.append("thread %s (%s) asks for the releasing thread's short slices" % (tid, name))
if len(rel) != 1:
    bad.append("%d threads named fl-release" % len(rel))
if bad:
    print("FAIL: " + "; ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
}
sched_check "$FL_PID" fifo || exit 1
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
# released: counters' release_sched and release_sched_why, as "A|B".
released() {
	json "$T/fl.out" 'd["release_sched"] + "|" + d["release_sched_why"]'
}
[ "$(released)" = "SCHED_FIFO 10|" ] || fail "--realtime: counters say $(released)"

# By default, with the privilege: the same SCHED_FIFO, unasked.
fl_start "$NS_B" "${rules[@]}" --no-track
sched_check "$FL_PID" fifo || exit 1
fl_stop
[ "$(released)" = "SCHED_FIFO 10|" ] || fail "default: counters say $(released)"

# --no-realtime: an ordinary thread, at short slices.
fl_start "$NS_B" "${rules[@]}" --no-track --no-realtime
sched_check "$FL_PID" other || exit 1
fl_stop
[ "$(released)" = "SCHED_OTHER|--no-realtime" ] || fail "--no-realtime: counters say $(released)"

# Without CAP_SYS_NICE (gone from the bounding set, so root's exec does
# not get it): the default gives it up and says why, --realtime refuses.
FL_EXEC=(setpriv --bounding-set -sys_nice)
fl_start "$NS_B" "${rules[@]}" --no-track
FL_EXEC=()
# FL_PID is setpriv's, which exec'd faultline: the same process.
sched_check "$FL_PID" other || exit 1
fl_stop
[ "$(released)" = "SCHED_OTHER|not permitted: needs CAP_SYS_NICE" ] ||
	fail "default without CAP_SYS_NICE: counters say $(released)"
if setpriv --bounding-set -sys_nice "$FL" run --netns "$NS_B" --no-control --realtime \
	-r 'udp dst port 5000 => delay 1ms' 2>"$T/err"; then
	fail "--realtime without CAP_SYS_NICE accepted"
fi
grep -q 'CAP_SYS_NICE' "$T/err" || fail "--realtime without CAP_SYS_NICE: $(cat "$T/err")"
no_chain_left "$NS_B"
echo ok

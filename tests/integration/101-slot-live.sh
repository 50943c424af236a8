#!/usr/bin/env bash
# slot live: 60 datagrams, one per ms, through 'slot 20ms packets 5'. Every
# datagram arrives, in order; faultline's event log shows them held to slot
# deadlines 20 ms apart (multiples of 20 ms from the first slot), at most
# 5 a slot, and each slot's datagrams released together: one release
# callback, within a millisecond of each other, never before the deadline.
. "$(dirname "$0")/lib.sh"
make_pair
udp_recv "$NS_B" 5000 1000 60
fl_start "$NS_B" --rule 'udp dst port 5000 => slot 20ms packets 5, in' --seed 3 --events "$T/ev.jsonl"
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 60 1000
udp_recv_wait
fl_stop
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 60 ] || fail "lost datagrams: $(cat "$T/recv.json")"
[ "$(json "$T/recv.json" 'd["order"] == sorted(d["order"])')" = True ] || fail "out of order"
python3 - "$T/ev.jsonl" <<'PY' || exit 1
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
held = {e["pkt"]: e for e in ev if e["ev"] == "packet" and e["verdict"] == "hold"}
# The deadline: the decision's time and the hold, in us (each to 0.1 us in the log).
dl = sorted((e["t"] * 1e6 + e["delay_us"], p) for p, e in held.items())
slots, last = {}, None
for d, p in dl:
    if last is None or d - last > 2:
        last = round(d)
    slots.setdefault(last, []).append(p)
times = sorted(slots)
gaps = {b - a for a, b in zip(times, times[1:])}
rel = {e["pkt"]: e["t"] * 1e6 for e in ev if e["ev"] == "release"}
bad = []
if len(held) != 60:
    bad.append("%d datagrams held, not 60" % len(held))
if max(len(v) for v in slots.values()) > 5:
    bad.append("a slot of %d" % max(len(v) for v in slots.values()))
if any(g % 20000 > 2 and 20000 - g % 20000 > 2 for g in gaps):
    bad.append("slot deadlines not 20 ms apart: %s" % sorted(gaps))
for d, ps in slots.items():
    r = [rel[p] for p in ps if p in rel]
    if len(r) != len(ps):
        bad.append("a slot's datagram was never released")
    elif min(r) < d - 2 or max(r) - min(r) > 1000:
        bad.append("slot at %d us released at %s" % (d, sorted(r)))
print("  %d slots, sizes %s, deadline gaps %s us" % (len(slots), sorted({len(v) for v in slots.values()}),
      sorted(gaps)[:4]), file=sys.stderr)
if bad:
    print("FAIL: " + "; ".join(bad[:5]), file=sys.stderr)
    sys.exit(1)
PY
no_chain_left "$NS_B"
echo ok

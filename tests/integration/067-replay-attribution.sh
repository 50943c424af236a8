#!/usr/bin/env bash
# The tracker names faultline (caused_by, the *_faultline counters) only
# when faultline acted. Two captures of one 300 KB transfer through a router
# that lost 19 segments (tests/data/README.md): on the sender's side of the
# lossy link, so the receiver missed segments the capture has, and on the
# receiver's side, so the capture misses them too. Replayed with a rule that
# matches nothing, faultline drops and holds nothing: every *_faultline
# counter must be 0 and no event may name a segment, while the plain
# counters show the loss. Before the fix: sender's side dup_acks_faultline
# 6 of 24; receiver's side out_of_order_faultline 20 and dup_acks_faultline
# 13 of 25.
. "$(dirname "$0")/lib.sh"
DATA=$(cd "$(dirname "$0")/../data" && pwd)

for side in sender receiver; do
	cap=$DATA/lossy-link-$side-side.pcap
	"$FL" replay "$cap" --rule 'tcp port 1 => drop' --events "$T/$side.ev" >"$T/$side.json" 2>"$T/$side.err" ||
		fail "$side: replay failed: $(cat "$T/$side.err")"
	python3 - "$T/$side.json" "$T/$side.ev" "$side" <<'PY' || exit 1
import json, sys
d = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
ev = [json.loads(l) for l in open(sys.argv[2])]
side = sys.argv[3]
bad = []
if d["dropped"] or d["held"] or d["rules"][0]["matched"]:
    bad.append("faultline acted: dropped %d, held %d, matched %d"
               % (d["dropped"], d["held"], d["rules"][0]["matched"]))
if len(d["connections"]) != 1:
    bad.append("%d connections" % len(d["connections"]))
c = d["connections"][0]
print("  %s side: %s" % (side, " ".join("%s %d" % (k, c[k]) for k in
      ("segments", "retransmissions", "retransmissions_faultline", "out_of_order",
       "out_of_order_faultline", "dup_acks", "dup_acks_faultline"))), file=sys.stderr)
for k in ("retransmissions", "out_of_order", "dup_acks"):
    if c[k + "_faultline"]:
        bad.append("%s_faultline %d with nothing dropped or held" % (k, c[k + "_faultline"]))
# The loss shows: resends of either kind, and dup ACKs.
if c["retransmissions"] + c["out_of_order"] < 3:
    bad.append("only %d resends" % (c["retransmissions"] + c["out_of_order"]))
if c["dup_acks"] < 5:
    bad.append("only %d dup ACKs" % c["dup_acks"])
named = [e for e in ev if e.get("caused_by")]
if named:
    bad.append("%d events name a segment, e.g. %s" % (len(named), json.dumps(named[0])))
for b in bad:
    print("FAIL: %s side: %s" % (side, b), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
done
echo ok

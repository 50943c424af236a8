#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `faultline run --scenario FILE` plays its timeline: pings are lost only
# in the phase between the step that adds the drop and the one that
# deletes it; each step is an event line ("ev":"scenario") at its time; a
# refused step is logged with its reason and the run goes on; the end step
# stops faultline as SIGTERM does (exit 0, the chain removed).
. "$(dirname "$0")/lib.sh"
make_pair
cat >"$T/t.scn" <<'SCN'
# ping is lost between 1 s and 2 s
at 1s add cut: icmp and icmp[icmptype] == icmp-echo => drop
at 1500ms del nosuch
at 2s del cut
at 3s end
SCN
rm -f "$T/fl.out" "$T/fl.err"
"$FL" run --netns "$NS_B" --scenario "$T/t.scn" --events "$T/ev.jsonl" >"$T/fl.out" 2>"$T/fl.err" &
FL_PID=$!
for _ in $(seq 1 100); do grep -q 'faultline: running' "$T/fl.err" 2>/dev/null && break; sleep 0.05; done
# Pings all along, until faultline ends by itself.
ip netns exec "$NS_A" ping -c 40 -i 0.1 -W 0.2 10.99.0.2 >"$T/ping.out" 2>&1 || true
rc=0
wait "$FL_PID" || rc=$?
FL_PID=
[ $rc -eq 0 ] || fail "faultline exited $rc after the end step: $(cat "$T/fl.err")"
grep -q 'scenario line 3: no rule named' "$T/fl.err" || fail "the refused step was not said: $(cat "$T/fl.err")"
python3 - "$T/ev.jsonl" <<'PY' || fail "the phases do not show in the traffic"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
steps = [e for e in ev if e["ev"] == "scenario"]
assert [(s["step"], s["op"]) for s in steps] == [(1, "add"), (2, "del"), (3, "del"), (4, "end")], steps
assert steps[0]["ok"] and steps[2]["ok"] and steps[3]["ok"], steps
assert "no rule named 'nosuch'" in steps[1]["error"], steps[1]
add, dele, end = steps[0]["t"], steps[2]["t"], steps[3]["t"]
assert 0.9 < add < dele < end, steps
echo = [e for e in ev if e["ev"] == "packet" and e["proto"] == "icmp" and e["dir"] == "in"]
dropped = [e["t"] for e in echo if e["verdict"] == "drop"]
passed = [e["t"] for e in echo if e["verdict"] == "accept"]
assert dropped and all(add <= t <= dele for t in dropped), (add, dele, dropped)
assert not [t for t in passed if add < t < dele], "an echo passed in the drop phase"
assert [t for t in passed if t < add] and [t for t in passed if t > dele], "no echo before or after"
print(len(dropped), "dropped between", add, "and", dele, file=sys.stderr)
PY
no_chain_left "$NS_B"
echo ok

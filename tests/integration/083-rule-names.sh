#!/usr/bin/env bash
# A named rule is known by its name wherever faultline refers to it: the
# counters printed at exit (rule objects numbered from 1, with name,
# canonical text, enabled and line), the event log's actions and `show`.
# An unnamed rule is rule-N by position.
. "$(dirname "$0")/lib.sh"
make_pair
cat >"$T/r.rules" <<'EOF'
# a comment, then an unnamed rule and a named one
udp dst port 5001 => delay 1ms
cut: udp dst port 5000 => drop, every 2
EOF
UP=$((42000 + RANDOM % 1000))
udp_recv "$NS_B" 5000 800 10
fl_start "$NS_B" --rules "$T/r.rules" --events "$T/ev.jsonl" --seed 1
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 20 1000 "$UP"
udp_recv_wait
fl_stop

# The counters at exit.
r1=$(json "$T/fl.out" 'd["rules"][0]')
r2=$(json "$T/fl.out" 'd["rules"][1]')
log "rules: $r1 / $r2"
[ "$(json "$T/fl.out" '[(r["index"], r["name"], r["rule"], r["enabled"], r["line"]) for r in d["rules"]]')" = \
  "[(1, 'rule-1', 'udp dst port 5001 => delay 1ms', True, 2), (2, 'cut', 'udp dst port 5000 => drop, every 2', True, 3)]" ] ||
	fail "rule objects: $r1 / $r2"
[ "$(json "$T/fl.out" 'd["rules"][1]["dropped"]')" -eq 10 ] || fail "'cut' dropped $(json "$T/fl.out" 'd["rules"][1]["dropped"]'), expected 10"
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 10 ] || fail "received $(json "$T/recv.json" 'd["unique"]'), expected 10"

# The event log: every drop names rule 2, 'cut'.
acts=$(python3 -c 'import json, sys
s = set()
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["ev"] in ("packet", "verdict") and e.get("verdict") == "drop":
        s.add((e["ev"], json.dumps(e["actions"])))
print(sorted(s))' "$T/ev.jsonl")
[ "$acts" = "[('packet', '[{\"rule\": 2, \"name\": \"cut\", \"action\": \"drop\"}]'), ('verdict', '[{\"rule\": 2, \"name\": \"cut\", \"action\": \"drop\"}]')]" ] ||
	fail "drop events: $acts"

# show names it beside each dropped datagram.
"$FL" show "$T/ev.jsonl" >"$T/show.txt" || fail "show failed"
n=$(grep -c '| DROPPED by rule 2 cut$' "$T/show.txt" || true)
[ "$n" -eq 10 ] || { cat "$T/show.txt" >&2; fail "show names 'cut' on $n drops, expected 10"; }

# check prints a given name, never an automatic one (and the output parses again).
"$FL" check "$T/r.rules" >"$T/canon" || fail "check failed"
[ "$(cat "$T/canon")" = "$(printf 'udp dst port 5001 => delay 1ms\ncut: udp dst port 5000 => drop, every 2')" ] ||
	fail "check printed: $(cat "$T/canon")"
no_chain_left "$NS_B"
echo ok

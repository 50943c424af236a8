#!/usr/bin/env bash
# Random decisions depend only on the seed and the packet's place in its
# flow: the same traffic with the same seed gives the same verdicts, packet
# for packet; another seed gives others. Without --seed faultline prints the
# seed it chose, and rerunning with it reproduces the run.
. "$(dirname "$0")/lib.sh"
make_pair

cat >"$T/rules" <<'EOF'
# seed determinism
udp dst port 5000 => drop 30%
udp dst port 5001 => duplicate 50%
udp => delay 1ms 20%
EOF

# run NAME [faultline args...]: the same traffic through faultline, events in $T/NAME.events,
# the (flow, ord, verdict, actions) list in $T/NAME.list.
run() {
	local name=$1 p
	shift
	rm -f "$T/recv5000.json" "$T/recv5001.json"
	for p in 5000 5001; do
		ip netns exec "$NS_B" "$UDPSEQ" recv "$p" 800 >"$T/recv$p.json" &
		PIDS+=($!)
	done
	for _ in $(seq 1 100); do
		grep -qs ready "$T/recv5000.json" && grep -qs ready "$T/recv5001.json" && break
		sleep 0.02
	done
	fl_start "$NS_B" --rules "$T/rules" --events "$T/$name.events" "$@"
	cp "$T/fl.err" "$T/$name.err"
	# A fixed source port: same flows, hence same flow hashes, in every run.
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 500 200 40000
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5001 500 200 40000
	wait "${PIDS[@]: -2}"
	fl_stop
	python3 - "$T/$name.events" >"$T/$name.list" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("ev") == "verdict":
        print(e["flow"], e["ord"], e["verdict"], json.dumps(e["actions"], sort_keys=True))
EOF
	log "$name: $(wc -l <"$T/$name.list") altered packets: $(grep -c ' drop ' "$T/$name.list" || true) dropped," \
		"$(grep -c '"duplicate"' "$T/$name.list" || true) duplicated, $(grep -c '"delay"' "$T/$name.list" || true) delayed"
}

run a --seed 1234
run b --seed 1234
run c --seed 4321
run d
seed=$(sed -n 's/^faultline: seed \([0-9]*\) (rerun with --seed \1)$/\1/p' "$T/d.err")
[ -n "$seed" ] || fail "no 'seed N (rerun with --seed N)' line on stderr without --seed: $(head -3 "$T/d.err")"
log "faultline chose seed $seed"
run e --seed "$seed"

# The list is not trivially empty: all three rules fired, on both flows.
grep -q '^udp 10.99.0.1:40000 > 10.99.0.2:5000 .* drop ' "$T/a.list" || fail "no drops on port 5000"
grep -q '^udp 10.99.0.1:40000 > 10.99.0.2:5001 .*"duplicate"' "$T/a.list" || fail "no duplicates on port 5001"
[ "$(grep -c '"delay"' "$T/a.list")" -ge 50 ] || fail "too few delays"
drops=$(json "$T/fl.out" 'd["rules"][0]["dropped"]')
cmp -s "$T/a.list" "$T/b.list" || { diff "$T/a.list" "$T/b.list" | head >&2; fail "same seed, different verdicts"; }
cmp -s "$T/a.list" "$T/c.list" && fail "seeds 1234 and 4321 gave identical verdicts"
cmp -s "$T/d.list" "$T/e.list" || { diff "$T/d.list" "$T/e.list" | head >&2; fail "rerun with the printed seed $seed differs"; }
# The counters agree with the events.
[ "$drops" -eq "$(grep -c ' drop ' "$T/e.list")" ] || fail "rule 1 dropped $drops, events say otherwise"
grep -q "\"seed\":$seed," "$T/fl.out" || fail "final counters do not carry seed $seed"
no_chain_left "$NS_B"
echo ok

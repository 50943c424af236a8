#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `faultline ctl events` streams the event lines of a live run started
# without --events, while the traffic flows: each ping's echo request and
# reply appear as packet lines (the drop rule's verdicts among them) before
# faultline stops, every line conforms to docs/events.schema.json, and the
# stream ends when faultline stops. With nobody listening no line is made.
. "$(dirname "$0")/lib.sh"
SCHEMA="python3 $(dirname "$0")/../tools/evschema.py"
make_pair
CTL=("$FL" ctl --netns "$NS_B")

fl_start "$NS_B" --rule 'cut: icmp and icmp[icmptype] == icmp-echo => drop 50%' --seed 3
"${CTL[@]}" events >"$T/ev.jsonl" 2>"$T/ev.err" &
EV=$!
PIDS+=("$EV")
# The stream starts when the client's request is in: ping until its lines come.
for _ in $(seq 1 100); do
	ip netns exec "$NS_A" ping -c 1 -W 0.2 -q 10.99.0.2 >/dev/null 2>&1 || true
	grep -q '"proto":"icmp"' "$T/ev.jsonl" 2>/dev/null && break
done
grep -q '"proto":"icmp"' "$T/ev.jsonl" || fail "no ICMP line in the stream"
# Lines come while traffic flows: 20 more echoes, each seen before faultline stops.
ip netns exec "$NS_A" ping -c 20 -i 0.05 -W 0.5 -q 10.99.0.2 >/dev/null 2>&1 || true
for _ in $(seq 1 100); do
	[ "$(grep -c '"ev":"packet","pkt":[0-9]*,"proto":"icmp"' "$T/ev.jsonl")" -ge 20 ] && break
	sleep 0.05
done
n=$(grep -c '"ev":"packet","pkt":[0-9]*,"proto":"icmp"' "$T/ev.jsonl")
[ "$n" -ge 20 ] || fail "only $n ICMP packet lines streamed while the pings ran"
grep -q '"verdict":"drop"' "$T/ev.jsonl" || fail "no drop verdict in the stream"
grep -q '"ev":"verdict"' "$T/ev.jsonl" || fail "no verdict line in the stream"
fl_stop
wait "$EV" || fail "ctl events exited $? when faultline stopped: $(cat "$T/ev.err")"
$SCHEMA events "$T/ev.jsonl" >"$T/seen.json" || fail "the streamed lines do not conform to the schema"
# No --events: the run wrote no event line to a file.
[ "$(json "$T/fl.out" 'd["events_written"]')" -eq 0 ] || fail "events written without --events"
no_chain_left "$NS_B"
echo ok

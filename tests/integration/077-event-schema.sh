#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every line faultline writes as JSON conforms to docs/events.schema.json:
# the event log and the counters (SIGUSR1 and exit) of a live run with
# every kind of event, and the event log and counters of a replay of the
# same traffic. tests/tools/evschema.py validates each line (unknown kinds
# and keys, missing keys and wrong types fail) and says what it saw, so
# that a run that no longer makes some kind of line fails here too.
. "$(dirname "$0")/lib.sh"
SCHEMA="python3 $(dirname "$0")/../tools/evschema.py"
RAWPKT=$FL_BUILD/rawpkt
make_pair

RULES=(--rule 'tcp port 8080 => drop if state LAST_ACK, first 1'
	--rule 'tcp dst port 8080 => delay 20ms if first-data'
	--rule 'udp dst port 5000 => drop 20%, duplicate 20%, corrupt 20%'
	--rule 'udp dst port 5000 => reorder 3 timeout 50ms'
	--rule 'udp dst port 5001 => rate 100kbit limit 5'
	--rule 'icmp => delay 2ms'
	--rule 'icmp6 and ip6[40] == 128 => duplicate'
	--rule 'udp dst port 5003 => delay 30s'
	--rule 'tcp dst port 8081 => reset if data, first 1')

# What B receives, before faultline (tcpdump reads ahead of PREROUTING), for the replay.
ip netns exec "$NS_B" tcpdump -i "vb-$ID" --immediate-mode -U -w "$T/cap.pcap" 2>"$T/tcpdump.err" &
TD=$!
PIDS+=("$TD")
for _ in $(seq 1 100); do grep -q listening "$T/tcpdump.err" && break; sleep 0.05; done

fl_start "$NS_B" "${RULES[@]}" --seed 7 --time-wait 300ms --events "$T/ev.jsonl"

# TCP: the final ACK of the teardown is dropped once (a FIN resent, blamed on the
# drop), the first data segment held; TIME_WAIT ends within the run (flow-end).
P=$((42000 + RANDOM % 1000))
ip netns exec "$NS_B" socat -u TCP-LISTEN:8080,reuseaddr OPEN:"$T/out",creat,trunc 2>"$T/recv.err" &
RECV_PID=$!
PIDS+=("$RECV_PID")
wait_listen "$NS_B" 8080
head -c 3000 /dev/urandom >"$T/in"
timeout 20 ip netns exec "$NS_A" socat -u OPEN:"$T/in" TCP:10.99.0.2:8080,sourceport=$P 2>"$T/send.err" ||
	fail "TCP sender failed"
wait "$RECV_PID" || fail "TCP receiver failed"
# A connection reset at its first data segment: the RSTs are "inject" lines.
ip netns exec "$NS_B" socat -u TCP-LISTEN:8081,reuseaddr OPEN:/dev/null 2>/dev/null &
RST_PID=$!
PIDS+=("$RST_PID")
wait_listen "$NS_B" 8081
timeout 20 ip netns exec "$NS_A" socat -u OPEN:"$T/in" TCP:10.99.0.2:8081 2>/dev/null || true
wait "$RST_PID" || true

# UDP through drop, duplicate, corrupt and reorder; a burst that overflows a rate
# queue; two datagrams still held at SIGTERM (released early); ICMP and ICMPv6
# echo; broken packets (malformed).
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 60 2000
ip netns exec "$NS_A" python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(40):
    s.sendto(b"r" * 1000, ("10.99.0.2", 5001))'
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5003 2
ip netns exec "$NS_A" ping -c 3 -i 0.05 -q 10.99.0.2 >/dev/null || fail "ping failed"
ip netns exec "$NS_A" ping -6 -c 3 -i 0.05 -q fd99::2 >/dev/null || fail "ping -6 failed"
ip netns exec "$NS_A" "$RAWPKT" 10.99.0.2 5 tcp-short >/dev/null || fail "rawpkt failed"
for _ in $(seq 1 100); do
	grep -q '"ev":"flow-end"' "$T/ev.jsonl" && break
	sleep 0.1
done
fl_stats
fl_stop
sleep 0.3
kill -INT "$TD"
wait "$TD" 2>/dev/null || true

# ---- the live run --------------------------------------------------------------------
$SCHEMA events "$T/ev.jsonl" >"$T/seen.json" || fail "the live event log does not conform to the schema"
$SCHEMA counters "$T/fl.out" >"$T/counters.json" || fail "the live counters do not conform to the schema"
log "live: $(cat "$T/seen.json")"
[ "$(json "$T/counters.json" 'd["checked"]')" -eq 2 ] || fail "expected 2 counter lines (SIGUSR1, exit)"
# covers FILE EXPR: the summary of what was seen satisfies EXPR.
covers() { [ "$(json "$1" "$2")" = True ] || fail "$1: not $2: $(cat "$1")"; }
covers "$T/seen.json" 'set(d["kinds"]) == {"packet", "release", "verdict", "malformed", "inject", "transition", "class", "flow-new", "flow-end"}'
covers "$T/seen.json" '{"tcp", "udp", "icmp", "icmp6"} <= set(d["proto"])'
covers "$T/seen.json" 'set(d["actions"]) == {"drop", "delay", "reorder", "duplicate", "corrupt", "rate", "reset"}'
covers "$T/seen.json" 'set(d["verdict"]) == {"accept", "drop", "hold"}'
covers "$T/seen.json" 'd["reasons"].get("rate:queue-full", 0) >= 1'
covers "$T/seen.json" 'd["early"] >= 2 and d["tcp_flow"] >= 10 and d["caused_by"] >= 1'

# ---- the replay ----------------------------------------------------------------------
"$FL" replay "$T/cap.pcap" "${RULES[@]}" --seed 7 --local 10.99.0.2 --local fd99::2 \
	--events "$T/rep.jsonl" >"$T/rep.out" 2>"$T/rep.err" || fail "replay failed: $(cat "$T/rep.err")"
$SCHEMA events "$T/rep.jsonl" >"$T/rseen.json" || fail "the replay's event log does not conform to the schema"
$SCHEMA replay-counters "$T/rep.out" >"$T/rcounters.json" || fail "the replay's counters do not conform to the schema"
log "replay: $(cat "$T/rseen.json")"
covers "$T/rseen.json" '{"packet", "release", "verdict", "malformed", "inject", "transition", "flow-new"} <= set(d["kinds"])'
covers "$T/rseen.json" '{"tcp", "udp", "icmp", "icmp6"} <= set(d["proto"])'
covers "$T/rseen.json" 'd["reasons"].get("rate:queue-full", 0) >= 1'
no_chain_left "$NS_B"
echo ok

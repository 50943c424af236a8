#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The built-in demo: builds faultline, makes two network namespaces joined
# by a veth pair, sends numbered UDP datagrams from one to the other through
# faultline's reorder, drop and duplicate rules, shows what the receiver saw,
# and removes everything again.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "the demo needs root (namespaces, iptables): sudo $0" >&2; exit 1; }
scripts/deps.sh
scripts/build.sh >/dev/null
FL=$PWD/build/faultline
UDPSEQ=$PWD/build/udpseq
ID=$$
A=fl-demo-a-$ID
B=fl-demo-b-$ID
T=$(mktemp -d /tmp/fl-demo.XXXXXX)
FLPID=

cleanup() {
	set +e
	[ -n "$FLPID" ] && kill "$FLPID" 2>/dev/null && wait "$FLPID" 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$B"
ip link add "dva$ID" type veth peer name "dvb$ID"
ip link set "dva$ID" netns "$A"
ip link set "dvb$ID" netns "$B"
ip -n "$A" addr add 10.123.0.1/24 dev "dva$ID"
ip -n "$B" addr add 10.123.0.2/24 dev "dvb$ID"
# Copies of incoming packets are delivered through lo, as in any container.
ip -n "$A" link set lo up
ip -n "$B" link set lo up
ip -n "$A" link set "dva$ID" up
ip -n "$B" link set "dvb$ID" up
ip netns exec "$A" ping -c1 -W2 10.123.0.2 >/dev/null
echo "namespaces $A (10.123.0.1, sender) and $B (10.123.0.2, receiver, runs faultline)"

show() {
	python3 - "$T/recv.json" "$1" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[-1])
n = int(sys.argv[2])
print("  receiver got %d datagrams (%d distinct of %d sent, %d duplicates, %d arrived after a later one)"
      % (d["received"], d["unique"], n, d["duplicates"], d["out_of_order"]))
print("  arrival order:", " ".join(map(str, d["order"][:40])), "..." if len(d["order"]) > 40 else "")
PY
}

run_case() {
	local rule=$1 n=$2
	echo
	echo "== rule: $rule   ($n datagrams, seed 1)"
	ip netns exec "$B" "$UDPSEQ" recv 5000 700 >"$T/recv.json" &
	local rp=$!
	sleep 0.2
	rm -f "$T/fl.err"
	"$FL" run --netns "$B" --seed 1 --rule "$rule" >"$T/stats.json" 2>"$T/fl.err" &
	FLPID=$!
	until grep -q running "$T/fl.err" 2>/dev/null; do sleep 0.05; done
	ip netns exec "$A" "$UDPSEQ" send 10.123.0.2 5000 "$n" 2000
	wait "$rp"
	kill "$FLPID"
	wait "$FLPID"
	FLPID=
	show "$n"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["rules"][0]
print("  faultline counters: matched %d, dropped %d, reordered %d, duplicated %d" % (r["matched"], r["dropped"], r["reordered"], r["duplicated"]))' "$T/stats.json"
}

run_case 'udp dst port 5000 => reorder 4' 40
run_case 'udp dst port 5000 => drop 30%' 40
run_case 'udp dst port 5000 => duplicate' 20
run_case 'udp dst port 5000 => delay 20ms jitter 15ms' 40
echo
echo "UDP hands every datagram to the application as it arrives: shuffled, missing and doubled."
echo "done; namespaces and iptables rules removed."

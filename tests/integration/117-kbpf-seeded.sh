#!/usr/bin/env bash
# Seeded verdicts of matched traffic are the same whether only what the
# rules match is queued or everything is (--queue-all): the same 300
# datagrams of one flow through 'drop 30%' with the same seed lose the same
# ones, while other traffic (another flow from the same port, pings) runs
# beside them, queued in one run and not in the other.
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
run() {
	fl_start "$NS_B" --no-control --rule 'udp dst port 5000 => drop 30%' --seed 42 "$@"
	ip netns exec "$NS_A" ping -c 30 -i 0.01 -q 10.99.0.2 >/dev/null &
	local ping=$!
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5001 300 200 40001 &
	local other=$!
	PIDS+=("$ping" "$other")
	udp_recv "$NS_B" 5000 500 300
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 300 200 40000
	udp_recv_wait
	wait "$ping" "$other"
	fl_stop
}
run
json "$T/recv.json" 'sorted(d["order"])' >"$T/filtered"
[ "$(json "$T/fl.out" 'd["queue_scope"]')" = filtered ] || fail "not filtered"
[ "$(json "$T/fl.out" 'd["packets"]')" -eq 300 ] || fail "filtered: $(json "$T/fl.out" 'd["packets"]') packets queued, not 300"
run --queue-all
json "$T/recv.json" 'sorted(d["order"])' >"$T/all"
[ "$(json "$T/fl.out" 'd["packets"]')" -gt 300 ] || fail "--queue-all queued only the matched traffic"
[ "$(json "$T/fl.out" 'd["queue_scope"]')" = all ] || fail "--queue-all: scope $(json "$T/fl.out" 'd["queue_scope"]')"
[ "$(json "$T/fl.out" 'd["queue_reasons"]')" = "['--queue-all: every packet is queued']" ] ||
	fail "--queue-all: reasons $(json "$T/fl.out" 'd["queue_reasons"]')"
got=$(json "$T/recv.json" 'd["unique"]')
log "$got of 300 arrived in both runs"
[ "$got" -gt 150 ] && [ "$got" -lt 270 ] || fail "$got of 300 arrived: not drop 30%"
cmp -s "$T/filtered" "$T/all" || fail "the datagrams lost differ: $(diff "$T/filtered" "$T/all" | head -c 300)"
no_chain_left "$NS_B"
echo ok

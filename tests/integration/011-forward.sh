#!/usr/bin/env bash
# --forward: faultline in a router namespace acts on routed packets (the
# FORWARD hook). A (10.98.1.1) -- R (10.98.1.254 | 10.98.2.254) -- B (10.98.2.1).
. "$(dirname "$0")/lib.sh"

ip netns add "$NS_A"
ip netns add "$NS_R"
ip netns add "$NS_B"
ip link add "va-$ID" type veth peer name "ra-$ID"
ip link add "vb-$ID" type veth peer name "rb-$ID"
ip link set "va-$ID" netns "$NS_A"
ip link set "ra-$ID" netns "$NS_R"
ip link set "vb-$ID" netns "$NS_B"
ip link set "rb-$ID" netns "$NS_R"
ip -n "$NS_A" addr add 10.98.1.1/24 dev "va-$ID"
ip -n "$NS_R" addr add 10.98.1.254/24 dev "ra-$ID"
ip -n "$NS_R" addr add 10.98.2.254/24 dev "rb-$ID"
ip -n "$NS_B" addr add 10.98.2.1/24 dev "vb-$ID"
for ns in $NS_A $NS_R $NS_B; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "va-$ID" up
ip -n "$NS_R" link set "ra-$ID" up
ip -n "$NS_R" link set "rb-$ID" up
ip -n "$NS_B" link set "vb-$ID" up
ip -n "$NS_A" route add default via 10.98.1.254
ip -n "$NS_B" route add default via 10.98.2.254
ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
# Resolve the neighbours on both links before anything is timed.
ip netns exec "$NS_A" ping -c1 -W2 10.98.2.1 >/dev/null || fail "no route from A to B through R"

# 1. drop 50% of the UDP datagrams routed through R.
udp_recv "$NS_B" 5000 1000
fl_start "$NS_R" --forward --rule 'udp dst port 5000 => drop 50%' --seed 17 --events "$T/events"
ip netns exec "$NS_R" iptables-save >"$T/save"
grep -q '^-A FORWARD .*-j FAULTLINE-4242$' "$T/save" || fail "no jump from FORWARD with --forward"
ip netns exec "$NS_A" "$UDPSEQ" send 10.98.2.1 5000 1000 100
udp_recv_wait
fl_stop
got=$(json "$T/recv.json" 'd["unique"]')
dropped=$(json "$T/fl.out" 'd["rules"][0]["dropped"]')
matched=$(json "$T/fl.out" 'd["rules"][0]["matched"]')
fwd_ev=$(grep '"ev":"verdict"' "$T/events" | grep -c '"dir":"fwd"' || true)
log "received $got of 1000 in B; faultline in R matched $matched, dropped $dropped; $fwd_ev events with dir fwd"
[ "$matched" -eq 1000 ] || fail "rule matched $matched, expected 1000"
[ "$got" -ge 300 ] && [ "$got" -le 700 ] || fail "received $got, outside 30-70 %"
[ $((got + dropped)) -eq 1000 ] || fail "received $got + dropped $dropped != 1000"
[ "$(json "$T/recv.json" 'd["received"]')" -eq "$got" ] || fail "duplicates seen"
[ "$fwd_ev" -eq "$dropped" ] || fail "$fwd_ev fwd events, expected one per drop ($dropped)"
no_chain_left "$NS_R"

# 2. icmp => delay 20ms: request and reply both cross FORWARD, RTT >= 40 ms.
rtt() { ip netns exec "$NS_A" ping -c 5 -i 0.2 -W 5 -q 10.98.2.1 | awk '/^rtt/ {split($4, a, "/"); print a[1], a[2]}'; }
read -r bmin bavg <<<"$(rtt)"
fl_start "$NS_R" --forward --rule 'icmp => delay 20ms'
read -r smin savg <<<"$(rtt)"
fl_stop
log "ping A -> B through R: min/avg $bmin/$bavg ms without, $smin/$savg ms with 'icmp => delay 20ms'"
[ -n "$smin" ] || fail "ping through R failed with faultline running"
python3 -c "import sys; sys.exit(0 if $smin >= 40 else 1)" || fail "minimum RTT $smin ms < 40 ms"
[ "$(json "$T/fl.out" 'd["rules"][0]["delayed"]')" -eq 10 ] || fail "expected 10 delayed packets (5 requests, 5 replies)"
no_chain_left "$NS_R"
echo ok

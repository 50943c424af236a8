#!/usr/bin/env bash
# icmp => delay 50ms in the receiving namespace delays the echo request on
# INPUT and the reply on OUTPUT: the RTT rises by at least 2 x 45 ms.
. "$(dirname "$0")/lib.sh"
make_pair
rtt() { ip netns exec "$NS_A" ping -c 10 -i 0.1 -q "$1" | awk -F'/' '/^rtt/ {print $5}'; }
base=$(rtt 10.99.0.2)
fl_start "$NS_B" --rule 'icmp => delay 50ms'
slow=$(rtt 10.99.0.2)
fl_stop
log "ping avg RTT: $base ms without, $slow ms with delay"
python3 -c "import sys; sys.exit(0 if $slow - $base >= 90 else 1)" || fail "RTT rose by less than 90 ms"
python3 -c "import sys; sys.exit(0 if $slow < 1000 else 1)" || fail "RTT absurd: $slow"
[ "$(json "$T/fl.out" 'd["rules"][0]["delayed"]')" -eq 20 ] || fail "expected 20 delayed packets"
# The same over IPv6 (ICMPv6 echo is 'icmp6' in pcap-filter).
base6=$(rtt fd99::2)
fl_start "$NS_B" --rule 'icmp6 and ip6[40] == 128 => delay 50ms' --rule 'icmp6 and ip6[40] == 129 => delay 50ms'
slow6=$(rtt fd99::2)
fl_stop
log "ping6 avg RTT: $base6 ms without, $slow6 ms with delay"
python3 -c "import sys; sys.exit(0 if $slow6 - $base6 >= 90 else 1)" || fail "IPv6 RTT rose by less than 90 ms"
no_chain_left "$NS_B"
echo ok

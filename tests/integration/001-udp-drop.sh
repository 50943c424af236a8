#!/usr/bin/env bash
# udp dst port 5000 => drop 30% on 2000 datagrams: the receiver gets 60-80 %,
# and faultline's counters agree with what the receiver saw, exactly.
. "$(dirname "$0")/lib.sh"
make_pair
udp_recv "$NS_B" 5000 1000
fl_start "$NS_B" --rule 'udp dst port 5000 => drop 30%' --seed 7
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 2000 50
udp_recv_wait
fl_stop
got=$(json "$T/recv.json" 'd["unique"]')
dropped=$(json "$T/fl.out" 'd["rules"][0]["dropped"]')
matched=$(json "$T/fl.out" 'd["rules"][0]["matched"]')
log "received $got of 2000, faultline matched $matched dropped $dropped"
[ "$matched" -eq 2000 ] || fail "rule matched $matched, expected 2000"
[ "$got" -ge 1200 ] && [ "$got" -le 1600 ] || fail "received $got, outside 60-80 %"
[ $((got + dropped)) -eq 2000 ] || fail "received $got + dropped $dropped != 2000"
[ "$(json "$T/recv.json" 'd["duplicates"]')" -eq 0 ] || fail "duplicates seen"
# A drop needs only headers: faultline copies 512 bytes of each packet, not 64 KiB.
[ "$(json "$T/fl.out" 'd["copy_range"]')" -eq 512 ] || fail "copy range $(json "$T/fl.out" 'd["copy_range"]'), expected 512"
# --full-copy asks for whole packets anyway; a filter reading past 512 bytes widens the copy.
fl_start "$NS_B" --rule 'udp dst port 5000 => drop' --full-copy
fl_stop
[ "$(json "$T/fl.out" 'd["copy_range"]')" -eq 65535 ] || fail "--full-copy: copy range $(json "$T/fl.out" 'd["copy_range"]')"
fl_start "$NS_B" --rule 'udp[600] == 1 => drop'
fl_stop
[ "$(json "$T/fl.out" 'd["copy_range"]')" -gt 600 ] || fail "udp[600]: copy range $(json "$T/fl.out" 'd["copy_range"]')"
no_chain_left "$NS_B"
echo ok

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A UDP proxy through the toxiproxy API ("protocol":"udp", faultline's
# extension), driven with curl: faultline in namespace A, a UDP echo server
# in B. Datagrams to the proxy's port reach the server and come back; a
# latency toxic holds every answer at least its latency; packet_loss drops
# answers, and exactly those the rule counts are missing; bandwidth spreads
# a burst over at least its size over the rate; a TCP-only toxic is
# refused. SIGTERM: exit 0, no chains left.
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
D=$(dirname "$0")
PY=$(command -v /usr/bin/python3 || command -v python3)

ip netns exec "$NS_B" "$PY" "$D/toxi_udp.py" serve 10.99.0.2 5353 &
PIDS+=($!)
for _ in $(seq 1 200); do ip netns exec "$NS_B" ss -Hlun "sport = :5353" | grep -q . && break; sleep 0.05; done
ip netns exec "$NS_B" ss -Hlun "sport = :5353" | grep -q . || fail "the UDP echo server is not bound"
toxi_start "$NS_A" --seed 5
send() { A "$PY" "$D/toxi_udp.py" send "$PORT" "$@"; }
rule() { A "$FL" ctl --control "$T/ctl.sock" --json list | jq -r --arg n "$1" ".rules[] | select(.name == \$n) | .$2"; }

req POST /proxies -d '{"name":"dns","listen":"127.0.0.1:0","upstream":"10.99.0.2:5353","protocol":"udp"}'; expect 201
[ "$(jq -r .protocol "$T/body")" = udp ] || fail "no protocol in $(cat "$T/body")"
PORT=$(jq -r '.listen | split(":")[1]' "$T/body")
A iptables-save -t nat | grep -q -- "-p udp -m udp --dport $PORT -j DNAT --to-destination 10.99.0.2:5353" ||
	fail "no UDP DNAT rule"
read -r got _ _ <<<"$(send 5 64)"
[ "$got" = 5 ] || fail "no echo through the UDP proxy: $got of 5"

req POST /proxies/dns/toxics -d '{"type":"latency","attributes":{"latency":200}}'; expect 200
read -r got rtt _ <<<"$(send 5 64)"
log "latency 200: $got echoes, least round trip $rtt s"
[ "$got" = 5 ] || fail "latency: $got of 5 echoes"
python3 -c "import sys; sys.exit(0 if $rtt >= 0.2 else 1)" || fail "latency 200ms, an echo in $rtt s"
req DELETE /proxies/dns/toxics/latency_downstream; expect 204

req POST /proxies/dns/toxics -d '{"type":"packet_loss","attributes":{"loss_rate":50}}'; expect 200
read -r got _ _ <<<"$(send 40 64)"
dropped=$(rule toxi.dns.packet_loss_downstream dropped)
log "packet_loss 50%: $got of 40 echoes, $dropped dropped by the rule"
[ "$dropped" -gt 0 ] && [ "$got" -gt 0 ] || fail "50% loss: $got of 40 came, $dropped dropped"
[ $((got + dropped)) = 40 ] || fail "$got echoes and $dropped dropped answers are not the 40 sent"
req DELETE /proxies/dns/toxics/packet_loss_downstream; expect 204

# 50 KB/s: 20 answers of 1000 bytes cannot come in less than 19 x 1000 / 50000 s.
req POST /proxies/dns/toxics -d '{"type":"bandwidth","attributes":{"rate":50}}'; expect 200
read -r got _ span <<<"$(send 20 1000)"
log "bandwidth 50 KB/s: $got of 20 echoes over $span s"
[ "$got" = 20 ] || fail "bandwidth: $got of 20 echoes"
python3 -c "import sys; sys.exit(0 if $span >= 19 * 1000 / 50000 else 1)" || fail "20 x 1000 bytes at 50 KB/s in $span s"
[ "$(rule toxi.dns.bandwidth_downstream rate_queued)" -ge 1 ] || fail "the rate queued nothing"

req POST /proxies/dns/toxics -d '{"type":"timeout","attributes":{"timeout":100}}'; expect 400
log "timeout on UDP: $(cat "$T/body")"

kill -TERM "$FL_PID"; wait "$FL_PID" || fail "faultline exited $?: $(cat "$T/fl.err")"; FL_PID=
! A iptables-save | grep -q FAULTLINE || fail "chains left: $(A iptables-save | grep FAULTLINE)"
log "ok"

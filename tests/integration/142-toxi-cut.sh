#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A disabled or deleted toxiproxy API proxy, and faultline's exit, cut the
# open connections at once, as toxiproxy closes both sides: a client idle
# in a blocking read through the proxy (in A, on loopback) gets a RST
# without sending anything, the echo server's end (in B) is reset too,
# and a new connection is refused; so is a client in B, through A's
# forwarding. Without CAP_NET_RAW the cut waits for the next packet. faultline deletes the proxy's conntrack entries
# and sends each end a SYN; its challenge ACK meets no translation, and
# the kernel's RST answers it (cut.h).
. "$(dirname "$0")/lib.sh"
toxi_echo_pair
D=$(dirname "$0")
toxi_start "$NS_A"
# Connections the echo server holds in B.
upstream_conns() { ip netns exec "$NS_B" ss -Htn state established '( sport = :8080 )' | wc -l; }

# cut WHAT COMMAND...: an idle client (run by CLIENT) is cut by the command, both ends.
CLIENT=(A env)
cut() {
	local what=$1 out
	shift
	local in
	coproc IDLE { "${CLIENT[@]}" "$PY" "$D/toxi_client.py" "$PORT" idle; }
	# bash unsets IDLE when the client ends: read its output through a copy
	exec {in}<&"${IDLE[0]}"
	read -r line <&"$in"; [ "$line" = ready ] || fail "client: $line"
	# (an earlier client's end may still be closing)
	for _ in $(seq 1 100); do [ "$(upstream_conns)" = 1 ] && break; sleep 0.05; done
	[ "$(upstream_conns)" = 1 ] || fail "the echo server holds $(upstream_conns) connections, not 1"
	local sent
	sent=$(date +%s.%N)
	"$@"
	local answered
	answered=$(date +%s.%N)
	read -r out <&"$in" || fail "$what: the client said nothing"
	exec {in}<&-
	[ "${out% *}" = reset ] || fail "$what: the idle client's read got '$out', not a reset"
	log "$what: the idle client's read reset $(python3 -c "print('%.1f ms after the command started, %.1f after it ended' % ((${out#* } - $sent) * 1000, (${out#* } - $answered) * 1000))")"
	for _ in $(seq 1 100); do [ "$(upstream_conns)" = 0 ] && break; sleep 0.05; done
	[ "$(upstream_conns)" = 0 ] || fail "$what: the echo server's end is still open"
	[ "$("${CLIENT[@]}" "$PY" "$D/toxi_client.py" "$PORT" refused)" = refused ] ||
		fail "$what: a new connection was taken"
}

req POST /proxies -d '{"name":"echo","listen":"127.0.0.1:0","upstream":"10.99.0.2:8080"}'; expect 201
PORT=$(jq -r '.listen | split(":")[1]' "$T/body")
cut disabled req POST /proxies/echo -d '{"enabled":false}'
expect 200
req POST /proxies/echo -d '{"enabled":true}'; expect 200
A "$PY" "$D/toxi_client.py" "$PORT" rtt >/dev/null || fail "no echo once enabled again"
cut deleted req DELETE /proxies/echo
expect 204

# A client in B reaches a proxy on A's address through A's forwarding
# (the namespace must allow it: faultline does not turn it on), and its
# challenge ACK comes in through PREROUTING.
A sysctl -qw net.ipv4.ip_forward=1
req POST /proxies -d '{"name":"far","listen":"10.99.0.1:0","upstream":"10.99.0.2:8080"}'; expect 201
PORT=$(jq -r '.listen | split(":")[1]' "$T/body")
CLIENT=(ip netns exec "$NS_B" env TOXI_HOST=10.99.0.1)
cut "deleted, client in B" req DELETE /proxies/far
expect 204
CLIENT=(A env)

# faultline's exit cuts the proxies' connections as toxiproxy's does.
req POST /proxies -d '{"name":"echo","listen":"127.0.0.1:0","upstream":"10.99.0.2:8080"}'; expect 201
PORT=$(jq -r '.listen | split(":")[1]' "$T/body")
stop() { kill -TERM "$FL_PID"; wait "$FL_PID" || fail "faultline exited $?: $(cat "$T/fl.err")"; FL_PID=; }
cut exit stop
! grep -q 'toxiproxy API: the connections' "$T/fl.err" || fail "a cut failed: $(cat "$T/fl.err")"

# Without CAP_NET_RAW no SYN goes out: stderr says so, and the client's
# next packet finds no translation and gets the kernel's RST.
rm -f "$T/fl.err"
ip netns exec "$NS_A" setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-net_raw -- "$FL" run --toxiproxy-api 127.0.0.1:0 >"$T/fl.out" 2>"$T/fl.err" &
FL_PID=$!
for _ in $(seq 1 200); do grep -q 'faultline: running' "$T/fl.err" 2>/dev/null && break; sleep 0.05; done
API=$(sed -n 's/^faultline: toxiproxy API at \(http:[^ ]*\)\/$/\1/p' "$T/fl.err" | grep .) || fail "no API: $(cat "$T/fl.err")"
req POST /proxies -d '{"name":"echo","listen":"127.0.0.1:0","upstream":"10.99.0.2:8080"}'; expect 201
PORT=$(jq -r '.listen | split(":")[1]' "$T/body")
coproc HOLD { A "$PY" "$D/toxi_client.py" "$PORT" hold; }
exec {in}<&"${HOLD[0]}"
read -r line <&"$in"; [ "$line" = ready ] || fail "client: $line"
req DELETE /proxies/echo; expect 204
grep -q 'cut at their next packet, not at once: .*(needs CAP_NET_RAW)' "$T/fl.err" || fail "no word of the SYNs: $(cat "$T/fl.err")"
echo go >&"${HOLD[1]}"
read -r line <&"$in"; [ "$line" = reset ] || fail "without CAP_NET_RAW the client's next send got '$line'"
stop
log "ok"

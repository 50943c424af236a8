#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Where the HTTP API listens. A non-loopback --http address is refused
# (exit 2, before anything is installed) unless --http-allow-remote; host
# names are refused (literal addresses only). The listener lives in the
# namespace faultline was started in, not the one it works in: started in
# A to work in B with --http 0.0.0.0:0 --http-allow-remote, it answers B at
# A's address 10.99.0.1 (and nothing listens in B). IPv6: [::1] works.
. "$(dirname "$0")/lib.sh"
make_pair

refused() {
	local rc=0
	"$FL" run --netns "$NS_B" --rule 'udp port 9 => drop' "$@" >"$T/r.out" 2>"$T/r.err" || rc=$?
	[ $rc -eq 2 ] || fail "$* exited $rc, expected 2: $(cat "$T/r.err")"
	log "$*: $(cat "$T/r.err")"
}
refused --http 0.0.0.0:8474
grep -q "not a loopback address.*--http-allow-remote" "$T/r.err" || fail "no reason given"
refused --http '[::]:8474'
refused --http 10.99.0.2:8474
refused --http localhost:8474
grep -q "names are not resolved" "$T/r.err" || fail "no reason given"
refused --http 127.0.0.1
refused --http-allow-remote
no_chain_left "$NS_B"

# Started in A, working in B: the listener is A's.
rm -f "$T/fl.err"
ip netns exec "$NS_A" "$FL" run --netns "$NS_B" --rule 'udp port 9 => drop' \
	--http 0.0.0.0:0 --http-allow-remote >"$T/fl.out" 2>"$T/fl.err" &
FL_PID=$!
for _ in $(seq 1 100); do grep -q 'faultline: running' "$T/fl.err" 2>/dev/null && break; sleep 0.05; done
grep -q 'faultline: running' "$T/fl.err" || fail "faultline did not start: $(cat "$T/fl.err")"
PORT=$(http_base)
PORT=${PORT##*:}
ip netns exec "$NS_A" ss -Hltn "sport = :$PORT" | grep -q . || fail "nothing listens on $PORT in A"
ip netns exec "$NS_B" ss -Hltn "sport = :$PORT" | grep -q . && fail "the listener is in B"
ip netns exec "$NS_B" curl -sS -m 5 "http://10.99.0.1:$PORT/rules" >"$T/rules" || fail "B cannot reach A's API"
grep -q '"udp port 9 => drop"' "$T/rules" || fail "GET /rules from B: $(cat "$T/rules")"
fl_stop

# IPv6 loopback, from the host.
fl_start "$NS_B" --rule 'udp port 9 => drop' --http '[::1]:0'
API=$(http_base)
case $API in "http://[::1]:"*) ;; *) fail "IPv6 API at $API" ;; esac
curl -sS -g -m 5 "$API/rules" | grep -q '"udp port 9 => drop"' || fail "GET /rules over IPv6 failed"
fl_stop
echo ok

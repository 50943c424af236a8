#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The HTTP API against bad clients: malformed and truncated JSON, wrong
# types, unknown fields, a huge body (413 on its Content-Length, before
# the upload), unknown paths and methods, a client that never finishes
# its request (closed after --http-timeout while others are served), and
# more concurrent clients than the server takes (the extra ones closed at
# once). After all of it faultline still serves, GET /rules is what it
# was, and every packet still meets the rules.
. "$(dirname "$0")/lib.sh"
make_pair

fl_start "$NS_B" --rule 'slow: icmp => delay 50ms, in' --rule 'cut: udp port 9 => drop' \
	--http 127.0.0.1:0 --http-timeout 2s --seed 1
API=$(http_base)
PORT=${API##*:}
curl -sS "$API/rules" >"$T/before" || fail "GET /rules failed"

# code METHOD PATH EXPECTED [CURL ARGS...]: the status must be EXPECTED, with a JSON error body.
code() {
	local m=$1 p=$2 want=$3 got
	shift 3
	got=$(curl -sS -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$API$p") || fail "curl $m $p failed"
	[ "$got" = "$want" ] || fail "$m $p $*: $got, expected $want: $(cat "$T/body")"
	jq -e --argjson w "$want" '.status == $w and (.error | length) > 0' "$T/body" >/dev/null || fail "$m $p: not an error body: $(cat "$T/body")"
}
code POST /rules 400 -d '{"rule":"udp => drop"'
code POST /rules 400 -d '{"rule":'
code POST /rules 400 -d 'rule=udp'
code POST /rules 400 -d '[]'
code POST /rules 400 -d '{"rule":7}'
code POST /rules 400 -d '{"rule":"udp => drop","name":["x"]}'
code POST /rules 400 -d '{"rule":"udp => drop","colour":"red"}'
code POST /rules 400 -d '{"rule":"udp => drop","rule":"icmp => drop"}'
code POST /rules 400 -d '{"rule":"udp => drop 300%"}'
code PUT /rules 400 -d '{"rules":[1]}'
code PUT /rules 400 -d '{"rules":["udp => drop"],"x":1}'
code POST /wait 400 -d '{"condition":"slow.delayed >= 1","timeout_ms":-1}'
code POST /rules/slow/disable 400 -d '{"now":true}'
code GET /rules/no-such 404
code GET /rules/%2e%2e 404
code GET /admin 404
code PATCH /rules 405
code POST /stats 405
# A body larger than the limit is refused on its headers: curl sends none of it.
head -c 3000000 /dev/zero | tr '\0' 'a' >"$T/huge"
code POST /rules 413 --data-binary @"$T/huge"
# One Python client (its start is slow on a busy machine: once) for what curl cannot do:
# 1. a truncated body: the length says more than comes, and the client stops sending;
# 2. a client that sends half its headers and then nothing: the server serves everyone
#    else meanwhile (curl below), and closes it after --http-timeout;
# 3. 80 connections at once, each sending nothing: 64 are held (until the timeout),
#    the others closed at once.
python3 - "$PORT" >"$T/bad" <<'EOF' &
import select, socket, sys, time
port = int(sys.argv[1])

def closed_without_answer(s, timeout):
    s.settimeout(timeout)
    try:
        return "closed" if s.recv(1) == b"" else "answered"
    except ConnectionResetError:
        return "closed"
    except socket.timeout:
        return "still open after %d s" % timeout

t = socket.create_connection(("127.0.0.1", port))
t.sendall(b'POST /rules HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"rule":')
t.shutdown(socket.SHUT_WR)
print("truncated", closed_without_answer(t, 30), flush=True)
slow = socket.create_connection(("127.0.0.1", port))
slow.sendall(b"GET /rules HTTP/1.1\r\nHo")
print("sent", flush=True)
print("slow", closed_without_answer(slow, 30), flush=True)
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(80)]
# Within a second (the idle ones are closed after --http-timeout, 2 s), the extra ones are closed.
open_, closed, end = list(socks), 0, time.monotonic() + 1.0
while open_ and time.monotonic() < end:
    ready, _, _ = select.select(open_, [], [], max(0, end - time.monotonic()))
    for s in ready:
        try:
            data = s.recv(1)
        except ConnectionResetError:
            data = b""
        assert data == b"", data
        closed += 1
        open_.remove(s)
print("many", closed, flush=True)
for s in socks:
    s.close()
EOF
BAD=$!
PIDS+=("$BAD")
for _ in $(seq 1 300); do grep -q sent "$T/bad" && break; sleep 0.05; done
grep -q sent "$T/bad" || fail "the Python client did not start: $(cat "$T/bad")"
for i in 1 2 3; do
	curl -sS -m 5 "$API/rules" >"$T/during" || fail "GET /rules failed while a slow client hung"
done
wait "$BAD" || fail "the Python client failed: $(cat "$T/bad")"
grep -qx 'truncated closed' "$T/bad" || fail "a truncated body: $(grep truncated "$T/bad")"
grep -qx 'slow closed' "$T/bad" || fail "the half-sent request: $(grep slow "$T/bad")"
log "a half-sent request was closed by the server, others were served meanwhile"
many=$(sed -n 's/^many //p' "$T/bad")
log "$many of 80 idle connections closed at once"
[ "$many" -ge 16 ] || fail "only $many of 80 connections closed at once, expected 16 past the 64 held"
for _ in $(seq 1 50); do curl -sS -m 2 "$API/rules" >"$T/after" 2>/dev/null && break; sleep 0.1; done
cmp -s "$T/before" "$T/after" || fail "GET /rules changed: $(cat "$T/before") -> $(cat "$T/after")"

# The rules still apply: a ping is delayed (and counted) by 'slow'.
ip netns exec "$NS_A" ping -c 1 -W 5 10.99.0.2 >/dev/null || fail "ping failed"
curl -sS "$API/rules/slow" | jq -e '.delayed == 1' >/dev/null ||
	fail "the rule no longer applies"
fl_stop
echo ok

#!/usr/bin/env bash
# ip6 and tcp port 8080 => delay 30ms in the server's namespace: an HTTP
# fetch over IPv6 still delivers a 1 MB file intact, and the TCP handshake
# takes at least 2 x 30 ms (the SYN is held on INPUT, the SYN-ACK on OUTPUT).
. "$(dirname "$0")/lib.sh"
make_pair

mkdir "$T/www"
head -c $((1024 * 1024)) /dev/urandom >"$T/www/file"
ip netns exec "$NS_B" python3 -m http.server --bind fd99::2 --directory "$T/www" 8080 \
	>"$T/http.out" 2>"$T/http.err" &
PIDS+=($!)
for _ in $(seq 1 200); do
	ip netns exec "$NS_B" ss -Hltn 'sport = :8080' | grep -q . && break
	sleep 0.05
done
ip netns exec "$NS_B" ss -Hltn 'sport = :8080' | grep -q . || fail "HTTP server did not start"

fetch() {
	ip netns exec "$NS_A" curl -g -sS --max-time 30 -o "$T/got" \
		-w '%{time_connect} %{time_total} %{http_code}\n' "http://[fd99::2]:8080/file"
}
read -r c0 t0 code0 <<<"$(fetch)"
[ "$code0" = 200 ] || fail "fetch without faultline: HTTP $code0"
fl_start "$NS_B" --rule 'ip6 and tcp port 8080 => delay 30ms'
out=$(fetch) || fail "curl failed with faultline running: $out"
read -r c1 t1 code1 <<<"$out"
fl_stop
log "time_connect ${c0}s -> ${c1}s, time_total ${t0}s -> ${t1}s (HTTP $code1)"
[ "$code1" = 200 ] || fail "HTTP $code1"
[ "$(sha256sum <"$T/got")" = "$(sha256sum <"$T/www/file")" ] || fail "file differs after the delayed fetch"
python3 -c "import sys; sys.exit(0 if $c1 >= 0.06 else 1)" || fail "time_connect ${c1}s < 0.06 s"
delayed=$(json "$T/fl.out" 'd["rules"][0]["delayed"]')
log "faultline delayed $delayed packets, dropped $(json "$T/fl.out" 'd["dropped"]')"
[ "$delayed" -ge 4 ] || fail "only $delayed packets delayed"
[ "$(json "$T/fl.out" 'd["dropped"]')" -eq 0 ] || fail "faultline dropped packets"
no_chain_left "$NS_B"
echo ok

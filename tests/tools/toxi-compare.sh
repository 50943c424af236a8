#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Send the same requests to a real toxiproxy 2.x server and to faultline's
# --toxiproxy-api, and print both answers (status, body) side by side, with
# SAME or DIFF. Not a ctest: it needs a toxiproxy-server binary (built offline
# with build-toxiproxy.sh, for example), and root for faultline.
#   tests/tools/toxi-compare.sh TOXIPROXY_SERVER [FAULTLINE]
# Each server runs in a namespace of its own (made and removed here).
set -euo pipefail
TS=${1:?usage: toxi-compare.sh TOXIPROXY_SERVER [FAULTLINE]}
FL=${2:-$(cd "$(dirname "$0")/../.." && pwd)/build/faultline}
ID=$$
NT=tcmp-t-$ID NF=tcmp-f-$ID
T=$(mktemp -d)
cleanup() {
	kill "${PT:-}" "${PF:-}" 2>/dev/null || true
	wait 2>/dev/null || true
	ip netns del "$NT" 2>/dev/null || true
	ip netns del "$NF" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
for ns in $NT $NF; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip netns exec "$NT" "$TS" -host 127.0.0.1 -port 8474 >"$T/t.log" 2>&1 &
PT=$!
ip netns exec "$NF" "$FL" run --toxiproxy-api 127.0.0.1:8474 --no-control >"$T/f.log" 2>&1 &
PF=$!
sleep 1
one() {	# NS METHOD PATH [BODY]
	local ns=$1 m=$2 p=$3 b=${4-}
	ip netns exec "$ns" curl -s -o "$T/b" -w '%{http_code}' -X "$m" ${b:+-d "$b"} "127.0.0.1:8474$p" >"$T/s" || true
	printf '%s %s' "$(cat "$T/s")" "$(tr -d '\n' <"$T/b")"
}
printf '| request | toxiproxy 2.8.0 | faultline | |\n|---|---|---|---|\n'
while IFS='|' read -r m p b; do
	[ -n "$m" ] || continue
	a=$(one "$NT" "$m" "$p" "$b")
	f=$(one "$NF" "$m" "$p" "$b")
	# Ports a listen on port 0 took differ by nature.
	an=$(sed -E 's/127\.0\.0\.1:[0-9]{4,5}"/127.0.0.1:PORT"/g' <<<"$a")
	fn=$(sed -E 's/127\.0\.0\.1:[0-9]{4,5}"/127.0.0.1:PORT"/g' <<<"$f")
	[ "$an" = "$fn" ] && same=SAME || same=DIFF
	printf '| `%s %s %s` | `%s` | `%s` | %s |\n' "$m" "$p" "$b" "$a" "$f" "$same"
done <<'REQ'
GET|/version|
GET|/proxies|
POST|/proxies|{"name":"db","listen":"127.0.0.1:0","upstream":"127.0.0.1:5432"}
POST|/proxies|{"name":"db","listen":"127.0.0.1:0","upstream":"127.0.0.1:5432"}
POST|/proxies|{"upstream":"127.0.0.1:5432"}
POST|/proxies|{"name":"x"}
POST|/proxies|
POST|/proxies|{"name":"fixed","listen":"127.0.0.1:27001","upstream":"127.0.0.1:1"}
GET|/proxies/fixed|
GET|/proxies/nope|
POST|/proxies/db/toxics|{"type":"latency","attributes":{"latency":100,"jitter":5}}
POST|/proxies/db/toxics|{"type":"latency"}
POST|/proxies/db/toxics|{"type":"bogus"}
POST|/proxies/db/toxics|{"type":"latency","stream":"sideways"}
POST|/proxies/db/toxics|{"name":"cut","type":"limit_data","stream":"upstream","toxicity":0.5,"attributes":{"bytes":100}}
POST|/proxies/db/toxics|{"type":"timeout","attributes":{"timeout":1000}}
POST|/proxies/db/toxics|{"type":"reset_peer"}
POST|/proxies/db/toxics|{"type":"slicer","attributes":{"average_size":10}}
POST|/proxies/db/toxics|{"type":"bandwidth","attributes":{"rate":100}}
POST|/proxies/db/toxics|{"type":"slow_close","attributes":{"delay":100}}
GET|/proxies/db/toxics|
GET|/proxies/db/toxics/cut|
POST|/proxies/db/toxics/latency_downstream|{"attributes":{"latency":300}}
PATCH|/proxies/db/toxics/cut|{"toxicity":1}
PATCH|/proxies/db/toxics/nope|{}
DELETE|/proxies/db/toxics/cut|
DELETE|/proxies/db/toxics/cut|
POST|/proxies/fixed|{"enabled":false}
PATCH|/proxies/fixed|{"enabled":true}
POST|/populate|[{"name":"fixed","listen":"127.0.0.1:27001","upstream":"127.0.0.1:1"},{"name":"p2","listen":"127.0.0.1:27002","upstream":"127.0.0.1:2"}]
POST|/populate|[{"name":"c"}]
POST|/reset|
GET|/proxies/db/toxics|
DELETE|/proxies/fixed|
DELETE|/proxies/fixed|
PUT|/proxies|
GET|/nowhere|
REQ

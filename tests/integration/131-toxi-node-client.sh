#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The acceptance test of the toxiproxy API: the npm package
# toxiproxy-node-client 4.1.0 (pinned by toxi-node/package-lock.json,
# installed with npm ci into a cache outside the tree, FL_NPM_CACHE) drives
# faultline alone (toxi-node/test.js): faultline and the client in
# namespace A, an echo server in B. It makes a proxy, adds a latency toxic
# and measures it, updates it and measures again, adds timeout, reset_peer
# and limit_data and sees each from a real client, removes them, resets,
# and removes the proxy.
. "$(dirname "$0")/lib.sh"
D=$(cd "$(dirname "$0")" && pwd)
CACHE=${FL_NPM_CACHE:-/var/cache/faultline/toxi-node}
command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are needed (scripts/deps.sh)"
mkdir -p "$CACHE"
if ! cmp -s "$D/toxi-node/package-lock.json" "$CACHE/package-lock.json" ||
	[ ! -f "$CACHE/node_modules/toxiproxy-node-client/package.json" ]; then
	cp "$D/toxi-node/package.json" "$D/toxi-node/package-lock.json" "$CACHE/"
	(cd "$CACHE" && npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.err" 2>&1 ||
		fail "npm ci failed: $(tail -5 "$T/npm.err")"
fi
toxi_echo_pair
toxi_start "$NS_A" --seed 5
NODE_PATH=$CACHE/node_modules ip netns exec "$NS_A" node "$D/toxi-node/test.js" "$API" 10.99.0.2:8080 >"$T/node.out" 2>&1 ||
	fail "the Node client's test: $(cat "$T/node.out")"
sed 's/^/  node: /' "$T/node.out" >&2
kill -TERM "$FL_PID"; wait "$FL_PID" || fail "faultline exited $?"; FL_PID=
! ip netns exec "$NS_A" iptables-save | grep -q FAULTLINE || fail "chains left"

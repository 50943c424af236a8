#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A toxiproxy proxy whose upstream name does not resolve yet (a compose
# setup populates toxiproxy before the upstream's container is up) is taken
# as toxiproxy takes it: 201, listed with its upstream as given, and while
# the name does not resolve a client's connection is refused (nothing is
# forwarded). Once the name is in namespace A's hosts file (ip netns exec
# mounts /etc/netns/A/hosts on /etc/hosts), the next tick forwards it, with
# its latency toxic's rule, without any further request.
. "$(dirname "$0")/lib.sh"
trap 'rc=$?; rm -rf "/etc/netns/$NS_A"; (exit $rc); cleanup' EXIT
toxi_echo_pair
D=$(dirname "$0")
mkdir -p "/etc/netns/$NS_A"
echo '127.0.0.1 localhost' >"/etc/netns/$NS_A/hosts"
toxi_start "$NS_A"

client() { A "$PY" "$D/toxi_client.py" "$PORT" "$@"; }
rules() { A "$FL" ctl --control "$T/ctl.sock" --json list | jq -r '[.rules[].name] | join(",")'; }

req POST /proxies -d '{"name":"late","listen":"127.0.0.1:0","upstream":"echo-later:8080"}'; expect 201
[ "$(jq -c '[.upstream,.enabled]' "$T/body")" = '["echo-later:8080",true]' ] || fail "proxy: $(cat "$T/body")"
PORT=$(jq -r '.listen | split(":")[1]' "$T/body")
req POST /proxies/late/toxics -d '{"type":"latency","attributes":{"latency":300}}'; expect 200
[ "$(client refused)" = refused ] || fail "a proxy whose upstream does not resolve accepted a connection"
! A iptables-save -t nat | grep -q -- "--dport $PORT -j DNAT" || fail "forwarded before the name resolves"
[ -z "$(rules)" ] || fail "rules before the name resolves: $(rules)"

# No request from here on: the tick (each second) finds the name.
echo '10.99.0.2 echo-later' >>"/etc/netns/$NS_A/hosts"
for _ in $(seq 1 50); do
	A iptables-save -t nat | grep -q -- "--dport $PORT -j DNAT --to-destination 10.99.0.2:8080" && break
	sleep 0.2
done
A iptables-save -t nat | grep -q -- "--dport $PORT -j DNAT --to-destination 10.99.0.2:8080" ||
	fail "not forwarded 10 s after the name resolves"
[ "$(rules)" = toxi.late.latency_downstream ] || fail "the toxic's rule: $(rules)"
rtt=$(client rtt) || fail "no echo through the proxy once its name resolves"
python3 -c "import sys; sys.exit(0 if $rtt >= 0.3 else 1)" || fail "latency 300ms, but the answer came in $rtt s"
req GET /proxies/late; expect 200
[ "$(jq -r .upstream "$T/body")" = echo-later:8080 ] || fail "upstream shown: $(cat "$T/body")"

kill -TERM "$FL_PID"; wait "$FL_PID" || fail "faultline exited $?: $(cat "$T/fl.err")"; FL_PID=

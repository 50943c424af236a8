# SPDX-License-Identifier: MIT
# Shared helpers for the integration tests: each test sources this, builds
# its own namespaces with random names and cleans up in an EXIT trap, also
# when it fails. Needs root. FL_BUILD points at the build directory.
set -euo pipefail

FL_BUILD=${FL_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
FL=$FL_BUILD/faultline
UDPSEQ=$FL_BUILD/udpseq
T=$(mktemp -d /tmp/fltest.XXXXXX)
ID=$(printf '%04x' $((RANDOM % 65536)))
NS_A=fla-$ID
NS_B=flb-$ID
NS_R=flr-$ID
PIDS=()
FL_PID=

log() { printf '  %s\n' "$*" >&2; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

cleanup() {
	local rc=$?
	set +e
	for p in "${PIDS[@]}" $FL_PID; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	for ns in $NS_A $NS_B $NS_R; do
		if ip netns list | grep -qw "$ns"; then
			# A faultline chain left in a namespace dies with it, but say so.
			if ip netns exec "$ns" iptables-save 2>/dev/null | grep -q FAULTLINE; then
				echo "note: FAULTLINE chain left in $ns" >&2
			fi
			ip netns del "$ns"
		fi
	done
	if [ $rc -ne 0 ] && [ -d "$T" ]; then
		echo "--- logs in $T ---" >&2
		for f in "$T"/*.err; do [ -f "$f" ] && { echo "== $f" >&2; tail -20 "$f" >&2; }; done
	else
		rm -rf "$T"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ip netns add, once more after a failure: while other namespaces come and
# go it has been seen to fail once with "Peer netns reference is invalid".
ns_add() {
	ip netns add "$1" 2>/dev/null && return 0
	ip netns del "$1" 2>/dev/null
	ip netns add "$1"
}

# Two namespaces A (10.99.0.1, fd99::1) and B (10.99.0.2, fd99::2) on a veth pair.
# make_pair --no-ipv6: IPv4 only. IPv6 is off in both namespaces before the
# veths arrive, so the kernel sends none of its own ICMPv6 (router
# solicitations, neighbour discovery, MLD) on its own schedule: for tests
# that must account for every packet faultline diverts.
make_pair() {
	local v6=1
	[ "${1:-}" = --no-ipv6 ] && v6=0
	ns_add "$NS_A"
	ns_add "$NS_B"
	if [ $v6 = 0 ]; then
		for ns in $NS_A $NS_B; do
			ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
				net.ipv6.conf.default.disable_ipv6=1
		done
	fi
	ip link add "va-$ID" type veth peer name "vb-$ID"
	ip link set "va-$ID" netns "$NS_A"
	ip link set "vb-$ID" netns "$NS_B"
	ip -n "$NS_A" addr add 10.99.0.1/24 dev "va-$ID"
	ip -n "$NS_B" addr add 10.99.0.2/24 dev "vb-$ID"
	if [ $v6 = 1 ]; then
		ip -n "$NS_A" addr add fd99::1/64 dev "va-$ID" nodad
		ip -n "$NS_B" addr add fd99::2/64 dev "vb-$ID" nodad
	fi
	for ns in $NS_A $NS_B; do ip -n "$ns" link set lo up; done
	ip -n "$NS_A" link set "va-$ID" up
	ip -n "$NS_B" link set "vb-$ID" up
	# First packets must not wait for ARP/ND in a timing-sensitive test.
	ip netns exec "$NS_A" ping -c1 -W2 10.99.0.2 >/dev/null
	[ $v6 = 0 ] || ip netns exec "$NS_A" ping -c1 -W2 fd99::2 >/dev/null 2>&1 || true
	if [ $v6 = 0 ] && ip -n "$NS_B" -6 addr show | grep -q inet6; then
		fail "make_pair --no-ipv6: IPv6 addresses left in $NS_B"
	fi
}

# ipt_state: B's rules in both iptables backends and both families, without
# comments or counters, to compare before and after a run.
ipt_state() {
	for s in iptables-nft-save ip6tables-nft-save iptables-legacy-save ip6tables-legacy-save; do
		echo "--- $s"
		ip netns exec "$NS_B" $s 2>/dev/null | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
	done
}

# fl_start NS ARGS...: run faultline in NS, wait until it is ready.
# FL_EXEC: words to run faultline with (e.g. setpriv ...), empty by default.
FL_EXEC=()
fl_start() {
	local ns=$1
	shift
	# Remove the old log first: the shell truncates it only once the
	# background job runs, and a stale "running" line would pass the wait.
	rm -f "$T/fl.out" "$T/fl.err"
	"${FL_EXEC[@]}" "$FL" run --netns "$ns" "$@" >"$T/fl.out" 2>"$T/fl.err" &
	FL_PID=$!
	for _ in $(seq 1 100); do
		grep -q 'faultline: running' "$T/fl.err" 2>/dev/null && return 0
		kill -0 "$FL_PID" 2>/dev/null || { cat "$T/fl.err" >&2; fail "faultline did not start"; }
		sleep 0.05
	done
	fail "faultline not ready after 5 s"
}

# fl_stop [SIGNAL]: stop faultline, expect exit 0; final counters in $T/fl.out.
fl_stop() {
	local sig=${1:-TERM} rc=0
	kill -"$sig" "$FL_PID"
	wait "$FL_PID" || rc=$?
	FL_PID=
	[ $rc -eq 0 ] || fail "faultline exited $rc"
}

# fl_stats: SIGUSR1 makes faultline print its counters as one more JSON line
# on stdout; wait (up to 5 s) until it is there.
fl_stats() {
	local n
	n=$(grep -c '^{' "$T/fl.out" || true)
	kill -USR1 "$FL_PID"
	for _ in $(seq 1 500); do
		[ "$(grep -c '^{' "$T/fl.out" || true)" -gt "$n" ] && return 0
		sleep 0.01
	done
	fail "no counters on SIGUSR1"
}

# json FILE EXPR: evaluate a Python expression on the last JSON line of FILE (as d).
json() {
	python3 -c 'import json,sys
lines=[l for l in open(sys.argv[1]) if l.strip().startswith("{")]
d=json.loads(lines[-1]); print(eval(sys.argv[2]))' "$1" "$2"
}

no_chain_left() {
	local ns=$1
	! ip netns exec "$ns" iptables-save | grep -q FAULTLINE || fail "FAULTLINE chain left in iptables"
	! ip netns exec "$ns" ip6tables-save | grep -q FAULTLINE || fail "FAULTLINE chain left in ip6tables"
}

# udp_recv NS PORT IDLE_MS [EXPECT [WAIT_MS]]: start a receiver in the background, output
# in $T/recv.json. WAIT_MS: the quiet spell that ends it while fewer than EXPECT came, and
# the wait for the first datagram (default 30 s).
udp_recv() {
	rm -f "$T/recv.json"
	ip netns exec "$1" "$UDPSEQ" recv "$2" "$3" "${4:-0}" ${5:+"$5"} >"$T/recv.json" &
	RECV_PID=$!
	PIDS+=("$RECV_PID")
	for _ in $(seq 1 100); do
		grep -q ready "$T/recv.json" 2>/dev/null && return 0
		sleep 0.02
	done
	fail "receiver did not start"
}
udp_recv_wait() { wait "$RECV_PID"; }

# wait_listen NS PORT: wait until a TCP listener is up on PORT in NS.
wait_listen() {
	for _ in $(seq 1 200); do
		ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q . && return 0
		sleep 0.05
	done
	fail "nothing listens on port $2 in $1"
}

# seg_capture_start PORT: for the segment tests, B's kernel with GRO off (so
# it sees segments as sent), tcpdump of the data to PORT into $T/b.pcap, and
# tcpapp's server on PORT in B ($SEG_SRV, $SEG_TD).
seg_capture_start() {
	ip netns exec "$NS_B" ethtool -K "vb-$ID" gro off >/dev/null 2>&1 || true
	ip netns exec "$NS_B" tcpdump -i "vb-$ID" -n -s 128 -B 8192 --immediate-mode -U -w "$T/b.pcap" \
		"tcp dst port $1" 2>"$T/tcpdump.err" &
	SEG_TD=$!
	PIDS+=("$SEG_TD")
	for _ in $(seq 1 100); do grep -q listening "$T/tcpdump.err" && break; sleep 0.05; done
	ip netns exec "$NS_B" $TCPAPP server "$1" --idle 10 >"$T/srv.json" 2>"$T/srv.err" &
	SEG_SRV=$!
	PIDS+=("$SEG_SRV")
	wait_listen "$NS_B" "$1"
}

# seg_send_check PORT BYTES: A sends BYTES to B's PORT through the running
# faultline, which is then stopped with the capture; B's application must
# have read exactly the sender's bytes and tcpdump lost nothing.
seg_send_check() {
	timeout 30 ip netns exec "$NS_A" $TCPAPP send 10.99.0.2 "$1" "$2" --nodelay --chunk 1000 >"$T/cli.json" 2>"$T/cli.err" ||
		fail "the sender failed: $(cat "$T/cli.json" "$T/cli.err")"
	wait "$SEG_SRV"
	fl_stop
	sleep 0.3
	kill -INT "$SEG_TD"
	wait "$SEG_TD" 2>/dev/null || true
	grep -q '^0 packets dropped by kernel' "$T/tcpdump.err" || fail "tcpdump lost packets: $(cat "$T/tcpdump.err")"
	[ "$(json "$T/srv.json" 'd["bytes"]')" -eq "$2" ] || fail "the receiver got $(json "$T/srv.json" 'd["bytes"]') bytes"
	[ "$(json "$T/srv.json" 'd["ok_bytes"]')" = True ] || fail "the bytes it got are not the sender's"
}

# http_base: the base URL of faultline's HTTP API, from its "HTTP API at" line
# (--http ADDR:0 takes any free port).
http_base() {
	sed -n 's/^faultline: HTTP API at \(http:[^ ]*\)\/$/\1/p' "$T/fl.err" | head -1 | grep . ||
		fail "no 'HTTP API at' line: $(cat "$T/fl.err")"
}

# req METHOD PATH [CURL ARGS...]: one request to the API at $API, from
# namespace $API_NS when set: the status in $T/status, the body in $T/body,
# the headers in $T/headers. expect STATUS: that was the status.
req() {
	local m=$1 p=$2 in=()
	shift 2
	[ -z "${API_NS:-}" ] || in=(ip netns exec "$API_NS")
	"${in[@]}" curl -sS -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$m" "$@" "$API$p" >"$T/status" ||
		fail "curl $m $p failed"
}
expect() {
	[ "$(cat "$T/status")" = "$1" ] || fail "expected $1, got $(cat "$T/status"): $(cat "$T/body")"
}

# toxi_echo_pair: namespaces A and B (make_pair --no-ipv6), $PY the
# system's python3 (a version manager's shim costs seconds a start on a
# loaded machine), and toxi_echo.py echoing TCP on 10.99.0.2:8080 in B.
toxi_echo_pair() {
	make_pair --no-ipv6
	PY=$(command -v /usr/bin/python3 || command -v python3)
	ip netns exec "$NS_B" "$PY" "$(dirname "$0")/toxi_echo.py" 10.99.0.2 8080 &
	PIDS+=($!)
	wait_listen "$NS_B" 8080
}

# A CMD...: CMD in namespace A.
A() { ip netns exec "$NS_A" "$@"; }

# toxi_start NS [RUN ARGS...]: faultline run --toxiproxy-api 127.0.0.1:0
# --control $T/ctl.sock inside namespace NS (beside the application, as
# toxiproxy runs), once it is running; its base URL in $API, and NS in
# $API_NS for req.
toxi_start() {
	API_NS=$1
	shift
	rm -f "$T/fl.out" "$T/fl.err"
	ip netns exec "$API_NS" "$FL" run --toxiproxy-api 127.0.0.1:0 --control "$T/ctl.sock" "$@" \
		>"$T/fl.out" 2>"$T/fl.err" &
	FL_PID=$!
	for _ in $(seq 1 200); do
		grep -q 'faultline: running' "$T/fl.err" 2>/dev/null && break
		kill -0 "$FL_PID" 2>/dev/null || { cat "$T/fl.err" >&2; fail "faultline did not start"; }
		sleep 0.05
	done
	API=$(sed -n 's/^faultline: toxiproxy API at \(http:[^ ]*\)\/$/\1/p' "$T/fl.err" | grep .) ||
		fail "no 'toxiproxy API at' line: $(cat "$T/fl.err")"
}

#!/usr/bin/env bash
# from-byte N: a transfer cut at exactly byte N. With reset the receiving
# application gets the stream's first N bytes, exactly and unchanged (the
# segment that straddles byte N is cut there), then ECONNRESET; with drop
# it gets the same N bytes and then nothing (a stall, toxiproxy's timeout).
# faultline runs on the sender's side; the cut segment goes on rewritten,
# and the receiver's kernel finds no bad checksum. The sender's TCP hands
# faultline GSO super-packets: a cut one leaves as a fresh packet (counted
# in "resent"; shortened in its verdict, a head shorter than one MSS was
# lost by the kernel: a CI run read 99912 bytes).
. "$(dirname "$0")/lib.sh"
APP="python3 $(cd "$(dirname "$0")/../tools" && pwd)/tcpapp.py"
make_pair
counter() { ip netns exec "$1" nstat -asz "$2" | awk -v k="$2" '$1 == k {print $2}'; }

# transfer RULE N IDLE: 300000 bytes from A to B through RULE; the receiver gives up after IDLE s without data.
transfer() {
	ip netns exec "$NS_B" $APP server 7001 --idle "$3" >"$T/srv.json" 2>"$T/srv.err" &
	srv=$!
	PIDS+=("$srv")
	wait_listen "$NS_B" 7001
	fl_start "$NS_A" --rule "$1" --events "$T/ev.jsonl"
	timeout $(($3 + 20)) ip netns exec "$NS_A" $APP send 10.99.0.2 7001 300000 >"$T/cli.json" 2>"$T/cli.err" &
	cli=$!
	PIDS+=("$cli")
	wait "$srv"
	kill "$cli" 2>/dev/null || true
	wait "$cli" 2>/dev/null || true
	fl_stop
	grep '"ev":"packet".*"cut":' "$T/ev.jsonl" >"$T/cut.jsonl" || true
	log "$1: server $(json "$T/srv.json" '{k: d[k] for k in ("bytes", "ok_bytes", "ended")}'); the cut segment: $(json "$T/cut.jsonl" '{k: d.get(k) for k in ("plen", "cut", "gso")}'), resent $(json "$T/fl.out" 'd.get("resent", 0)')"
	[ "$(json "$T/srv.json" 'd["bytes"]')" -eq "$2" ] || fail "$1: the receiver got $(json "$T/srv.json" 'd["bytes"]') bytes, not $2"
	[ "$(json "$T/srv.json" 'd["ok_bytes"]')" = True ] || fail "$1: the bytes it got are not the sender's"
}

csum=$(counter "$NS_B" TcpInCsumErrors)
transfer 'tcp dst port 7001 => reset, from-byte 100000' 100000 10
[ "$(json "$T/srv.json" 'd["ended"]')" = ECONNRESET ] || fail "reset: the receiver ended with $(json "$T/srv.json" 'd["ended"]')"
grep -q '"cut":' "$T/ev.jsonl" || fail "no segment was cut at byte 100000"
[ "$(json "$T/fl.out" 'd["rsts"]')" -eq 2 ] || fail "rsts"

transfer 'tcp dst port 7001 => drop, from-byte 30000' 30000 2
[ "$(json "$T/srv.json" 'd["ended"]')" = idle ] || fail "drop: the receiver ended with $(json "$T/srv.json" 'd["ended"]'), not a stall"
[ "$(counter "$NS_B" TcpInCsumErrors)" -eq "$csum" ] || fail "checksum errors in B"
echo ok

#!/usr/bin/env bash
# reset: a real client (in A, where faultline runs) and server (in B) both
# see ECONNRESET when 'reset' drops one of the client's requests, over IPv4
# and IPv6: the RST to the client goes back through loopback, the one to
# the server out on the wire, and each kernel takes it at once (no
# challenge ACK, no checksum error). The RSTs are in the event log (drawn
# by show and report), in the --pcap capture, and in replay's output.
. "$(dirname "$0")/lib.sh"
APP="python3 $(cd "$(dirname "$0")/../tools" && pwd)/tcpapp.py"
make_pair

# Absolute counter $2 of namespace $1 (nstat history untouched).
counter() { ip netns exec "$1" nstat -asz "$2" | awk -v k="$2" '$1 == k {print $2}'; }

rule='tcp dst port 7000 => reset if state ESTABLISHED and data, after 300ms, first 1'
for host in 10.99.0.2 fd99::2; do
	csum_a=$(counter "$NS_A" TcpInCsumErrors)
	csum_b=$(counter "$NS_B" TcpInCsumErrors)
	chal_a=$(counter "$NS_A" TcpExtTCPChallengeACK)
	chal_b=$(counter "$NS_B" TcpExtTCPChallengeACK)
	ip netns exec "$NS_B" $APP server 7000 --echo >"$T/srv.json" 2>"$T/srv.err" &
	srv=$!
	PIDS+=("$srv")
	wait_listen "$NS_B" 7000
	fl_start "$NS_A" --rule "$rule" --events "$T/ev.jsonl" --pcap "$T/live.pcapng"
	ip netns exec "$NS_A" $APP ping "$host" 7000 150 >"$T/cli.json" 2>"$T/cli.err"
	wait "$srv"
	fl_stop
	log "$host: client $(cat "$T/cli.json"), server ended $(json "$T/srv.json" 'd["ended"]')"
	[ "$(json "$T/cli.json" 'd["ended"]')" = ECONNRESET ] || fail "$host: the client did not see ECONNRESET"
	[ "$(json "$T/srv.json" 'd["ended"]')" = ECONNRESET ] || fail "$host: the server did not see ECONNRESET"
	[ "$(json "$T/cli.json" 'd["replies"]')" -lt 150 ] || fail "$host: no request was reset"
	[ "$(json "$T/fl.out" 'd["rules"][0]["reset"]')" -eq 1 ] || fail "$host: reset counter"
	[ "$(json "$T/fl.out" 'd["rsts"]')" -eq 2 ] || fail "$host: rsts"
	[ "$(json "$T/fl.out" 'd["inject_errors"]')" -eq 0 ] || fail "$host: inject_errors"
	# Each kernel took its RST as exact: no challenge ACK, no checksum error.
	for ns in A B; do
		eval "ns_=\$NS_$ns; c0=\$csum_$(echo $ns | tr AB ab); h0=\$chal_$(echo $ns | tr AB ab)"
		[ "$(counter "$ns_" TcpInCsumErrors)" -eq "$c0" ] || fail "$host: checksum errors in $ns"
		[ "$(counter "$ns_" TcpExtTCPChallengeACK)" -eq "$h0" ] || fail "$host: challenge ACKs in $ns"
	done
	# The event log: the reset segment, then one inject line per RST.
	n=$(grep -c '"ev":"inject","pkt":[0-9]*,"kind":"rst"' "$T/ev.jsonl" || true)
	[ "$n" -eq 2 ] || fail "$host: $n inject lines, expected 2"
	grep -q '"action":"reset"' "$T/ev.jsonl" || fail "$host: no packet names reset"
	# The capture: both RSTs leave on the "out" side, with their comment.
	n=$(tshark -r "$T/live.pcapng" -Y 'frame.interface_name == "out" && tcp.flags.reset == 1' 2>/dev/null | wc -l)
	[ "$n" -eq 2 ] || fail "$host: $n RSTs in the capture, expected 2"
done
# show and report draw both RSTs of the last run, noted as faultline's.
"$FL" show "$T/ev.jsonl" >"$T/show.txt" 2>"$T/show.err" || fail "show: $(cat "$T/show.err")"
n=$(grep -c ' made .*RST+ACK.*made by faultline (rule 1)' "$T/show.txt" || true)
[ "$n" -eq 2 ] || fail "show drew $n RSTs made by faultline, expected 2"
"$FL" report "$T/ev.jsonl" -o "$T/report.html" 2>"$T/report.err" || fail "report: $(cat "$T/report.err")"
grep -q 'made by faultline (rule 1)' "$T/report.html" || fail "report does not draw the RSTs"

# Replay the last run's captured side with a reset on the first request: the RSTs are in --out.
tshark -r "$T/live.pcapng" -Y 'frame.interface_name == "in"' -F nsecpcap -w "$T/in.pcap" 2>/dev/null
"$FL" replay "$T/in.pcap" --rule 'tcp dst port 7000 => reset if data, first 1' --out "$T/out.pcap" \
	>"$T/replay.json"
n=$(tshark -r "$T/out.pcap" -Y 'tcp.flags.reset == 1' 2>/dev/null | wc -l)
log "replay: $n RSTs in its output"
[ "$n" -eq 2 ] || fail "replay wrote $n RSTs, expected 2"
[ "$(json "$T/replay.json" 'd["rsts"]')" -eq 2 ] || fail "replay rsts"
echo ok

#!/usr/bin/env bash
# corrupt: each datagram arrives with exactly one payload bit flipped (the
# checksums are fixed, so the kernel delivers it). rate: a 1 Mbit/s queue
# stretches a burst over the time its bytes take at that rate, and past
# 'limit' waiting packets it drops, counting each drop.
. "$(dirname "$0")/lib.sh"
make_pair

# Receiver: every datagram on PORT with its arrival time, as JSON, until IDLE s of quiet.
cat >"$T/recv.py" <<'EOF'
import json, socket, sys, time
port, idle = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("0.0.0.0", port))
print(json.dumps({"ready": True}), flush=True)
got = []
s.settimeout(30)
try:
    while True:
        d = s.recv(65536)
        got.append([time.monotonic(), d.hex()])
        s.settimeout(idle)
except socket.timeout:
    pass
print(json.dumps({"got": got}))
EOF
# Sender: COUNT datagrams "seq N" padded to SIZE bytes, GAP s apart; NOCHECK=1 sets SO_NO_CHECK
# (IPv4 UDP without checksum: the packet carries no offloaded partial checksum).
cat >"$T/send.py" <<'EOF'
import socket, sys, time
dst, port, count, size, gap, nocheck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6] == "1"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
if nocheck:
    s.setsockopt(socket.SOL_SOCKET, 11, 1)  # SO_NO_CHECK
for i in range(count):
    p = b"seq %d" % i
    s.sendto(p + b"x" * max(0, size - len(p)), (dst, port))
    if gap:
        time.sleep(gap)
EOF
recv_start() {
	rm -f "$T/recv.json"
	ip netns exec "$NS_B" python3 "$T/recv.py" 5000 "$1" >"$T/recv.json" &
	RECV_PID=$!
	PIDS+=("$RECV_PID")
	for _ in $(seq 1 200); do grep -qs ready "$T/recv.json" && return 0; sleep 0.02; done
	fail "receiver did not start"
}
send() { ip netns exec "$NS_A" python3 "$T/send.py" 10.99.0.2 5000 "$@"; }
# altered COUNT: how many of the COUNT datagrams (in arrival order, none lost) differ from
# "seq N" in exactly one bit, and how many differ otherwise; "arrived altered onebit other".
altered() {
	json "$T/recv.json" "(lambda g: (len(g), sum(1 for i, (t, h) in enumerate(g) if bytes.fromhex(h) != b'seq %d' % i),
		sum(1 for i, (t, h) in enumerate(g) if len(bytes.fromhex(h)) == len(b'seq %d' % i) and
			sum(bin(a ^ b).count('1') for a, b in zip(bytes.fromhex(h), b'seq %d' % i)) == 1)))(d['got'])" |
		tr -d '(),'
}

# 1. corrupt, datagrams with a full software checksum (SO_NO_CHECK), faultline on INPUT.
recv_start 1
fl_start "$NS_B" --rule 'udp dst port 5000 => corrupt' --seed 4
send 200 0 0.0005 1
udp_recv_wait
fl_stop
read -r n alt one <<<"$(altered)"
log "corrupt (no offloaded checksum): $n of 200 arrived, $alt altered, $one by exactly one bit;" \
	"faultline corrupted $(json "$T/fl.out" 'd["corrupted"]'), rule $(json "$T/fl.out" 'd["rules"][0]["corrupted"]')"
[ "$n" -eq 200 ] || fail "$n of 200 corrupted datagrams arrived"
[ "$one" -eq 200 ] || fail "$one of 200 datagrams differ in exactly one bit ($alt altered)"
[ "$(json "$T/fl.out" 'd["corrupted"]')" -eq 200 ] || fail "faultline corrupted != 200"
[ "$(json "$T/fl.out" 'd["rules"][0]["corrupted"]')" -eq 200 ] || fail "rule corrupted != 200"

# 2. rate 1mbit: 200 datagrams of 1000 bytes (1028 with headers) sent at once.
recv_start 3
fl_start "$NS_B" --rule 'udp dst port 5000 => rate 1mbit'
send 200 1000 0 0
udp_recv_wait
fl_stop
n=$(json "$T/recv.json" 'len(d["got"])')
dur=$(json "$T/recv.json" 'round(d["got"][-1][0] - d["got"][0][0], 2) if d["got"] else 0')
want=$(python3 -c "print(round(200 * 1028 * 8 / 1000000 * 0.8, 2))")
queued=$(json "$T/fl.out" 'd["rules"][0]["rate_queued"]')
log "rate 1mbit: $n of 200 arrived over ${dur}s (at least ${want}s expected), rate_queued $queued," \
	"rate_dropped $(json "$T/fl.out" 'd["rules"][0]["rate_dropped"]')"
[ "$n" -eq 200 ] || fail "$n of 200 arrived with the default limit of 1000"
python3 -c "import sys; sys.exit(0 if $dur >= $want else 1)" || fail "200 x 1028 bytes passed in ${dur}s, faster than 1 Mbit/s allows"
[ "$queued" -gt 0 ] || fail "rate_queued is 0"
[ "$(json "$T/fl.out" 'd["rules"][0]["rate_dropped"]')" -eq 0 ] || fail "rate dropped below its limit"

# 3. rate 100kbit limit 10: a burst of 200 overflows the queue. Each drop is
#    the rate action's, with its reason, in the event log, and show and report
#    say "rate queue full" (not a plain drop).
recv_start 2
fl_start "$NS_B" --rule 'udp dst port 5000 => rate 100kbit limit 10' --events "$T/rate.jsonl"
send 200 1000 0 0
udp_recv_wait
fl_stop
n=$(json "$T/recv.json" 'len(d["got"])')
rdrop=$(json "$T/fl.out" 'd["rules"][0]["rate_dropped"]')
log "rate 100kbit limit 10: $n of 200 arrived, rate_dropped $rdrop, dropped $(json "$T/fl.out" 'd["dropped"]')"
[ "$n" -lt 200 ] || fail "all 200 arrived through a queue of 10"
[ "$n" -ge 10 ] || fail "fewer than the 10 queued datagrams arrived"
[ $((n + rdrop)) -eq 200 ] || fail "arrived $n + rate_dropped $rdrop != 200"
[ "$(json "$T/fl.out" 'd["dropped"]')" -eq "$rdrop" ] || fail "dropped != rate_dropped"
full=$(python3 -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) for e in [json.loads(l)] if e["ev"] == "packet" and e["verdict"] == "drop"
          and e["actions"] == [{"rule": 1, "name": "rule-1", "action": "rate", "reason": "queue-full"}]))' "$T/rate.jsonl")
[ "$full" -eq "$rdrop" ] || fail "$full packet lines say the rate queue was full, rate_dropped $rdrop"
"$FL" show "$T/rate.jsonl" >"$T/rate.txt" || fail "show failed"
"$FL" report "$T/rate.jsonl" -o "$T/rate.html" || fail "report failed"
# show wraps a long note at its column's width: the start of it is on one line.
[ "$(grep -c 'DROPPED by rule 1 (rate queue' "$T/rate.txt")" -eq "$rdrop" ] ||
	fail "show does not say 'rate queue full' for each of the $rdrop drops"
[ "$(grep -o 'DROPPED by rule 1 (rate queue full)' "$T/rate.html" | wc -l)" -eq "$rdrop" ] ||
	fail "report does not say 'rate queue full' for each of the $rdrop drops"

# 4. corrupt on ordinary datagrams: the UDP checksum is left to offload (veth), so
#    faultline sees them with CSUMNOTREADY. They must still come out altered, and the
#    counters must say what was done.
for side in "$NS_B" "$NS_A"; do
	recv_start 1
	fl_start "$side" --rule 'udp dst port 5000 => corrupt' --seed 4
	send 200 0 0.0005 0
	udp_recv_wait
	fl_stop
	read -r n alt one <<<"$(altered)"
	tot=$(json "$T/fl.out" 'd["corrupted"]')
	rule=$(json "$T/fl.out" 'd["rules"][0]["corrupted"]')
	log "corrupt (offloaded checksum, faultline in $side): $n of 200 arrived, $alt altered, $one by one bit;" \
		"faultline corrupted $tot, rule corrupted $rule"
	[ "$n" -eq 200 ] || fail "$n of 200 arrived (faultline in $side)"
	[ "$alt" -eq "$tot" ] || fail "faultline says corrupted $tot, but $alt datagrams arrived altered"
	[ "$rule" -eq "$tot" ] || fail "rule counter says $rule corrupted, total says $tot, $alt arrived altered (faultline in $side)"
	[ "$one" -eq 200 ] || fail "only $one of 200 datagrams with an offloaded checksum arrived altered (faultline in $side)"
done
no_chain_left "$NS_A"
no_chain_left "$NS_B"
echo ok

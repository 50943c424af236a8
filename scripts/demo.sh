#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The guided demo: builds faultline (installing what it needs), makes two
# network namespaces joined by a veth pair, runs real traffic through
# faultline's rules, prints what happened and removes everything again.
#   sudo scripts/demo.sh [udp|reorder|handshake|teardown|timewait|retransmit|all] [--html FILE]
# Each part ends with a one-line conclusion computed from the events faultline
# recorded, not from fixed text. 'faultline demo' runs this script.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PART=all
HTML=
while [ $# -gt 0 ]; do
	case $1 in
	--html) HTML=$2; shift 2 ;;
	udp | reorder | handshake | teardown | timewait | retransmit | all) PART=$1; shift ;;
	*) echo "usage: $0 [udp|reorder|handshake|teardown|timewait|retransmit|all] [--html FILE]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "the demo needs root (namespaces, iptables): sudo $0" >&2; exit 1; }
if [ -z "${FL_BUILD:-}" ]; then
	scripts/deps.sh
	scripts/build.sh >/dev/null
	FL_BUILD=$ROOT/build
fi
FL=$FL_BUILD/faultline
UDPSEQ=$FL_BUILD/udpseq
ID=$$
A=fl-demo-a-$ID
B=fl-demo-b-$ID
T=$(mktemp -d /tmp/fl-demo.XXXXXX)
FLPID=
ALL_EVENTS=$T/all-events.jsonl
: >"$ALL_EVENTS"

cleanup() {
	set +e
	[ -n "$FLPID" ] && kill "$FLPID" 2>/dev/null && wait "$FLPID" 2>/dev/null
	for p in $(ip netns pids "$A" 2>/dev/null) $(ip netns pids "$B" 2>/dev/null); do kill "$p" 2>/dev/null; done
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$B"
ip link add "dva$ID" type veth peer name "dvb$ID"
ip link set "dva$ID" netns "$A"
ip link set "dvb$ID" netns "$B"
ip -n "$A" addr add 10.123.0.1/24 dev "dva$ID"
ip -n "$B" addr add 10.123.0.2/24 dev "dvb$ID"
# Copies of incoming packets are delivered through lo, as in any container.
for ns in $A $B; do ip -n "$ns" link set lo up; done
ip -n "$A" link set "dva$ID" up
ip -n "$B" link set "dvb$ID" up
# A veth hands each packet to the receive backlog of the CPU that sent it,
# so A's packets sent from two CPUs can reach B (and faultline) in another
# order than they left A. A wire keeps their order: steer B's receive path
# to one CPU (RPS), as far as this system lets us.
ip netns exec "$B" sh -c "echo 1 >/sys/class/net/dvb$ID/queues/rx-0/rps_cpus" 2>/dev/null || true
# Plain RFC back-off for SYNs, so the handshake part shows 1 s, 2 s, ...
[ -e /proc/sys/net/ipv4/tcp_syn_linear_timeouts ] && ip netns exec "$A" sysctl -qw net.ipv4.tcp_syn_linear_timeouts=0
ip netns exec "$A" ping -c1 -W2 10.123.0.2 >/dev/null
echo "namespaces: $A (10.123.0.1, client) and $B (10.123.0.2, server; faultline runs here)"

# fl_on RULE...: start faultline in B with these rules, events in $T/ev.jsonl.
fl_on() {
	local args=()
	for r in "$@"; do args+=(--rule "$r"); done
	rm -f "$T/fl.err" "$T/ev.jsonl"
	"$FL" run --netns "$B" --seed 1 --time-wait 60s --events "$T/ev.jsonl" "${args[@]}" >"$T/stats.json" 2>"$T/fl.err" &
	FLPID=$!
	until grep -q running "$T/fl.err" 2>/dev/null; do
		kill -0 "$FLPID" 2>/dev/null || { cat "$T/fl.err" >&2; exit 1; }
		sleep 0.05
	done
}
fl_off() {
	kill "$FLPID"
	wait "$FLPID"
	FLPID=
	# Every part is its own run, counting time, packets and connections from
	# zero: shift them past the parts before, so one report can hold them all.
	python3 - "$T/ev.jsonl" "$ALL_EVENTS" <<'PY'
import json, sys
prev = [json.loads(l) for l in open(sys.argv[2])]
t0 = max((e.get("t", 0) for e in prev), default=-1) + 1
p0 = max((e.get("pkt", 0) for e in prev), default=0)
f0 = max([e.get("tcp_flow", 0) for e in prev] +
         [e["flow"] for e in prev if isinstance(e.get("flow"), int)], default=0)
with open(sys.argv[2], "a") as out:
    for l in open(sys.argv[1]):
        e = json.loads(l)
        if "t" in e:
            e["t"] = round(e["t"] + t0, 6)
        if "pkt" in e:
            e["pkt"] += p0
        if "tcp_flow" in e:
            e["tcp_flow"] += f0
        if isinstance(e.get("flow"), int):
            e["flow"] += f0
        out.write(json.dumps(e, separators=(",", ":")) + "\n")
PY
}
wait_listen() {
	for _ in $(seq 1 100); do
		ip netns exec "$B" ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
}
# show [ARGS]: the ladder diagram of the events just recorded.
show() { "$FL" show "$T/ev.jsonl" "$@" 2>&1 | sed "s/^/  /" || true; }
# conclude PYTHON: print one line computed from the events (as 'ev', a list).
conclude() {
	python3 - "$T/ev.jsonl" "$T/stats.json" "$@" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
stats = json.loads([l for l in open(sys.argv[2]) if l.startswith("{")][-1])
pk = [e for e in ev if e["ev"] == "packet"]
cls = [e for e in ev if e["ev"] == "class"]
tr = [e for e in ev if e["ev"] == "transition"]
def has(e, c): return c in e.get("class", [])
exec(sys.argv[3])
PY
}

# udp_case RULE N: N numbered datagrams through RULE; what the receiver saw.
udp_case() {
	echo "--- rule: $1   ($2 datagrams)"
	ip netns exec "$B" "$UDPSEQ" recv 5000 700 >"$T/udp.json" &
	local rp=$!
	sleep 0.2
	fl_on "$1"
	ip netns exec "$A" "$UDPSEQ" send 10.123.0.2 5000 "$2" 2000
	wait "$rp"
	fl_off
	python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("  receiver got %d datagrams (%d distinct of %s sent, %d duplicates, %d after a later one)" % (d["received"], d["unique"], sys.argv[2], d["duplicates"], d["out_of_order"]))
print("  in arrival order:", " ".join(map(str, d["order"])))' "$T/udp.json" "$2"
}

part_udp() {
	echo
	echo "=== udp: datagrams through drop, duplicate and delay with jitter"
	udp_case 'udp dst port 5000 => drop 30%' 30
	conclude "
udp = json.loads(open('$T/udp.json').read().splitlines()[-1])
r = stats['rules'][0]
same = 'exactly' if r['matched'] - r['dropped'] == udp['unique'] else 'NOT'
print('=> faultline dropped %d of %d datagrams and the receiver got %s the other %d: UDP neither notices nor repairs a loss.' % (r['dropped'], r['matched'], same, udp['unique']))"
	udp_case 'udp dst port 5000 => duplicate' 15
	conclude "
udp = json.loads(open('$T/udp.json').read().splitlines()[-1])
print('=> faultline sent %d copies and the application read %d datagrams for %d sent: UDP delivers duplicates as they come.' % (stats['duplicates_sent'], udp['received'], udp['unique']))"
	udp_case 'udp dst port 5000 => delay 20ms jitter 15ms' 30
	conclude "
udp = json.loads(open('$T/udp.json').read().splitlines()[-1])
print('=> with 20 ms +- 15 ms of delay, %d of %d datagrams reached the application after a later one: jitter alone reorders a datagram stream.' % (udp['out_of_order'], udp['received']))"
}

part_reorder() {
	echo
	echo "=== reorder: the same 'reorder 4' rule on a UDP stream and on a TCP stream"
	ip netns exec "$B" "$UDPSEQ" recv 5000 700 >"$T/udp.json" &
	local rp=$!
	sleep 0.2
	seq 1 20000 >"$T/lines"
	ip netns exec "$B" socat -u TCP-LISTEN:8080,reuseaddr OPEN:"$T/tcp.out",creat,trunc &
	local sp=$!
	wait_listen 8080
	fl_on 'udp dst port 5000 => reorder 4' 'tcp dst port 8080 and greater 100 => reorder 4'
	ip netns exec "$A" "$UDPSEQ" send 10.123.0.2 5000 20 2000
	ip netns exec "$A" socat -u OPEN:"$T/lines" TCP:10.123.0.2:8080
	wait "$rp" "$sp"
	fl_off
	python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("  UDP receiver, in arrival order:", " ".join(map(str, d["order"])))' "$T/udp.json"
	if cmp -s "$T/lines" "$T/tcp.out"; then tcp_ok=1; else tcp_ok=0; fi
	echo "  TCP receiver: $(wc -c <"$T/tcp.out") bytes, identical to what was sent: $([ $tcp_ok = 1 ] && echo yes || echo NO)"
	conclude "
udp = json.loads(open('$T/udp.json').read().splitlines()[-1])
ooo = sum(1 for e in cls if e.get('view') == 'egress' and (has(e, 'out-of-order') or has(e, 'gap')))
dup = sum(1 for e in cls if has(e, 'dup-ack'))
held = sum(1 for e in pk if e['proto'] == 'tcp' and e.get('reorder'))
print('=> UDP handed the application %d of %d datagrams after a later one; TCP reordered %d segments on the wire (%d out-of-order arrivals, %d duplicate ACKs) yet delivered all bytes in order: %s.'
      % (udp['out_of_order'], udp['received'], held, ooo, dup, 'yes' if $tcp_ok else 'NO'))"
}

part_handshake() {
	echo
	echo "=== handshake: a connection as a ladder, then one whose first SYN+ACK is dropped"
	echo hi >"$T/hi"
	ip netns exec "$B" socat -u OPEN:"$T/hi" TCP-LISTEN:8081,reuseaddr,fork &
	ip netns exec "$B" socat -u OPEN:"$T/hi" TCP-LISTEN:8086,reuseaddr,fork &
	wait_listen 8081
	wait_listen 8086
	fl_on 'tcp port 8086 => drop if syn-ack, first 1'
	ip netns exec "$A" socat -u TCP:10.123.0.2:8081 OPEN:/dev/null
	ip netns exec "$A" socat -u TCP:10.123.0.2:8086 OPEN:/dev/null
	fl_off
	show --flow 1
	show --flow 2
	conclude "
c2 = [e for e in pk if e.get('tcp_flow') == 2]
syn = [e for e in c2 if e.get('flags') == 'S']
sa = [e for e in c2 if e.get('flags') == 'SA']
dropped = [e for e in sa if e['verdict'] == 'drop']
est = [e for e in tr if e['new'] == 'ESTABLISHED' and e['flow'] == 2]
c1 = [e for e in pk if e.get('tcp_flow') == 1 and 'handshake' in e.get('class', [])]
# Both ends time out after 1 s: the client resends its SYN, the server its
# SYN+ACK. The client's timer started first, so it usually fires first;
# on a busy machine the server's may, and then the client never retries.
if len(syn) > 1:
    repair = 'the client sent its SYN %d times, the retry %.2f s after the first (its retransmission timeout)' % (len(syn), syn[1]['t'] - syn[0]['t'])
elif len(sa) > 1:
    repair = 'the server sent its SYN+ACK again %.2f s after the first (its retransmission timeout, which fired before the client\'s)' % (sa[1]['t'] - sa[0]['t'])
else:
    repair = 'nothing was sent again'
print('=> connection 1 opened in %d segments (SYN, SYN+ACK, ACK); on connection 2,' % len(c1) + ' %d SYN+ACK was dropped, %s, and both ends still reached ESTABLISHED: %s.'
      % (len(dropped), repair, 'yes' if len(set(e['endpoint'] for e in est)) == 2 else 'NO'))"
}

part_teardown() {
	echo
	echo "=== teardown: the four-way close, every state on both sides"
	echo bye >"$T/bye"
	ip netns exec "$B" socat -u TCP-LISTEN:8082,reuseaddr OPEN:/dev/null &
	local sp=$!
	wait_listen 8082
	fl_on 'tcp port 8082 => accept'
	ip netns exec "$A" socat -u OPEN:"$T/bye" TCP:10.123.0.2:8082
	wait "$sp"
	sleep 0.2
	ss_a=$(ip netns exec "$A" ss -Htan 'sport = :8082 or dport = :8082' | awk '{print $1}' | head -1)
	fl_off
	show --flow 1
	conclude "
seq = {0: [], 1: []}
for e in tr:
    seq[e['endpoint']].append(e['new'])
print('=> client: %s; server: %s; the kernel (ss) shows the client in %s.'
      % (' > '.join(['CLOSED'] + seq[0]), ' > '.join(['LISTEN'] + seq[1]), '${ss_a:-no socket}'))"
}

part_timewait() {
	echo
	echo "=== timewait: the final ACK dropped; then a segment delayed past the close"
	ip netns exec "$B" socat -u TCP-LISTEN:8083,reuseaddr OPEN:/dev/null &
	local sp=$!
	wait_listen 8083
	fl_on 'tcp port 8083 => drop if state LAST_ACK, first 1'
	echo bye | ip netns exec "$A" socat -u - TCP:10.123.0.2:8083
	wait "$sp"
	sleep 1.5
	fl_off
	show --flow 1
	conclude "
drops = [e for e in pk if e['verdict'] == 'drop']
fin_re = [e for e in cls if has(e, 'retransmission') and has(e, 'fin')]
tw = [e for e in pk if e.get('endpoint') == 0 and e.get('sender_state') == 'TIME_WAIT' and e['t'] > (fin_re[0]['t'] if fin_re else 1e9)]
print('=> faultline dropped %d final ACK(s) (arriving in LAST_ACK); the server retransmitted its FIN %d time(s) %.2f s later and the client, in TIME_WAIT, answered %d time(s).'
      % (len(drops), len(fin_re), (fin_re[0]['t'] - drops[0]['t']) if fin_re and drops else 0, len(tw)))"
	echo
	echo "--- a data segment held 3 s: the client resends it, closes, and the original then meets TIME_WAIT"
	ip netns exec "$B" socat -u TCP-LISTEN:8084,reuseaddr OPEN:/dev/null &
	sp=$!
	wait_listen 8084
	fl_on 'tcp dst port 8084 and tcp[13] & 8 != 0 => delay 3s, first 1'
	printf 'hello' | ip netns exec "$A" socat -u - TCP:10.123.0.2:8084
	wait "$sp" || true
	sleep 3.3
	fl_off
	conclude "
stale = [e for e in cls if has(e, 'stale')]
rst = [e for e in pk if 'R' in e.get('flags', '')]
held = [e for e in pk if e['verdict'] == 'hold']
rel = {e['pkt']: e['t'] for e in ev if e['ev'] == 'release'}
late = rel[held[0]['pkt']] - held[0]['t'] if held and held[0]['pkt'] in rel else 0
closed = [e for e in tr if e['new'] in ('TIME_WAIT', 'CLOSED') and e['t'] < (rel.get(held[0]['pkt'], 0) if held else 0)]
print('=> the held segment was released %.2f s after capture, when %d state change(s) to TIME_WAIT/CLOSED had already happened; the tracker flagged %d stale segment(s) and the server answered with %d RST(s).'
      % (late, len(closed), len(stale), len(rst)))"
}

# Absolute TcpRetransSegs of namespace $1 (-a: absolute, -s: leave nstat's history alone).
retrans_segs() { ip netns exec "$1" nstat -asz TcpRetransSegs | awk '$1 == "TcpRetransSegs" {print $2}'; }

part_retransmit() {
	echo
	echo "=== retransmit: a 2 MB transfer under 5 % loss; the resends faultline saw and the kernel's count"
	head -c 2000000 /dev/urandom >"$T/blob"
	ip netns exec "$B" socat -u TCP-LISTEN:8085,reuseaddr OPEN:"$T/blob.out",creat,trunc &
	local sp=$!
	wait_listen 8085
	# The earlier parts' connections came from A too: count from here on.
	k0=$(retrans_segs "$A")
	fl_on 'tcp dst port 8085 => drop 5%'
	ip netns exec "$A" socat -u OPEN:"$T/blob" TCP:10.123.0.2:8085
	wait "$sp"
	k=$(($(retrans_segs "$A") - k0))
	fl_off
	same=$(cmp -s "$T/blob" "$T/blob.out" && echo yes || echo NO)
	# Like for like. The kernel's TcpRetransSegs counts the segments the
	# sender sent again, in wire segments (a GSO packet of N MSS counts N).
	# faultline sees every packet as it enters B, often as a GSO
	# super-packet, the copies it drops included, and classifies it as
	# tshark would: a resend is a retransmission, or out-of-order when it
	# comes within the initial RTT (many do on a fast link). So count the
	# sender's packets of either class, in segments of the MSS in use (the
	# smaller MSS option, less the 12 bytes of timestamps); a resent SYN or
	# FIN is one segment.
	conclude "
c = [c for c in stats['connections'] if c['conn'].endswith(':8085')][0]
o = c['opts']
mss = min(o[0]['mss'] or 1460, o[1]['mss'] or 1460) - (12 if o[0]['ts'] and o[1]['ts'] else 0)
segs = lambda e: max(1, -(-e['plen'] // mss))
mine = [e for e in pk if e.get('tcp_flow') == c['flow'] and e['endpoint'] == 0]
d = [e for e in mine if e['verdict'] == 'drop']
re = [e for e in mine if has(e, 'retransmission') or has(e, 'out-of-order')]
n_rt = sum(1 for e in re if has(e, 'retransmission'))
n = sum(segs(e) for e in re)
print('=> faultline dropped %d packets (%d wire segments; %d of the packets GSO super-packets). In wire segments of %d bytes: faultline saw the sender resend %d (in %d packets: %d retransmissions and %d out-of-order, as tshark calls them; %d segments repairing its drops), the sender\'s kernel counted %d (TcpRetransSegs), %d apart; the file arrived intact: $same.'
      % (len(d), sum(segs(e) for e in d), sum(1 for e in d if e.get('gso')), mss, n, len(re), n_rt,
         len(re) - n_rt, sum(segs(e) for e in re if e.get('caused_by')), $k, abs(n - $k)))"
}

case $PART in
all) for p in udp reorder handshake teardown timewait retransmit; do "part_$p"; done ;;
*) "part_$PART" ;;
esac
if [ -n "$HTML" ]; then
	"$FL" report "$ALL_EVENTS" -o "$HTML"
	echo
	echo "report written to $HTML"
fi
echo
echo "done; namespaces and iptables rules removed."

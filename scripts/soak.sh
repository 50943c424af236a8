#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The soak: SECONDS (default 600) of mixed TCP and UDP, IPv4 and IPv6,
# through delay, reorder, duplicate and drop rules, with a new TCP
# connection and a new UDP flow (its own source port) every 1/RATE s.
#   sudo scripts/soak.sh [SECONDS]
# Environment: FL_BUILD (default build/), SOAK_TCP_RATE and SOAK_UDP_RATE
# (new connections and flows per second, default 10 each), SOAK_SEED
# (default 1), SOAK_KEEP=DIR (keep the logs and events there).
#
# Two namespaces on a veth pair: soakgen's client in A, its server and
# faultline in B (so B's PREROUTING sees the requests, OUTPUT the answers).
# It checks, and exits 1 if any of it fails:
#   - every TCP connection delivered every byte, in order, both ways;
#   - every UDP flow, both ways: what faultline saw equals what was sent,
#     and what arrived = seen - dropped + copies, as faultline's events
#     count drops and copies for that flow;
#   - faultline saw every packet the kernel queued (nfnetlink_queue's
#     id_sequence), the kernel lost none, the events log has a line for
#     every packet, the tracker one segment for every TCP packet;
#   - nothing held after the traffic stopped (kernel queue and faultline's
#     counters), and after SIGTERM held_now is 0 and every held packet left;
#   - RSS growth from a third of the run to its end stays within the
#     bound the README's Soak section derives (the caps of what faultline
#     keeps: flow table, ended connections' summaries), plus a fixed slack.
# Output: human-readable lines, then one JSON line starting {"soak":.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-600}
case $SECS in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
[ "$SECS" -ge 10 ] || { echo "soak: at least 10 seconds" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "soak: needs root (namespaces, iptables): sudo $0" >&2; exit 1; }
FL_BUILD=${FL_BUILD:-$root/build}
. "$root/tests/integration/lib.sh"
SOAKGEN=$FL_BUILD/soakgen
[ -x "$FL" ] && [ -x "$SOAKGEN" ] || fail "no $FL or $SOAKGEN: run scripts/build.sh first"
TCP_RATE=${SOAK_TCP_RATE:-10}
UDP_RATE=${SOAK_UDP_RATE:-10}
SEED=${SOAK_SEED:-1}
PORT=7000

keep() {
	[ -n "${SOAK_KEEP:-}" ] || return 0
	mkdir -p "$SOAK_KEEP" && cp -r "$T"/. "$SOAK_KEEP"/
}
trap 'r=$?; keep; set +e; (exit $r); cleanup' EXIT

# ASan keeps freed memory in a quarantine (256 MiB by default) that fills
# with the packets' churn and would swamp the RSS figures: a small one
# fills during the warm-up and then stays full.
ASAN=0
if grep -q __asan_init "$FL"; then
	ASAN=1
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16
fi

cat >"$T/soak.rules" <<EOF
udp port $PORT => drop 3%
udp port $PORT => duplicate 2%
udp port $PORT => reorder 4
udp port $PORT => delay 5ms jitter 5ms
tcp port $PORT => delay 2ms jitter 2ms
tcp port $PORT => drop 1%
tcp port $PORT => reorder 3
EOF

make_pair
ip netns exec "$NS_B" "$SOAKGEN" serve $PORT >"$T/server.json" 2>"$T/server.err" &
SRV_PID=$!
PIDS+=("$SRV_PID")
for _ in $(seq 1 100); do
	grep -q ready "$T/server.json" 2>/dev/null && break
	sleep 0.05
done
grep -q ready "$T/server.json" || fail "soakgen server did not start"
fl_start "$NS_B" --rules "$T/soak.rules" --seed "$SEED" --events "$T/events.jsonl"

# rss: faultline's resident set in KiB. queue: the kernel's view of the
# queue (nfnetlink_queue: waiting for a verdict, dropped by the kernel,
# lost on the way to user space, packets queued so far).
rss() { awk '/^VmRSS/ {print $2}' "/proc/$FL_PID/status"; }
queue() {
	ip netns exec "$NS_B" cat /proc/net/netfilter/nfnetlink_queue |
		awk '$1 == 4242 {print $3, $6, $7, $8}'
}
t0=$(date +%s.%N)
sample() { # sample LABEL: one line of $T/samples: label, seconds, RSS, queue
	echo "$1 $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") $(rss) $(queue)" >>"$T/samples"
}
# SIGUSR1: faultline's counters, one more JSON line on stdout.
usr1() {
	local n
	n=$(grep -c '^{' "$T/fl.out" || true)
	kill -USR1 "$FL_PID"
	for _ in $(seq 1 500); do
		[ "$(grep -c '^{' "$T/fl.out" || true)" -gt "$n" ] && { echo "$1" >>"$T/usr1"; return 0; }
		sleep 0.02
	done
	fail "no counters on SIGUSR1"
}

sample start
log "soak: $SECS s, $TCP_RATE TCP connections/s, $UDP_RATE UDP flows/s, seed $SEED, build $FL_BUILD"
ip netns exec "$NS_A" "$SOAKGEN" run 10.99.0.2 fd99::2 $PORT "$SECS" "$TCP_RATE" "$UDP_RATE" "$SEED" \
	>"$T/client.json" 2>"$T/client.err" &
CLI_PID=$!
PIDS+=("$CLI_PID")

# A sample every 1/30 of the run (2..20 s); the counters (SIGUSR1) at a
# third, two thirds and at the end of the sending. A third in, the caches
# and pools are warm: RSS growth is measured from there.
step=$((SECS / 30))
[ $step -ge 2 ] || step=2
[ $step -le 20 ] || step=20
third=$((SECS / 3))
next_usr1=$third
start=$(date +%s)
while ! grep -q sending_done "$T/client.json" 2>/dev/null; do
	kill -0 "$CLI_PID" 2>/dev/null || fail "soakgen client died: $(cat "$T/client.err")"
	kill -0 "$FL_PID" 2>/dev/null || fail "faultline died"
	sleep $step
	el=$(($(date +%s) - start))
	if [ "$el" -ge "$next_usr1" ] && [ "$next_usr1" -lt "$SECS" ]; then
		sample "usr1-$next_usr1"
		usr1 "during"
		next_usr1=$((next_usr1 + third))
	else
		sample run
	fi
done
sample sent
usr1 "sent"

# The client has stopped sending and every connection is done. Wait until
# the kernel queue is empty and no packet entered it for a second: then
# every held packet has left and every answer has been sent.
last=
for _ in $(seq 1 120); do
	read -r waiting _ _ seqno <<<"$(queue)"
	[ "$waiting" -eq 0 ] && [ "$seqno" = "$last" ] && break
	last=$seqno
	sleep 1
done
[ "$waiting" -eq 0 ] && [ "$seqno" = "$last" ] || fail "traffic did not stop 2 minutes after sending ended"
sample end
usr1 "quiet"
kill -TERM "$CLI_PID"
wait "$CLI_PID" || fail "soakgen client exited $?"
kill -TERM "$SRV_PID"
wait "$SRV_PID" || fail "soakgen server exited $?"
fl_stop TERM
no_chain_left "$NS_B"
ip netns exec "$NS_A" nstat -asz UdpRcvbufErrors Udp6RcvbufErrors >"$T/nstat.a"
ip netns exec "$NS_B" nstat -asz UdpRcvbufErrors Udp6RcvbufErrors >"$T/nstat.b"

python3 - "$T" "$SECS" "$ASAN" <<'EOF'
import json, sys

T, secs, asan = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
fails = []

def check(ok, msg):
    if not ok:
        fails.append(msg)
    return ok

def last_json(path):
    lines = [l for l in open(path) if l.startswith("{")]
    return json.loads(lines[-1])

client = last_json(f"{T}/client.json")
server = last_json(f"{T}/server.json")
stats_lines = [json.loads(l) for l in open(f"{T}/fl.out") if l.startswith("{")]
final = stats_lines[-1]
usr1 = stats_lines[:-1]
samples = []
for l in open(f"{T}/samples"):
    f = l.split()
    samples.append({"label": f[0], "t": float(f[1]), "rss_kib": int(f[2]), "waiting": int(f[3]),
                    "queue_dropped": int(f[4]), "user_dropped": int(f[5]), "queued": int(f[6])})
rcvbuf_errors = 0
for side in ("a", "b"):
    for l in open(f"{T}/nstat.{side}"):
        f = l.split()
        if len(f) >= 2 and f[0].endswith("RcvbufErrors"):
            rcvbuf_errors += int(f[1])

# The events log, one pass: per UDP flow (keyed by IP version and the
# client's port) and direction, what faultline saw, dropped and copied.
udp = {}
n_packets = n_tcp = n_drop = n_copies = n_hold = n_release = 0
protos = {}  # faultline's packet number -> its protocol
with open(f"{T}/events.jsonl") as ev:
    for line in ev:
        e = json.loads(line)
        kind = e["ev"]
        if kind == "release":
            n_release += 1
            continue
        if kind != "packet":
            continue
        n_packets += 1
        protos[e["pkt"]] = e["proto"]
        verdict = e["verdict"]
        copies = e.get("copies", 0)
        n_drop += verdict == "drop"
        n_hold += verdict == "hold"
        # A dropped packet is never copied; a copy of a held one leaves with it.
        n_copies += copies if verdict != "drop" else 0
        if e["proto"] == "tcp":
            n_tcp += 1
            continue
        if e["proto"] != "udp":
            continue
        src, dst = e["flow"].split(" ", 1)[1].split(" > ")
        way = e["dir"]
        port = int((src if way == "in" else dst).rsplit(":", 1)[1])
        key = (6 if "[" in src else 4, port)
        f = udp.setdefault(key, {"in": [0, 0, 0], "out": [0, 0, 0]})[way]
        f[0] += 1
        f[1] += verdict == "drop"
        f[2] += copies if verdict != "drop" else 0

# UDP: every flow, both ways.
by_id = {r[0]: r[1:] for r in server["udp_flows"]}
bad_flows = []
dgrams = {"sent": 0, "received": 0, "dropped": 0, "copies": 0}
for fid, fam, sport, sent, replies, _ in client["flows"]:
    rx, rx_unique = by_id.get(fid, (0, 0))
    f = udp.get((fam, sport), {"in": [0, 0, 0], "out": [0, 0, 0]})
    seen_in, drop_in, cp_in = f["in"]
    seen_out, drop_out, cp_out = f["out"]
    ok = (seen_in == sent and rx == seen_in - drop_in + cp_in and rx_unique == sent - drop_in and
          seen_out == rx and replies == seen_out - drop_out + cp_out)
    if not ok:
        bad_flows.append({"flow": fid, "ip": fam, "port": sport, "sent": sent, "seen_in": seen_in,
                          "dropped_in": drop_in, "copies_in": cp_in, "server_received": rx,
                          "server_distinct": rx_unique, "seen_out": seen_out,
                          "dropped_out": drop_out, "copies_out": cp_out, "replies": replies})
    dgrams["sent"] += sent + rx
    dgrams["received"] += rx + replies
    dgrams["dropped"] += drop_in + drop_out
    dgrams["copies"] += cp_in + cp_out
check(not bad_flows, f"{len(bad_flows)} UDP flows where sent != received + dropped - copies: "
      + json.dumps(bad_flows[:5]))
check(len(udp) == client["udp_flows"], f"faultline saw {len(udp)} UDP flows, the client made {client['udp_flows']}")
check(client["udp_send_errors"] == 0 and client["udp_bad"] == 0 and server["udp_bad"] == 0
      and server["udp_reply_errors"] == 0, "UDP send errors or malformed datagrams")
check(rcvbuf_errors == 0, f"{rcvbuf_errors} datagrams lost to full socket buffers (not faultline's)")

# TCP: every connection whole, both ends agree, the tracker saw each one.
tcp = final.get("tcp", {})
check(client["tcp_bad"] == 0 and client["tcp_ok"] == client["tcp_connections"],
      f"TCP: {client['tcp_bad']} of {client['tcp_connections']} connections failed: {client['first_errors']}")
check(server["tcp_ok"] == client["tcp_ok"] and server["tcp_bad"] == 0,
      f"TCP: the server finished {server['tcp_ok']} connections ({server['tcp_bad']} bad), the client {client['tcp_ok']}")
check(tcp.get("connections") == client["tcp_connections"],
      f"the tracker saw {tcp.get('connections')} connections, the client opened {client['tcp_connections']}")
check(tcp.get("segments") == n_tcp, f"the tracker counted {tcp.get('segments')} segments, the events log {n_tcp}")

# Every packet: the kernel's count, faultline's, the events log's.
end = [s for s in samples if s["label"] == "end"][-1]
# The kernel's count is read once the traffic is quiet, faultline's at its
# exit: the kernel's own housekeeping (an IPv6 router or neighbour
# solicitation) may come in between. Those, and only those, may be more.
after = sorted(n for n in protos if n > end["queued"])
check(final["packets"] >= end["queued"] and len(after) == final["packets"] - end["queued"] and
      all(protos[n] in ("icmp", "icmp6") for n in after),
      f"the kernel queued {end['queued']} packets, faultline counted {final['packets']}"
      f" (after the count: {[protos[n] for n in after]})")
check(end["queue_dropped"] == 0 and end["user_dropped"] == 0,
      f"the kernel dropped {end['queue_dropped']} queued packets, {end['user_dropped']} on the way to faultline")
check(n_packets == final["packets"], f"the events log has {n_packets} packets, the counters {final['packets']}")
check(n_drop == final["dropped"] and n_hold == final["held"],
      f"events: {n_drop} dropped, {n_hold} held; counters: {final['dropped']}, {final['held']}")
check(n_copies == final["duplicates_sent"] and final.get("duplicate_errors", 0) == 0,
      f"events: {n_copies} copies; counters: {final['duplicates_sent']} sent, {final.get('duplicate_errors')} failed")
check(final["packets"] == final["accepted"] + final["dropped"] + final["held"],
      "packets != accepted + dropped + held")
# The accounting needs every line: faultline counts the ones it could not write.
check(final.get("events_dropped", 0) == 0, f"faultline could not write {final.get('events_dropped')} event lines")
for k in ("verdict_errors", "read_errors", "enobufs", "malformed"):
    check(final.get(k, 0) == 0, f"{k}: {final.get(k)}")

# Held: none once the traffic stopped; none after SIGTERM, every one released.
quiet = usr1[-1]
check(end["waiting"] == 0 and quiet["held_now"] == 0, f"held after the traffic stopped: kernel {end['waiting']}, faultline {quiet['held_now']}")
check(final["held_now"] == 0, f"held_now {final['held_now']} after SIGTERM")
check(final["released"] == final["held"] and n_release == final["held"],
      f"held {final['held']}, released {final['released']}, release events {n_release}")
held_during = [u["held_now"] for u in usr1]

# RSS: from a third of the run to its end, within what the capped
# structures can add (see README, Soak) plus a fixed slack.
MIB = 1024
warm = [s for s in samples if s["t"] >= secs / 3] or samples
rss_start, rss_end = warm[0]["rss_kib"], end["rss_kib"]
growth = rss_end - rss_start
flows = final["flows"]
slots = 64
while slots < 2 * flows:
    slots *= 2
summaries = len(json.dumps(final.get("connections", []))) // 1024
# Flow table: the table and the one it replaced (88-byte slots). Ended
# connections' summaries, plus SIGUSR1's copy of them as one string.
allow = 2 * slots * 88 // 1024 + 3 * summaries
slack = (48 if asan else 8) * MIB
bound = allow * (3 if asan else 1) + slack
check(growth <= bound, f"RSS grew {growth} KiB after warm-up, bound {bound} KiB")

res = {"soak": "ok" if not fails else "FAIL", "seconds": secs, "asan": asan,
       "tcp_connections": client["tcp_connections"], "tcp_ok": client["tcp_ok"],
       "tcp_bytes": client["bytes_up"] + client["bytes_down"],
       "udp_flows": client["udp_flows"], "udp_datagrams": dgrams, "udp_flows_bad": len(bad_flows),
       "packets": final["packets"], "dropped": final["dropped"], "held": final["held"],
       "released": final["released"], "duplicates_sent": final["duplicates_sent"],
       "tcp_segments_tracked": tcp.get("segments"), "kernel_queued": end["queued"],
       "held_now_during": held_during[:-1], "held_now_quiet": quiet["held_now"],
       "held_now_after_stop": final["held_now"], "rss_kib": {"first": samples[0]["rss_kib"],
       "start": rss_start, "end": rss_end, "max": max(s["rss_kib"] for s in samples),
       "growth": growth, "bound": bound}, "failures": fails}
print(f"soak: {secs} s{' (ASan)' if asan else ''}: {client['tcp_connections']} TCP connections "
      f"({client['tcp_ok']} whole, {res['tcp_bytes'] / 1e6:.1f} MB), {client['udp_flows']} UDP flows "
      f"({dgrams['sent']} datagrams sent both ways, {dgrams['dropped']} dropped, {dgrams['copies']} copies, "
      f"{dgrams['received']} received), {len(bad_flows)} flows off")
print(f"soak: faultline: {final['packets']} packets ({end['queued']} queued by the kernel), "
      f"{final['dropped']} dropped, {final['held']} held, {final['released']} released, "
      f"{final['duplicates_sent']} copies; held now during {held_during[:-1]}, once quiet "
      f"{quiet['held_now']}, after SIGTERM {final['held_now']}")
print(f"soak: RSS {samples[0]['rss_kib']} KiB at start, {rss_start} KiB at {warm[0]['t']:.0f} s, "
      f"{rss_end} KiB at the end ({growth:+d} KiB; bound {bound} KiB), max {res['rss_kib']['max']} KiB")
for f in fails:
    print(f"soak: FAIL: {f}")
print(json.dumps(res))
sys.exit(1 if fails else 0)
EOF

#!/usr/bin/env bash
# --queues 2: the kernel spreads connections over two queues by their
# addresses (--queue-balance), and both directions of each connection reach
# the same queue, so each connection is tracked whole. 64 TCP connections,
# each from its own client address, data both ways, through a delay rule:
#  - both queues took packets, and each connection was created once
#    (a connection split over two queues would be counted by both trackers,
#    as a pickup on one of them); every one went through its handshake and
#    close on both endpoints;
#  - the counters are the sums of the queues', the delay rule acted on
#    every packet of every queue, and the event log is whole lines with
#    packet numbers unique in the run.
# The kernel hashes only the address pair and the protocol (with a seed
# drawn at boot; not the ports), so which queue a pair gets is random but
# fixed. Everything asserted here holds whatever the hash does, except
# "both queues took packets": with 64 distinct pairs it fails falsely only
# if all 64 land on one queue, a chance of 2 * 2^-64 = 2^-63 (16 pairs, as
# before, gave 2^-15).
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
for i in $(seq 1 64); do echo "addr add 10.99.0.$((100 + i))/24 dev va-$ID"; done | ip -n "$NS_A" -batch -

cat >"$T/srv.py" <<'PY'
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.99.0.2", 8080)); s.listen(128); print("ready", flush=True)
def echo(c):
    with c:
        while (b := c.recv(65536)):
            c.sendall(b)
while True:
    c, _ = s.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
PY
cat >"$T/cli.py" <<'PY'
import os, socket, sys, threading
bad = []
def one(src):
    data = os.urandom(8192)
    c = socket.create_connection(("10.99.0.2", 8080), timeout=20, source_address=(src, 0))
    c.sendall(data); c.shutdown(socket.SHUT_WR)
    got = b""
    while (b := c.recv(65536)):
        got += b
    c.close()
    if got != data:
        bad.append(src)
ts = [threading.Thread(target=one, args=("10.99.0.%d" % (100 + i),)) for i in range(1, 65)]
[t.start() for t in ts]; [t.join() for t in ts]
sys.exit("echo differs for %s" % bad if bad else 0)
PY
ip netns exec "$NS_B" python3 "$T/srv.py" >"$T/srv.out" 2>"$T/srv.err" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q ready "$T/srv.out" && break; sleep 0.05; done

fl_start "$NS_B" --queues 2 --rule 'tcp port 8080 => delay 2ms' --events "$T/ev.jsonl"
grep -q 'running (queues 4242-4243' "$T/fl.err" || fail "not running on two queues: $(cat "$T/fl.err")"
timeout 60 ip netns exec "$NS_A" python3 "$T/cli.py" 2>"$T/cli.err" || fail "clients failed: $(cat "$T/cli.err")"
# The last FIN/ACKs reach the tracker before the stop.
sleep 0.3
fl_stop

python3 - "$T/fl.out" "$T/ev.jsonl" <<'PY' || exit 1
import json, sys
d = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
lines = open(sys.argv[2]).read().split("\n")
bad = []
qs = d["queues"]
print("  queues:", qs, file=sys.stderr)
if [q["queue"] for q in qs] != [4242, 4243]:
    bad.append("queues %s" % qs)
if any(q["packets"] == 0 for q in qs):
    bad.append("a queue took no packets: %s" % qs)
for k in ("packets", "held", "connections"):
    tot = d["tcp"]["connections"] if k == "connections" else d[k]
    if sum(q[k] for q in qs) != tot:
        bad.append("%s: queues sum to %d, total %d" % (k, sum(q[k] for q in qs), tot))
conns = [c for c in d["connections"] if c["conn"].endswith("10.99.0.2:8080")]
if d["tcp"]["connections"] != 64 or len(conns) != 64:
    bad.append("%d connections created, %d listed, want 64 each" % (d["tcp"]["connections"], len(conns)))
if len({c["conn"].split(" > ")[0].rsplit(":", 1)[0] for c in conns}) != 64:
    bad.append("not one connection per client address: %s" % [c["conn"] for c in conns])
if len({c["flow"] for c in d["connections"]}) != len(d["connections"]):
    bad.append("connection ids not unique")
for c in conns:
    if c["pickup"] or "SYN_SENT" not in c["reached"][0] or "ESTABLISHED" not in c["reached"][1] \
       or "FIN_WAIT_1" not in c["reached"][0] or "CLOSE_WAIT" not in c["reached"][1]:
        bad.append("not tracked whole: %s" % c)
r = d["rules"][0]
if not (r["matched"] == r["delayed"] == d["held"] == d["released"] == d["packets"] > 0):
    bad.append("rule %s, held %d, released %d, packets %d" % (r, d["held"], d["released"], d["packets"]))
if lines[-1] != "":
    bad.append("event log ends mid-line")
ev = [json.loads(l) for l in lines[:-1]]
pk = [e["pkt"] for e in ev if e["ev"] == "packet"]
if len(pk) != d["packets"] or len(set(pk)) != len(pk):
    bad.append("%d packet lines, %d distinct numbers, %d packets" % (len(pk), len(set(pk)), d["packets"]))
for b in bad:
    print("FAIL: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
no_chain_left "$NS_B"
echo ok

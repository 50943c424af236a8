# SPDX-License-Identifier: MIT
# Helpers for the far-end tests (issue 17): a connection between A (client,
# 10.99.0.1) and B (server, 10.99.0.2, port FE_PORT) captured by tcpdump at
# both interfaces while ss in both namespaces is polled; each capture is then
# replayed and the tracker's states of both endpoints are compared with what
# the kernels went through. Source after lib.sh and make_pair.
FE_PORT=${FE_PORT:-7003}
FE_TD=()

# fe_capture NAME NS IFACE: tcpdump of FE_PORT at IFACE in NS into $T/NAME.pcap.
fe_capture() {
	local err=$T/$1.tcpdump.err
	ip netns exec "$2" tcpdump -i "$3" -nn -s 128 --immediate-mode -U -w "$T/$1.pcap" \
		tcp port "$FE_PORT" 2>"$err" &
	FE_TD+=($!)
	PIDS+=($!)
	for _ in $(seq 1 100); do
		grep -q 'listening on' "$err" && return 0
		sleep 0.05
	done
	fail "tcpdump at $3 did not start"
}

# fe_capture_stop: stop every capture; each must have lost nothing.
fe_capture_stop() {
	local p
	for p in "${FE_TD[@]}"; do kill -INT "$p"; done
	for p in "${FE_TD[@]}"; do wait "$p" || true; done
	FE_TD=()
	for f in "$T"/*.tcpdump.err; do
		grep -q '^0 packets dropped by kernel' "$f" || fail "tcpdump lost packets: $(cat "$f")"
	done
}

# fe_ss NS LPORT RPORT: the state of the socket on that pair of ports as the
# tracker names it (not the listener), "-" if there is none.
fe_ss() {
	local s
	s=$(ip netns exec "$1" ss -Htan "( sport = :$2 and dport = :$3 )" |
		awk '$1 != "LISTEN" {gsub("-", "_", $1); sub("^ESTAB$", "ESTABLISHED", $1);
			sub("^SYN_RECV$", "SYN_RECEIVED", $1); sub("^FIN_WAIT1$", "FIN_WAIT_1", $1);
			sub("^FIN_WAIT2$", "FIN_WAIT_2", $1); print $1; exit}')
	echo "${s:--}"
}

# fe_poll NS LPORT RPORT OUT: in NS, record the state of the socket on that
# pair of ports into OUT as ss names it (fe_ss), one line per change, until
# $T/ss.stop exists (or $T is gone); then the last state again. It asks the
# kernel directly (NETLINK_SOCK_DIAG, as ss does) every 2 ms: an ss process
# per poll took 70 ms and more on a loaded machine and missed states that
# lasted 300. Run it in the background: $! is the poller itself (exec).
fe_poll() {
	exec ip netns exec "$1" python3 - "$2" "$3" "$4" "$T/ss.stop" <<'PY'
import os, socket, struct, sys, time
lport, rport, out, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
tdir = os.path.dirname(stop)
names = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECEIVED", 4: "FIN_WAIT_1",
         5: "FIN_WAIT_2", 6: "TIME_WAIT", 7: "CLOSED", 8: "CLOSE_WAIT", 9: "LAST_ACK",
         10: "LISTEN", 11: "CLOSING", 12: "SYN_RECEIVED"}
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)  # NETLINK_SOCK_DIAG
# SOCK_DIAG_BY_FAMILY dump of every TCP socket (inet_diag_req_v2, all states).
req = struct.pack("=LHHLL", 72, 20, 0x301, 1, 0) + \
      struct.pack("=BBBBL", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xffffffff) + bytes(48)
def poll():
    nl.send(req)
    got, done = "-", False
    while not done:
        buf = nl.recv(65536)
        off = 0
        while off + 16 <= len(buf):
            ln, typ = struct.unpack_from("=LH", buf, off)
            if typ == 3 or typ == 2:  # NLMSG_DONE, NLMSG_ERROR
                done = True
            elif typ == 20:
                st = buf[off + 17]
                sp, dp = struct.unpack_from("!HH", buf, off + 20)
                if sp == lport and dp == rport and st != 10:
                    got = names.get(st, str(st))
            off += (ln + 3) & ~3
    return got
last = None
with open(out, "w") as f:
    while not os.path.exists(stop) and os.path.isdir(tdir):
        s = poll()
        if s != last:
            f.write(s + "\n")
            f.flush()
            last = s
        time.sleep(0.002)
    f.write(poll() + "\n")
PY
}

# fe_poll_start CPORT: poll both kernels' states of the connection from A's
# CPORT into $T/ss.A and $T/ss.B (fe_poll) until fe_poll_stop.
fe_poll_start() {
	local cport=$1
	rm -f "$T/ss.A" "$T/ss.B" "$T/ss.stop"
	fe_poll "$NS_A" "$cport" "$FE_PORT" "$T/ss.A" &
	FE_POLL=($!)
	PIDS+=($!)
	fe_poll "$NS_B" "$FE_PORT" "$cport" "$T/ss.B" &
	FE_POLL+=($!)
	PIDS+=($!)
	# Both are polling before anything happens (python may take seconds to
	# start on a loaded machine).
	for _ in $(seq 1 1200); do
		[ -s "$T/ss.A" ] && [ -s "$T/ss.B" ] && return 0
		sleep 0.05
	done
	fail "the ss polls did not start"
}

# fe_poll_stop: one last poll of both (the end states), then stop.
fe_poll_stop() {
	local p
	touch "$T/ss.stop"
	for p in "${FE_POLL[@]}"; do wait "$p" || fail "an ss poll failed"; done
}

# fe_wait_ss NS LPORT RPORT WANT: until the socket is in state WANT ("-": gone).
fe_wait_ss() {
	local got
	for _ in $(seq 1 100); do
		got=$(fe_ss "$1" "$2" "$3")
		[ "$got" = "$4" ] && return 0
		sleep 0.05
	done
	fail "ss in $1 for :$2 <-> :$3 shows '$got', expected '$4'"
}

# fe_fins PCAP: each FIN in the capture, one line each, in capture order:
# the sender (A or B), the FIN's sequence number, its ACK number (raw).
fe_fins() {
	tshark -r "$1" -Y 'tcp.flags.fin == 1' -T fields -e ip.src -e tcp.seq_raw -e tcp.len \
		-e tcp.ack_raw 2>/dev/null |
		awk '{printf "%s %.0f %s\n", $1 == "10.99.0.1" ? "A" : "B", ($2 + $3) % 4294967296, $4}'
}

# fe_simclose PCAP: true if each endpoint's first FIN in the capture does
# not acknowledge the other's FIN: each sent its FIN before it had the
# other's, a simultaneous close (both kernels went through FIN_WAIT_1).
fe_simclose() {
	fe_fins "$1" | awk '!seen[$1]++ {fin[$1] = $2; ack[$1] = $3}
		END {exit !(("A" in fin) && ("B" in fin) && ack["A"] == fin["B"] && ack["B"] == fin["A"])}'
}

# fe_check NAME CPORT [REPLAY ARGS...]: replay $T/NAME.pcap; the tracker's
# final state of each endpoint must be what ss showed last (no socket:
# CLOSED), and the states ss showed, in order, must be among the states the
# tracker took, in that order (the poll can miss a short state, the tracker
# must not invent an order the kernel did not go through); and no segment
# may come from an endpoint in a state the tracker held, at that segment,
# in which a kernel could not have sent it (a FIN from CLOSED, a SYN+ACK from
# ESTABLISHED), unless it acknowledges less than its sender did before.
# FE_MUST ("E:STATE ...") names states the capture proves kernel E went
# through (the poll may miss a short one): the tracker must take them too.
# FE_RETRACT ("E:OLD>NEW ...") names the receipts the tracker must take back,
# each with a transition marked "retracted" in the event log (more may be:
# a FIN resent before the RST reached its sender is a second one in 080);
# every one so marked must return its endpoint to the state before its
# previous transition. The event log must conform to docs/events.schema.json.
fe_check() {
	local name=$1 cport=$2
	shift 2
	"$FL" replay "$T/$name.pcap" --rule 'tcp port 1 => drop' --events "$T/$name.ev" "$@" \
		>"$T/$name.json" 2>"$T/$name.err" || fail "$name: replay failed: $(cat "$T/$name.err")"
	python3 "$(dirname "${BASH_SOURCE[0]}")/../tools/evschema.py" events "$T/$name.ev" >/dev/null ||
		fail "$name: the event log does not conform to the schema"
	python3 - "$T" "$name" "$cport" "${FE_MUST:-}" "${FE_RETRACT:-}" <<'PY'
import json, sys
T, name, cport, must, retract = sys.argv[1:]
d = json.loads([l for l in open("%s/%s.json" % (T, name)) if l.startswith("{")][-1])
ev = [json.loads(l) for l in open("%s/%s.ev" % (T, name))]
cs = [c for c in d["connections"] if c["conn"].startswith("10.99.0.1:%s " % cport)]
if len(cs) != 1:
    sys.exit("FAIL: %s: %d connections in the summary" % (name, len(cs)))
c = cs[0]
bad = []
for e, host in ((0, "A"), (1, "B")):
    polls = [l.strip() for l in open("%s/ss.%s" % (T, host))]
    seen = []
    for s in polls:
        if s != "-" and (not seen or seen[-1] != s):
            seen.append(s)
    final = polls[-1] if polls[-1] != "-" else "CLOSED"
    if polls[-1] == "-" and seen:
        seen.append("CLOSED")
    tr = [x for x in ev if x.get("ev") == "transition" and x["endpoint"] == e
          and x["conn"].startswith("10.99.0.1:%s " % cport)]
    took = ([tr[0]["old"]] if tr else []) + [x["new"] for x in tr]
    it = iter(took)
    ordered = all(s in it for s in seen)
    print("  %s capture, endpoint %d (%s): ss %s; tracker %s"
          % (name, e, host, " > ".join(seen) or "-", " > ".join(took)), file=sys.stderr)
    if c["state"][e] != final:
        bad.append("%s capture: endpoint %d (%s) ends %s, ss says %s" % (name, e, host, c["state"][e], final))
    if not ordered:
        bad.append("%s capture: endpoint %d (%s): ss went %s, the tracker %s"
                   % (name, e, host, " > ".join(seen), " > ".join(took)))
    marked = []
    for i, x in enumerate(tr):
        if x.get("retracted"):
            marked.append("%d:%s>%s" % (e, x["old"], x["new"]))
            if i == 0 or tr[i - 1]["old"] != x["new"] or tr[i - 1]["new"] != x["old"]:
                bad.append("%s capture: endpoint %d: %s>%s marked retracted takes back no receipt"
                           % (name, e, x["old"], x["new"]))
    want = [r for r in retract.split() if r.startswith("%d:" % e)]
    if any(marked.count(w) < want.count(w) for w in want):
        bad.append("%s capture: endpoint %d: retracted %s, expected %s" % (name, e, marked, want))
    for m in must.split():
        if m.split(":")[0] == str(e) and m.split(":")[1] not in took:
            bad.append("%s capture: endpoint %d (%s) went through %s, the tracker %s"
                       % (name, e, host, m.split(":")[1], " > ".join(took)))
# What a kernel in the state the tracker held for the sender could send:
# nothing but a RST once closed, a SYN+ACK only before it is established, a
# FIN only before it has its FIN acknowledged.
may_send = {
    "SA": {"LISTEN", "SYN_SENT", "SYN_RECEIVED"},
    "F": {"SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "CLOSING", "LAST_ACK"},
    "": {"SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSING",
         "LAST_ACK", "TIME_WAIT"},
}
# A segment acknowledging less than its sender acknowledged before was
# sent before that one and held on the way (faultline holds FINs in 078):
# capture order says nothing about the state it was sent in.
top = {}
for p in ev:
    if p.get("ev") != "packet" or "R" in p["flags"] or p["flags"] == "S":
        continue
    e = p["endpoint"]
    if "A" in p["flags"]:
        if e in top and 0 < (top[e] - p["ack"]) % 2**32 < 2**31:
            continue
        top[e] = p["ack"]
    kind = "SA" if "S" in p["flags"] else "F" if "F" in p["flags"] else ""
    if p["sender_state"] not in may_send[kind]:
        bad.append("%s capture: endpoint %d sent segment %d (%s) in %s, by the tracker"
                   % (name, p["endpoint"], p["seg"], p["flags"], p["sender_state"]))
for b in bad:
    print("FAIL: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# fe_capture_both PORT: capture on both veth ends and poll both kernels'
# states for the client's local PORT (the part of setup every test shares).
fe_capture_both() {
	fe_capture A "$NS_A" "va-$ID"
	fe_capture B "$NS_B" "vb-$ID"
	fe_poll_start "$1"
}

# fe_drain_server: a server in B on FE_PORT that reads until the client
# closes, then closes; its pid in SERVER, stderr in $T/server.err.
fe_drain_server() {
	ip netns exec "$NS_B" python3 -c '
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.99.0.2", int(sys.argv[1])))
l.listen(1)
s, _ = l.accept()
while s.recv(10):
    pass
s.close()' "$FE_PORT" 2>"$T/server.err" &
	PIDS+=($!)
	SERVER=$!
	wait_listen "$NS_B" "$FE_PORT"
}

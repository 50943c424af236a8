#!/usr/bin/env bash
# Raw sockets open only with the first rule that needs them, in the step
# that installs it. Started with CAP_NET_ADMIN alone (setpriv, as a
# container's --cap-drop ALL --cap-add NET_ADMIN) and the control socket
# on: a delay works; a duplicate added through ctl is refused naming
# CAP_NET_RAW, and the running rules are unchanged; so is one brought in by
# a SIGHUP reload. With CAP_NET_RAW too and two queues: no raw socket until
# a duplicate is added through ctl, then two per queue, and the receiver
# counts the copies.
. "$(dirname "$0")/lib.sh"
make_pair
# caps LIST CMD...: CMD in B with only the capabilities in LIST (no ambient ones).
caps() {
	local list=$1
	shift
	exec ip netns exec "$NS_B" setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all,"$list" -- "$@"
}
# start LIST ARGS...: faultline run with those capabilities, until "running".
start() {
	local list=$1
	shift
	rm -f "$T/fl.out" "$T/fl.err"
	caps "$list" "$FL" run --seed 1 "$@" >"$T/fl.out" 2>"$T/fl.err" &
	FL_PID=$!
	for _ in $(seq 1 100); do
		grep -q 'faultline: running' "$T/fl.err" && return 0
		kill -0 "$FL_PID" 2>/dev/null || fail "did not start: $(cat "$T/fl.err")"
		sleep 0.05
	done
	fail "not ready after 5 s"
}
# raw_sockets: how many of faultline's descriptors are raw sockets.
raw_sockets() {
	local inodes
	inodes=$(awk 'NR > 1 {print $10}' /proc/"$FL_PID"/net/raw /proc/"$FL_PID"/net/raw6)
	find /proc/"$FL_PID"/fd -lname 'socket:*' -printf '%l\n' | tr -d 'socket:[]' |
		grep -cxF -f <(echo "$inodes"; echo none) || true
}
rules_now() { "$FL" ctl list; }

# CAP_NET_ADMIN alone, control socket on (the default), rules from a file.
echo 'udp dst port 5000 => delay 50ms' >"$T/rules"
start +net_admin -f "$T/rules"
[ "$(raw_sockets)" -eq 0 ] || fail "raw sockets open without a rule that needs them"
before=$(rules_now)
rc=0
"$FL" ctl add 'udp dst port 5000 => duplicate' 2>"$T/ctl.err" || rc=$?
log "ctl add duplicate, CAP_NET_ADMIN only: exit $rc: $(cat "$T/ctl.err")"
[ $rc -eq 1 ] || fail "ctl add: exit $rc, expected 1"
grep -q 'lacks CAP_NET_RAW.*the rules are unchanged' "$T/ctl.err" || fail "the refusal does not name CAP_NET_RAW"
[ "$(rules_now)" = "$before" ] || fail "rules changed: $(rules_now)"
# A reload that brings a segment rule in is refused the same way.
echo 'tcp => segment 100' >>"$T/rules"
kill -HUP "$FL_PID"
for _ in $(seq 1 100); do grep -q 'CAP_NET_RAW' "$T/fl.err" && break; sleep 0.05; done
grep -q 'lacks CAP_NET_RAW' "$T/fl.err" || fail "SIGHUP reload: $(cat "$T/fl.err")"
[ "$(rules_now)" = "$before" ] || fail "rules changed by the reload: $(rules_now)"
[ "$(raw_sockets)" -eq 0 ] || fail "raw sockets after refusals"
udp_recv "$NS_B" 5000 1000 100
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 100 500
udp_recv_wait
fl_stop TERM
read -r got d < <(python3 -c 'import json,sys
r=json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
s=json.loads([l for l in open(sys.argv[2]) if l.startswith("{")][-1])
print(r["received"], s["rules"][0]["delayed"])' "$T/recv.json" "$T/fl.out")
log "CAP_NET_ADMIN only: received $got of 100, $d delayed"
[ "$got" -eq 100 ] || fail "expected 100 datagrams, no copies"
[ "$d" -eq 100 ] || fail "delayed $d of 100"

# CAP_NET_ADMIN and CAP_NET_RAW, two queues: the sockets come with the rule.
start +net_admin,+net_raw --queues 2 --rule 'udp dst port 9 => drop'
[ "$(raw_sockets)" -eq 0 ] || fail "raw sockets open before a rule needs them"
"$FL" ctl add 'udp dst port 5000 => duplicate' >/dev/null 2>"$T/ctl.err" || fail "ctl add: $(cat "$T/ctl.err")"
n=$(raw_sockets)
log "raw sockets after ctl add duplicate, 2 queues: $n"
[ "$n" -eq 4 ] || fail "expected 4 raw sockets (IPv4 and IPv6 per queue), found $n"
udp_recv "$NS_B" 5000 1000 200
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 100 500
udp_recv_wait
fl_stop TERM
read -r got sent errs < <(python3 -c 'import json,sys
r=json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
s=json.loads([l for l in open(sys.argv[2]) if l.startswith("{")][-1])
print(r["received"], s["duplicates_sent"], s["duplicate_errors"])' "$T/recv.json" "$T/fl.out")
log "with CAP_NET_RAW: received $got for 100 sent, duplicates_sent $sent, duplicate_errors $errs"
[ "$got" -eq 200 ] || fail "the copies did not arrive"
[ "$errs" -eq 0 ] || fail "duplicate errors"
no_chain_left "$NS_B"
echo ok

#!/usr/bin/env bash
# tcp => drop 10% in the receiving namespace: a 5 MB file still arrives
# intact over TCP, because the kernel retransmits what faultline dropped
# (drops hit data on INPUT and ACKs on OUTPUT); the sender's
# TcpRetransSegs counter rises and faultline counts its drops.
. "$(dirname "$0")/lib.sh"
make_pair

# Absolute TcpRetransSegs of namespace $1 (-a: ignore, -s: do not touch nstat's history).
retrans() { ip netns exec "$1" nstat -asz TcpRetransSegs | awk '$1 == "TcpRetransSegs" {print $2}'; }

head -c $((5 * 1024 * 1024)) /dev/urandom >"$T/in"
ip netns exec "$NS_B" socat -u TCP-LISTEN:9000,reuseaddr OPEN:"$T/out",creat,trunc 2>"$T/recv.err" &
RECV_PID=$!
PIDS+=("$RECV_PID")
wait_listen "$NS_B" 9000

before=$(retrans "$NS_A")
fl_start "$NS_B" --rule 'tcp => drop 10%' --seed 5
# Generous: with 10 % loss in both directions TCP runs into retransmission
# timeouts (SYN and FIN included), but 5 MB never needs anywhere near 40 s.
timeout 40 ip netns exec "$NS_A" socat -u OPEN:"$T/in" TCP:10.99.0.2:9000 2>"$T/send.err" ||
	fail "sender failed or timed out (rc $?)"
rc=0
timeout 15 tail --pid="$RECV_PID" -f /dev/null || rc=$?
[ $rc -eq 0 ] || fail "receiver did not finish after the sender closed"
wait "$RECV_PID" || fail "receiver socat failed"
after=$(retrans "$NS_A")
fl_stop

dropped=$(json "$T/fl.out" 'd["dropped"]')
rdropped=$(json "$T/fl.out" 'd["rules"][0]["dropped"]')
matched=$(json "$T/fl.out" 'd["rules"][0]["matched"]')
log "faultline matched $matched TCP packets, dropped $dropped; sender TcpRetransSegs $before -> $after"
[ "$(sha256sum <"$T/in")" = "$(sha256sum <"$T/out")" ] ||
	fail "file corrupted or truncated: $(stat -c %s "$T/out") of $(stat -c %s "$T/in") bytes"
[ "$dropped" -gt 0 ] || fail "faultline dropped nothing"
[ "$rdropped" -eq "$dropped" ] || fail "rule dropped $rdropped != total dropped $dropped"
[ "$after" -gt "$before" ] || fail "sender's TcpRetransSegs did not rise ($before -> $after)"
no_chain_left "$NS_B"
echo ok

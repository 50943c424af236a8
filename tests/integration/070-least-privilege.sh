#!/usr/bin/env bash
# Once running, faultline keeps CAP_NET_ADMIN only (effective, permitted and
# bounding sets of every thread; no_new_privs set) and holds no raw socket
# unless a rule duplicates; with the control socket (on by default) it keeps
# CAP_NET_RAW too, and a duplicate rule added by `ctl add` opens them and
# sends its copies. With those capabilities SIGTERM still releases
# held packets and removes the chain (iptables-restore runs as a child).
# With the legacy iptables backend, whose iptables-restore opens a raw
# socket, CAP_NET_RAW stays as well, and the chain still goes at exit.
. "$(dirname "$0")/lib.sh"
make_pair
NET_ADMIN=0000000000001000	# 1 << CAP_NET_ADMIN (12)
# The bounding set shrinks only with CAP_SETPCAP (8); without it (a
# container) it stays as this shell has it.
BND=$NET_ADMIN
(( 0x$(awk '$1 == "CapEff:" {print $2}' /proc/self/status) & (1 << 8) )) ||
	BND=$(awk '$1 == "CapBnd:" {print $2}' /proc/self/status)

# check_caps [THREADS [CAPS]]: each of faultline's threads (at least THREADS)
# has exactly CAPS (CAP_NET_ADMIN) effective, permitted and bounding.
check_caps() {
	local want_threads=${1:-2} NET_ADMIN=${2:-$NET_ADMIN} BND=${2:-$BND}
	local t n=0
	for t in /proc/"$FL_PID"/task/*; do
		for f in CapEff CapPrm CapBnd; do
			v=$(awk -v f="$f:" '$1 == f {print $2}' "$t/status")
			want=$NET_ADMIN
			[ $f = CapBnd ] && want=$BND
			[ "$v" = "$want" ] || fail "$f of thread ${t##*/} is $v, expected $want"
		done
		[ "$(awk '$1 == "NoNewPrivs:" {print $2}' "$t/status")" = 1 ] || fail "no_new_privs not set"
		n=$((n + 1))
	done
	[ "$n" -ge "$want_threads" ] || fail "expected $want_threads threads (loop, reader, events and pcap writers), saw $n"
	log "$n threads: CapEff=CapPrm=$NET_ADMIN, CapBnd=$BND, NoNewPrivs 1"
}
# raw_sockets: how many of faultline's descriptors are raw sockets of its namespace.
raw_sockets() {
	local inodes
	inodes=$(awk 'NR > 1 {print $10}' /proc/"$FL_PID"/net/raw /proc/"$FL_PID"/net/raw6)
	find /proc/"$FL_PID"/fd -lname 'socket:*' -printf '%l\n' | tr -d 'socket:[]' |
		grep -cxF -f <(echo "$inodes"; echo none) || true
}

log "before: CapEff of this shell $(awk '$1 == "CapEff:" {print $2}' /proc/self/status)"
# No rule duplicates: no raw socket. The delay outlasts the test: only
# SIGTERM can release the datagrams.
udp_recv "$NS_B" 5000 1500 200
# With --events and --pcap: both writer threads are checked too.
fl_start "$NS_B" --rule 'udp dst port 5000 => delay 60s' --seed 1 --events "$T/ev" --pcap "$T/cap.pcapng" \
	--no-control
check_caps 4
n=$(raw_sockets)
log "raw sockets without a duplicate rule: $n"
[ "$n" -eq 0 ] || fail "$n raw sockets open with no duplicate rule"
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 200 100
for _ in $(seq 1 100); do
	kill -USR1 "$FL_PID"
	sleep 0.05
	[ "$(json "$T/fl.out" 'd["held_now"]')" -eq 200 ] && break
done
[ "$(json "$T/fl.out" 'd["held_now"]')" -eq 200 ] || fail "the datagrams were not held"
fl_stop TERM
udp_recv_wait
log "after SIGTERM: received $(json "$T/recv.json" 'd["unique"]') of 200, $(json "$T/fl.out" 'd["released_early"]') released early"
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 200 ] || fail "held datagrams lost at SIGTERM"
grep -q 'cannot remove' "$T/fl.err" && fail "$(cat "$T/fl.err")"
no_chain_left "$NS_B"

# Rules that may change (the control socket): no raw socket yet, but
# CAP_NET_RAW kept for the rule that will need them; a duplicate rule added
# later opens them (IPv4 and IPv6) and sends its copies.
udp_recv "$NS_B" 5000 800
fl_start "$NS_B" --rule 'udp dst port 9 => drop' --seed 1
[ "$BND" = "$NET_ADMIN" ] && check_caps 2 0000000000003000	# + CAP_NET_RAW (13)
n=$(raw_sockets)
log "raw sockets with a control socket: $n"
[ "$n" -eq 0 ] || fail "raw sockets open before a rule needs them: $n"
"$FL" ctl --netns "$NS_B" add 'udp dst port 5000 => duplicate' >/dev/null || fail "ctl add refused"
n=$(raw_sockets)
log "raw sockets after ctl add duplicate: $n"
[ "$n" -eq 2 ] || fail "expected 2 raw sockets (IPv4, IPv6), found $n"
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 100 500
udp_recv_wait
fl_stop TERM
[ "$(json "$T/recv.json" 'd["received"]')" -eq 200 ] || fail "copies were not sent without CAP_NET_RAW"
no_chain_left "$NS_B"

# The legacy backend, put first on PATH.
if ip netns exec "$NS_B" iptables-legacy-save >/dev/null 2>&1; then
	mkdir "$T/legacy"
	for t in iptables ip6tables; do
		for c in restore save; do ln -s "$(command -v $t-legacy-$c)" "$T/legacy/$t-$c"; done
	done
	PATH=$T/legacy:$PATH fl_start "$NS_B" --rule 'udp dst port 5000 => delay 1ms' --seed 1
	ip netns exec "$NS_B" iptables-legacy-save | grep -q FAULTLINE || fail "no legacy chain"
	[ "$BND" = "$NET_ADMIN" ] && check_caps 2 0000000000003000	# + CAP_NET_RAW (13)
	fl_stop TERM
	for t in iptables ip6tables; do
		! ip netns exec "$NS_B" $t-legacy-save | grep -q FAULTLINE || fail "legacy chain left ($t)"
	done
	grep -q 'cannot remove' "$T/fl.err" && fail "$(cat "$T/fl.err")"
	log "legacy iptables: chain removed at exit"
else
	log "no legacy iptables here: that part skipped"
fi
echo ok

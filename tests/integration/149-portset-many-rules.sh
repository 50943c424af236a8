#!/usr/bin/env bash
# 1,000 'udp port N' rules live in ipset sets, not in bpf programs: each
# hook makes two set jumps (UDP source port, destination port) and stays
# filtered. Pings and datagrams to ports outside the set are never queued
# (the kernel's queue counter, /proc/net/netfilter/nfnetlink_queue); a
# datagram to a port in the set is, and its rule acts on it (drop on one
# port, delivery on another). 'ctl reload' to another port list moves the
# sets to a new generation (the old one's names are gone), SIGTERM leaves
# no set, and kill -9 then 'faultline cleanup' leaves none either, with a
# set of the user's untouched ('ipset save' as before). IPv4 and IPv6
# jumps use the same sets.
. "$(dirname "$0")/lib.sh"
command -v ipset >/dev/null || fail "ipset is not installed (scripts/deps.sh)"
# IPv6 on: its background traffic is ICMPv6, which no set jump takes.
make_pair
CTL=("$FL" ctl --netns "$NS_B")
queued() { ip netns exec "$NS_B" awk '$1 == 4242 { print $8 }' /proc/net/netfilter/nfnetlink_queue; }
pings() { ip netns exec "$NS_A" ping -c 5 -i 0.05 -W 0.5 -q 10.99.0.2 | awk '/received/ {print $4}' || true; }
jumps() { ip netns exec "$NS_B" iptables-save -t mangle | grep -- '-j FAULTLINE-4242' | grep -c -- "$1" || true; }
sets() { ip netns exec "$NS_B" ipset list -n | grep '^FAULTLINE-' | sort | tr '\n' ' ' || true; }
stats() { "${CTL[@]}" stats >"$T/st.json"; }
# send PORT N [DST]: N datagrams to PORT; prints how many arrived and how many the kernel queued.
send() {
	local q0
	q0=$(queued)
	# 2 s for the first datagram: a dropped flow's receiver waits no longer.
	udp_recv "$NS_B" "$1" 300 "$2" 2000
	ip netns exec "$NS_A" "$UDPSEQ" send "${3:-10.99.0.2}" "$1" "$2" 1000
	udp_recv_wait
	echo "$(json "$T/recv.json" 'd["unique"]') $(($(queued) - q0))"
}

ip netns exec "$NS_B" ipset create user-ports bitmap:port range 1-100
ip netns exec "$NS_B" ipset add user-ports 7
ip netns exec "$NS_B" ipset save >"$T/ipset.before"

# 999 drops at 20000, 20003, ...; the last port delays, so its datagrams arrive.
for i in $(seq 0 998); do echo "udp port $((20000 + 3 * i)) => drop"; done >"$T/rules"
echo "udp port 22997 => delay 1ms" >>"$T/rules"
fl_start "$NS_B" -f "$T/rules" --seed 1
stats
[ "$(json "$T/st.json" 'd["queue_hooks"]["in"] + "," + d["queue_hooks"]["out"]')" = filtered,filtered ] ||
	fail "hooks $(json "$T/st.json" 'd["queue_hooks"]'): $(json "$T/st.json" 'd["queue_reasons"]')"
[ "$(json "$T/st.json" 'd["queue_sets"]')" -eq 4 ] || fail "$(json "$T/st.json" 'd["queue_sets"]') sets, not 4"
[ "$(json "$T/st.json" 'd["queue_programs"]')" -eq 0 ] || fail "programs: $(json "$T/st.json" 'd["queue_programs"]')"
[ "$(sets)" = "FAULTLINE-4242-0-inud FAULTLINE-4242-0-inus FAULTLINE-4242-0-outud FAULTLINE-4242-0-outus " ] ||
	fail "sets: $(sets)"
[ "$(ip netns exec "$NS_B" ipset list FAULTLINE-4242-0-inud | grep -c '^[0-9]')" -eq 1000 ] ||
	fail "not 1,000 ports in the set"
[ "$(jumps '-m set')" -eq 4 ] || fail "$(jumps '-m set') set jumps, not 4"
[ "$(jumps FAULTLINE)" -eq 4 ] || fail "$(jumps FAULTLINE) jumps, not the 4 set jumps"

q0=$(queued)
[ "$(pings)" -eq 5 ] || fail "pings lost"
[ "$(queued)" -eq "$q0" ] || fail "pings were queued"
read -r got q <<<"$(send 20001 50)"
[ "$got" -eq 50 ] && [ "$q" -eq 0 ] || fail "port 20001, in no rule: $got of 50 arrived, $q queued"
read -r got q <<<"$(send 20000 20)"
[ "$got" -eq 0 ] && [ "$q" -eq 20 ] || fail "port 20000 (drop): $got of 20 arrived, $q queued"
read -r got q <<<"$(send 22997 20)"
[ "$got" -eq 20 ] && [ "$q" -eq 20 ] || fail "port 22997 (delay): $got of 20 arrived, $q queued"
# The same sets serve ip6tables' jumps.
read -r got q <<<"$(send 20001 50 fd99::2)"
[ "$got" -eq 50 ] && [ "$q" -eq 0 ] || fail "IPv6 port 20001: $got of 50 arrived, $q queued"
read -r got q <<<"$(send 20000 20 fd99::2)"
[ "$got" -eq 0 ] && [ "$q" -eq 20 ] || fail "IPv6 port 20000 (drop): $got of 20 arrived, $q queued"
[ "$(ip netns exec "$NS_B" ip6tables-save -t mangle | grep -c -- '-m set --match-set FAULTLINE-4242-0-')" -eq 4 ] ||
	fail "not 4 set jumps in ip6tables"
log "1,000 rules: 4 set jumps; outside the set nothing queued, inside all of it"

# Another port list: a new generation of sets, the old one gone.
for i in $(seq 0 999); do echo "udp port $((30000 + 3 * i)) => drop"; done >"$T/rules"
"${CTL[@]}" reload >/dev/null || fail "the reload was refused"
[ "$(sets)" = "FAULTLINE-4242-1-inud FAULTLINE-4242-1-inus FAULTLINE-4242-1-outud FAULTLINE-4242-1-outus " ] ||
	fail "sets after the reload: $(sets)"
[ "$(jumps 'FAULTLINE-4242-1-')" -eq 4 ] || fail "jumps after the reload: $(jumps FAULTLINE)"
read -r got q <<<"$(send 20000 20)"
[ "$got" -eq 20 ] && [ "$q" -eq 0 ] || fail "port 20000 after the reload: $got of 20 arrived, $q queued"
read -r got q <<<"$(send 30000 20)"
[ "$got" -eq 0 ] && [ "$q" -eq 20 ] || fail "port 30000 after the reload: $got of 20 arrived, $q queued"
# Back to programs: one rule; the sets go.
echo 'udp port 9 => drop' >"$T/rules"
"${CTL[@]}" reload >/dev/null || fail "the reload to one rule was refused"
[ -z "$(sets)" ] || fail "sets left with one rule: $(sets)"
[ "$(jumps '-m bpf')" -eq 2 ] || fail "$(jumps '-m bpf') bpf jumps with one rule, not 2"
fl_stop
no_chain_left "$NS_B"

for i in $(seq 0 999); do echo "udp port $((20000 + 3 * i)) => drop"; done >"$T/rules"
fl_start "$NS_B" -f "$T/rules"
[ -n "$(sets)" ] || fail "no sets"
fl_stop
[ -z "$(sets)" ] || fail "sets left after SIGTERM: $(sets)"

fl_start "$NS_B" -f "$T/rules"
kill -9 "$FL_PID"
wait "$FL_PID" 2>/dev/null || true
FL_PID=
[ -n "$(sets)" ] || fail "kill -9 took the sets"
"$FL" cleanup --netns "$NS_B" 2>"$T/cleanup.err" || fail "cleanup exited $?: $(cat "$T/cleanup.err")"
[ -z "$(sets)" ] || fail "sets left after cleanup: $(sets)"
no_chain_left "$NS_B"
ip netns exec "$NS_B" ipset save >"$T/ipset.after"
diff -u "$T/ipset.before" "$T/ipset.after" >&2 || fail "ipset save differs from before"
echo ok

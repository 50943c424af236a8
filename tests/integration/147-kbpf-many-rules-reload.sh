#!/usr/bin/env bash
# 1,000 rules changed at run time move the kernel's filter with them, in
# the same step, across the widening. One UDP port rule: its jumps carry
# bpf programs and pings stay in the kernel. 'ctl reload' of a file of
# 1,000 'udp port N and host A' rules (more than 16 programs a hook; with
# the address they are no port sets, see 149): the jumps are plain, every
# ping (request in, reply out) is queued and still passes, and the
# counters say why. 'ctl replace' with the one rule: programs again, pings
# no longer queued.
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
CTL=("$FL" ctl --netns "$NS_B")
queued() { ip netns exec "$NS_B" awk '$1 == 4242 { print $8 }' /proc/net/netfilter/nfnetlink_queue; }
pings() { ip netns exec "$NS_A" ping -c 5 -i 0.05 -W 0.5 -q 10.99.0.2 | awk '/received/ {print $4}' || true; }
jumps() { ip netns exec "$NS_B" iptables-save -t mangle | grep -- '-j FAULTLINE-4242' | grep -c -- "$1" || true; }
rules() { "${CTL[@]}" --json list | grep -o '"index":' | wc -l; }
hooks() { "${CTL[@]}" stats >"$T/st.json" && json "$T/st.json" 'd["queue_hooks"]["in"] + "," + d["queue_hooks"]["out"]'; }

echo 'udp port 9 => drop' >"$T/one"
for i in $(seq 0 999); do echo "udp port $((20000 + 3 * i)) and host 10.99.0.1 => drop"; done >"$T/many"
cp "$T/one" "$T/rules"
fl_start "$NS_B" -f "$T/rules" --seed 1
q0=$(queued)
[ "$(pings)" -eq 5 ] || fail "pings lost with one UDP rule"
[ "$(queued)" -eq "$q0" ] || fail "pings queued with one UDP rule"
[ "$(jumps '-m bpf')" -eq 2 ] || fail "$(jumps '-m bpf') bpf jumps with one rule, not 2"
[ "$(hooks)" = filtered,filtered ] || fail "one rule: hooks $(hooks)"

cp "$T/many" "$T/rules"
"${CTL[@]}" reload >/dev/null || fail "the reload of 1,000 rules was refused"
[ "$(rules)" -eq 1000 ] || fail "$(rules) rules after the reload, not 1000"
[ "$(jumps '-m bpf')" -eq 0 ] || fail "$(jumps '-m bpf') bpf jumps left with 1,000 rules"
[ "$(jumps FAULTLINE)" -eq 2 ] || fail "$(jumps FAULTLINE) jumps with 1,000 rules, not one per hook"
[ "$(hooks)" = all,all ] || fail "1,000 rules: hooks $(hooks)"
json "$T/st.json" 'd["queue_reasons"][0]' | grep -q "more than 16 bpf programs at in" ||
	fail "reason: $(json "$T/st.json" 'd["queue_reasons"]')"
q1=$(queued)
[ "$(pings)" -eq 5 ] || fail "pings lost with 1,000 rules"
[ $(($(queued) - q1)) -eq 10 ] || fail "$(($(queued) - q1)) queued with 1,000 rules, not the 5 requests and 5 replies"

"${CTL[@]}" replace "$T/one" >/dev/null || fail "the replace with one rule was refused"
[ "$(rules)" -eq 1 ] || fail "$(rules) rules after the replace, not 1"
[ "$(jumps '-m bpf')" -eq 2 ] || fail "$(jumps '-m bpf') bpf jumps after the replace, not 2"
[ "$(hooks)" = filtered,filtered ] || fail "after the replace: hooks $(hooks)"
q2=$(queued)
[ "$(pings)" -eq 5 ] || fail "pings lost after the replace"
[ "$(queued)" -eq "$q2" ] || fail "pings still queued after the replace"
fl_stop
no_chain_left "$NS_B"
echo ok

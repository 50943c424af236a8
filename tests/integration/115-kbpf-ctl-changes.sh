#!/usr/bin/env bash
# A rule change at run time changes what the kernel queues, in the same
# step: before 'ctl add' no ping is queued, after it every echo is (and
# dropped), after 'ctl del' none again; the jumps follow. A change the
# kernel refuses (here the chain was taken away behind faultline's back)
# is refused whole: the rules stay as they were.
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
CTL=("$FL" ctl --netns "$NS_B")
queued() { ip netns exec "$NS_B" awk '$1 == 4242 { print $8 }' /proc/net/netfilter/nfnetlink_queue; }
pings() { ip netns exec "$NS_A" ping -c 5 -i 0.05 -W 0.5 -q 10.99.0.2 | awk '/received/ {print $4}' || true; }
jumps() { ip netns exec "$NS_B" iptables-save -t mangle | grep -c -- '-j FAULTLINE-4242' || true; }

fl_start "$NS_B" --rule 'udp dst port 9 => drop' --seed 1
q0=$(queued)
[ "$(pings)" -eq 5 ] || fail "pings lost before any ICMP rule"
[ "$(queued)" -eq "$q0" ] || fail "pings were queued with only a UDP rule"
[ "$(jumps)" -eq 2 ] || fail "$(jumps) jumps, not 2"

"${CTL[@]}" add 'cut: icmp => drop' >/dev/null
[ "$(pings)" -eq 0 ] || fail "the added drop did not drop"
[ $(($(queued) - q0)) -eq 5 ] || fail "$(($(queued) - q0)) queued after add, not the 5 echo requests"
"${CTL[@]}" del cut
q1=$(queued)
[ "$(pings)" -eq 5 ] || fail "pings lost after del"
[ "$(queued)" -eq "$q1" ] || fail "pings still queued after del"

# The chain goes (IPv4): the next change cannot put its jumps in, and is refused.
ip netns exec "$NS_B" iptables-save -t mangle | sed -n 's/^-A \(PREROUTING\|OUTPUT\) \(.*-j FAULTLINE-4242\)$/-D \1 \2/p' >"$T/del"
printf '*mangle\n%s\n-F FAULTLINE-4242\n-X FAULTLINE-4242\nCOMMIT\n' "$(cat "$T/del")" |
	ip netns exec "$NS_B" iptables-restore --noflush
rc=0
"${CTL[@]}" add 'cut: icmp => drop' >"$T/out" 2>"$T/err" || rc=$?
[ $rc -eq 1 ] || fail "an add the kernel refused exited $rc: $(cat "$T/err")"
grep -q "the kernel's filter for the new rules could not be installed" "$T/err" || fail "refusal: $(cat "$T/err")"
[ "$("${CTL[@]}" --json list | grep -o '"index":' | wc -l)" -eq 1 ] || fail "the refused add changed the rules"
fl_stop
no_chain_left "$NS_B"
echo ok

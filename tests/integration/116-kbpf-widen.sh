#!/usr/bin/env bash
# Where the kernel cannot be exact it queues more, never less, and the
# counters say why: a filter over the bpf match's 64 instructions queues
# every packet of its hook (the unmatched pings are queued, and still
# pass); --events queues everything, as before this filter existed; a
# ctl add of a rule without a filter widens a running filter.
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
queued() { ip netns exec "$NS_B" awk '$1 == 4242 { print $8 }' /proc/net/netfilter/nfnetlink_queue; }
pings() { ip netns exec "$NS_A" ping -c 3 -i 0.05 -W 0.5 -q 10.99.0.2 | awk '/received/ {print $4}' || true; }
# 30 hosts: far more than 64 instructions.
long="long: udp and ($(seq 1 30 | sed 's/.*/host 10.0.&.&/' | paste -sd'|' | sed 's/|/ or /g')) => drop, in"

fl_start "$NS_B" --no-control --rule "$long" --rule 'udp dst port 9 => drop, out'
q0=$(queued)
[ "$(pings)" -eq 3 ] || fail "pings lost"
[ $(($(queued) - q0)) -eq 3 ] || fail "$(($(queued) - q0)) queued, not the 3 echo requests at the widened hook"
fl_stats
[ "$(json "$T/fl.out" 'd["queue_hooks"]["in"]')" = all ] || fail "in: $(json "$T/fl.out" 'd["queue_hooks"]')"
[ "$(json "$T/fl.out" 'd["queue_hooks"]["out"]')" = filtered ] || fail "out: $(json "$T/fl.out" 'd["queue_hooks"]')"
[ "$(json "$T/fl.out" 'd["queue_scope"]')" = filtered ] || fail "scope $(json "$T/fl.out" 'd["queue_scope"]')"
json "$T/fl.out" 'd["queue_reasons"][0]' | grep -q "^long: its filter compiles to [0-9]* bpf instructions, over the bpf match's 64: every packet at in is queued$" ||
	fail "reason: $(json "$T/fl.out" 'd["queue_reasons"]')"
fl_stop

# --events records every packet (--queue-all: 117).
fl_start "$NS_B" --no-control --rule 'udp dst port 9 => drop' --events "$T/ev.jsonl"
q0=$(queued)
[ "$(pings)" -eq 3 ] || fail "--events: pings lost"
# Each echo request in, each reply out: every packet is queued.
[ $(($(queued) - q0)) -eq 6 ] || fail "--events: $(($(queued) - q0)) queued, not 6"
fl_stop
[ "$(json "$T/fl.out" 'd["queue_scope"]')" = all ] || fail "--events: scope $(json "$T/fl.out" 'd["queue_scope"]')"
[ "$(json "$T/fl.out" 'd["queue_reasons"][0]')" = "--events records every packet: every packet is queued" ] ||
	fail "--events: reason $(json "$T/fl.out" 'd["queue_reasons"]')"

fl_start "$NS_B" --rule 'udp dst port 9 => drop' --seed 1
"$FL" ctl --netns "$NS_B" add 'slow: => delay 1ms, in' >/dev/null
q0=$(queued)
[ "$(pings)" -eq 3 ] || fail "pings lost"
[ $(($(queued) - q0)) -eq 3 ] || fail "$(($(queued) - q0)) queued after adding a rule without filter, not 3"
fl_stats
json "$T/fl.out" 'd["queue_reasons"][0]' | grep -q "^slow: it has no filter, so it matches every packet (in)$" ||
	fail "reason: $(json "$T/fl.out" 'd["queue_reasons"]')"
fl_stop
no_chain_left "$NS_B"
echo ok

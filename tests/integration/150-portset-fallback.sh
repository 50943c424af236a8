#!/usr/bin/env bash
# When the port sets cannot be made (here an ipset that lists nothing and
# refuses every restore, as a kernel without bitmap:port does), faultline
# runs with today's bpf plan and says why: 1,000 'udp port N' rules queue
# every packet at both hooks, the reasons name the ipset failure, no set
# and no set jump exist, and the rules still act. A reload goes the same
# way, and SIGTERM leaves nothing.
. "$(dirname "$0")/lib.sh"
make_pair --no-ipv6
CTL=("$FL" ctl --netns "$NS_B")
mkdir "$T/bin"
cat >"$T/bin/ipset" <<'SH'
#!/bin/sh
case "$*" in
*restore*) echo "ipset v7.17: Kernel error received: set type not supported" >&2; exit 1 ;;
*) exit 0 ;;
esac
SH
chmod +x "$T/bin/ipset"
jumps() { ip netns exec "$NS_B" iptables-save -t mangle | grep -- '-j FAULTLINE-4242' | grep -c -- "$1" || true; }
sets() { ip netns exec "$NS_B" ipset list -n | grep '^FAULTLINE-' | tr '\n' ' ' || true; }

for i in $(seq 0 999); do echo "udp port $((20000 + 3 * i)) => drop"; done >"$T/rules"
PATH="$T/bin:$PATH" fl_start "$NS_B" -f "$T/rules" --seed 1
"${CTL[@]}" stats >"$T/st.json"
[ "$(json "$T/st.json" 'd["queue_hooks"]["in"] + "," + d["queue_hooks"]["out"]')" = all,all ] ||
	fail "hooks $(json "$T/st.json" 'd["queue_hooks"]')"
[ "$(json "$T/st.json" 'd["queue_sets"]')" -eq 0 ] || fail "sets counted: $(json "$T/st.json" 'd["queue_sets"]')"
json "$T/st.json" '"\n".join(d["queue_reasons"])' >"$T/why"
grep -q "^port sets cannot be used (ipset v7.17: Kernel error received: set type not supported): the port rules at in stay bpf programs$" "$T/why" ||
	fail "reasons: $(cat "$T/why")"
grep -q "more than 16 bpf programs at in" "$T/why" || fail "reasons: $(cat "$T/why")"
[ "$(jumps '-m set')" -eq 0 ] || fail "set jumps without sets"
[ -z "$(sets)" ] || fail "sets: $(sets)"
udp_recv "$NS_B" 20000 300 20 2000
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 20000 20 1000
udp_recv_wait
[ "$(json "$T/recv.json" 'd["unique"]')" -eq 0 ] || fail "the drop rule let $(json "$T/recv.json" 'd["unique"]') through"

for i in $(seq 0 999); do echo "udp port $((30000 + 3 * i)) => drop"; done >"$T/rules"
"${CTL[@]}" reload >/dev/null || fail "the reload was refused"
"${CTL[@]}" stats >"$T/st.json"
[ "$(json "$T/st.json" 'd["queue_hooks"]["in"]')" = all ] || fail "after the reload: $(json "$T/st.json" 'd["queue_hooks"]')"
json "$T/st.json" '"\n".join(d["queue_reasons"])' >"$T/why"
grep -q "^port sets cannot be used" "$T/why" || fail "reasons after the reload: $(cat "$T/why")"
fl_stop
no_chain_left "$NS_B"
[ -z "$(sets)" ] || fail "sets: $(sets)"
echo ok

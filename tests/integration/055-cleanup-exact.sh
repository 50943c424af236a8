#!/usr/bin/env bash
# Cleanup is exact: after SIGTERM, after kill -9 and 'faultline cleanup', and
# after kill -9 and the next run's SIGTERM, iptables-save, ip6tables-save
# and ipset save print what they printed before the first run. "The same"
# here: byte for byte, once the '#' comment lines (a date) are removed and the chains'
# [packets:bytes] counters blanked (traffic moves them). Two namespaces:
#  A, with no table at all: faultline creates mangle and must delete it;
#  B, with an empty IPv4 mangle table and an IPv6 mangle rule of the user's,
#     and a filter rule: all of it must stay.
. "$(dirname "$0")/lib.sh"
make_pair

ip netns exec "$NS_B" iptables -t mangle -P PREROUTING ACCEPT   # creates the table, empty
ip netns exec "$NS_B" iptables -A INPUT -p udp --dport 7 -j ACCEPT
ip netns exec "$NS_B" ip6tables -t mangle -A OUTPUT -p udp --dport 9 -j ACCEPT

ipt_state() {
	ip netns exec "$1" iptables-save | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
	echo "--- ip6"
	ip netns exec "$1" ip6tables-save | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
	# The port sets go too (none are made here; 149 makes and removes them).
	! command -v ipset >/dev/null || ip netns exec "$1" ipset save
}
same_as_before() {
	ipt_state "$1" >"$T/after.$1"
	diff -u "$T/before.$1" "$T/after.$1" >&2 || fail "$1: iptables differ from before, $2"
}
kill9() {
	kill -9 "$FL_PID"
	wait "$FL_PID" 2>/dev/null || true
	FL_PID=
}

for ns in "$NS_A" "$NS_B"; do
	ipt_state "$ns" >"$T/before.$ns"
done
[ "$(cat "$T/before.$NS_A")" = "--- ip6" ] || fail "namespace A should start without tables"
grep -q '^\*mangle' "$T/before.$NS_B" || fail "namespace B should have a mangle table"

for ns in "$NS_A" "$NS_B"; do
	fl_start "$ns" --rule 'udp => delay 1ms'
	ip netns exec "$ns" iptables-save | grep -q '^:FAULTLINE-4242 ' || fail "$ns: no chain while running"
	fl_stop
	same_as_before "$ns" "after SIGTERM"

	fl_start "$ns" --rule 'udp => delay 1ms'
	kill9
	ip netns exec "$ns" ip6tables-save | grep -q '^:FAULTLINE-4242 ' || fail "$ns: kill -9 took the chain"
	"$FL" cleanup --netns "$ns" 2>"$T/cleanup.err" || fail "$ns: cleanup exited $?: $(cat "$T/cleanup.err")"
	grep -q 'removed 2 chains' "$T/cleanup.err" || fail "$ns: cleanup said: $(cat "$T/cleanup.err")"
	same_as_before "$ns" "after kill -9 and cleanup"

	fl_start "$ns" --rule 'udp => delay 1ms'
	kill9
	fl_start "$ns" --rule 'udp => delay 1ms'
	# Known defect (issue 9 note): the run binds its queue, then removes the
	# stale chain of that queue and with it the table faultline made; the
	# kernel drops what the stale chain had queued meanwhile (background
	# IPv6 ND), and those verdicts come back refused. That is counted and
	# reported (exit 1), never silent; anything else fails.
	rc=0
	kill -TERM "$FL_PID"
	wait "$FL_PID" || rc=$?
	FL_PID=
	if [ $rc -ne 0 ]; then
		read -r verr refused <<<"$(json "$T/fl.out" '"%d %d" % (d["verdict_errors"], d["verdicts_refused"])')"
		[ $rc -eq 1 ] && [ "$verr" -eq "$refused" ] && [ "$refused" -gt 0 ] ||
			fail "faultline exited $rc: $(cat "$T/fl.err")"
		log "$ns: $refused verdicts refused after the run over the stale chain (known, counted)"
	fi
	same_as_before "$ns" "after kill -9 and a run over the stale chain"
	log "$ns: iptables and ip6tables as before after SIGTERM, cleanup, and a run after kill -9"
done
echo ok

#!/usr/bin/env bash
# 'faultline run --progress 1' prints a line of counters to stderr every
# second: packets, held now and the drops of each rule by name. Once the
# traffic is over, its lines carry the counts the exit's counters have.
# stdout (the counters JSON) is as without --progress.
. "$(dirname "$0")/lib.sh"
# IPv4 only: no ICMPv6 of the kernel's own counted between two lines.
make_pair --no-ipv6
cat >"$T/r.rules" <<'EOF2'
lossy: icmp => drop, every 2
udp dst port 5000 => delay 1ms
EOF2
fl_start "$NS_B" --rules "$T/r.rules" --seed 1 --progress 1
ip netns exec "$NS_A" ping -c 20 -i 0.05 -W 1 -q 10.99.0.2 >/dev/null || true
# Two more lines after the traffic: the last one is after every packet.
n=$(grep -c '^faultline: progress: ' "$T/fl.err" || true)
for _ in $(seq 1 100); do
	[ "$(grep -c '^faultline: progress: ' "$T/fl.err" || true)" -ge $((n + 2)) ] && break
	sleep 0.1
done
fl_stop
grep '^faultline: progress: ' "$T/fl.err" >"$T/lines" || fail "no progress line"
last=$(tail -1 "$T/lines")
log "$(wc -l <"$T/lines") lines, the last: $last"
packets=$(json "$T/fl.out" 'd["packets"]')
dropped=$(json "$T/fl.out" 'd["rules"][0]["dropped"]')
[ "$dropped" -gt 0 ] || fail "lossy dropped nothing"
[ "$last" = "faultline: progress: $packets packets, 0 held now, dropped: lossy $dropped, rule-2 0" ] ||
	fail "last line '$last', the counters: $packets packets, lossy dropped $dropped"
[ "$(grep -c '^{' "$T/fl.out")" -eq 1 ] || fail "stdout has more than the counters"
echo ok

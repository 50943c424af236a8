#!/usr/bin/env bash
# Packets faultline cannot parse (a transport header cut short, a TCP data
# offset past the end, an IP header of 60 bytes with nothing after it) pass
# unchanged and are counted as malformed; a UDP header whose length field
# lies is still parsed (faultline ignores it, as GSO leaves it stale) and
# takes the rule like any other packet. Faultline runs in the sending
# namespace, so the OUTPUT hook hands it what the raw socket sent.
. "$(dirname "$0")/lib.sh"
RAWPKT=$FL_BUILD/rawpkt
[ -x "$RAWPKT" ] || fail "$RAWPKT not built"
make_pair

# Count arrivals in $NS_B in raw PREROUTING, before the kernel's transport
# code throws the broken packets away: one counting rule (no target) per kind.
declare -A proto=([tcp-short]=6 [tcp-doff]=6 [udp-short]=17 [udp-len]=17 [ihl15]=6)
declare -A len=([tcp-short]=28 [tcp-doff]=40 [udp-short]=24 [udp-len]=36 [ihl15]=60)
declare -A count=([tcp-short]=200 [tcp-doff]=150 [udp-short]=100 [udp-len]=80 [ihl15]=120)
declare -A sent=()
kinds="tcp-short tcp-doff udp-short udp-len ihl15"
for k in $kinds; do
	ip netns exec "$NS_B" iptables -t raw -A PREROUTING -s 10.99.0.1 -p "${proto[$k]}" \
		-m length --length "${len[$k]}" -m comment --comment "$k"
done
arrived() {
	ip netns exec "$NS_B" iptables -t raw -L PREROUTING -v -x -n >"$T/cnt"
	awk -v k="/* $1 */" 'index($0, k) {print $1}' "$T/cnt"
}

fl_start "$NS_A" --rule '=> delay 1ms' --events "$T/events" --seed 9
malformed_sent=0
udp_len_sent=0
for k in $kinds; do
	out=$(ip netns exec "$NS_A" "$RAWPKT" 10.99.0.2 "${count[$k]}" "$k") || true
	read -r _ n l <<<"$out"
	[ "${n:-0}" -gt 0 ] || fail "rawpkt $k sent nothing: $out"
	[ "$l" -eq "${len[$k]}" ] || fail "rawpkt $k: length $l"
	sent[$k]=$n
	if [ "$k" = udp-len ]; then udp_len_sent=$n; else malformed_sent=$((malformed_sent + n)); fi
done
# Wait until the last of them (delayed by 1 ms, or not at all) has arrived.
for _ in $(seq 1 100); do
	all=1
	for k in $kinds; do [ "$(arrived "$k")" -ge "${sent[$k]}" ] || all=0; done
	[ $all -eq 1 ] && break
	sleep 0.05
done
fl_stop

for k in $kinds; do
	got=$(arrived "$k")
	log "$k: sent ${sent[$k]}, arrived $got"
	[ "$got" -eq "${sent[$k]}" ] || fail "$k: $got of ${sent[$k]} arrived in $NS_B"
done
malformed=$(json "$T/fl.out" 'd["malformed"]')
delayed=$(json "$T/fl.out" 'd["rules"][0]["delayed"]')
ev_malformed=$(grep -c '"ev":"malformed"' "$T/events" || true)
ev_udp_len=$(grep '"ev":"verdict"' "$T/events" | grep -c '"flow":"udp 10.99.0.1:40000 > 10.99.0.2:9".*"verdict":"hold"' || true)
log "faultline: malformed $malformed (sent $malformed_sent), malformed events $ev_malformed;" \
	"bad-length UDP held $ev_udp_len (sent $udp_len_sent), rule delayed $delayed, verdict_errors $(json "$T/fl.out" 'd["verdict_errors"]')"
[ "$malformed" -eq "$malformed_sent" ] || fail "malformed counter $malformed, sent $malformed_sent unparseable packets"
[ "$ev_malformed" -eq "$malformed_sent" ] || fail "$ev_malformed malformed events, expected $malformed_sent"
[ "$ev_udp_len" -eq "$udp_len_sent" ] || fail "UDP with a bad length field: $ev_udp_len delayed, expected $udp_len_sent"
# Malformed packets never reach the rules; everything else from A may (IPv6 ND, say).
[ "$delayed" -ge "$udp_len_sent" ] || fail "rule delayed $delayed < $udp_len_sent"
[ "$(json "$T/fl.out" 'd["verdict_errors"]')" -eq 0 ] || fail "verdict errors"
no_chain_left "$NS_A"
echo ok

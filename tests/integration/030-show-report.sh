#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# faultline show and faultline report on the events of a real run.
#  1. Golden (no root, no network): `show` on tests/golden/show-basic.jsonl
#     prints tests/golden/show-basic.txt exactly, and a line that is not
#     JSON stops it with FILE:LINE: bad JSON and exit code 1.
#  2. A real run in B: a TCP connection whose first data segment is held
#     30 ms and whose final ACK is dropped once (the server resends its FIN
#     from LAST_ACK, the client answers from TIME_WAIT), and 12 UDP
#     datagrams through `reorder 4`. `show` must draw the handshake, the
#     states, the drop, the delay and the reordered positions, and the
#     arrival order it prints for the datagrams must be the order the
#     receiver really got them in (udpseq's, not faultline's, account).
#  3. `report` writes one HTML page that references nothing outside it;
#     headless Chromium loads it with no error, fetches nothing, and finds
#     one rendered SVG element of class "pkt" per packet line.
# FL_SAVE_EVENTS=FILE keeps the run's events (to refresh the golden file).
. "$(dirname "$0")/lib.sh"
GOLDEN=$(cd "$(dirname "$0")/../golden" && pwd)

# ---- 1. golden -------------------------------------------------------------
"$FL" show "$GOLDEN/show-basic.jsonl" >"$T/golden.txt" 2>"$T/golden.err" ||
	fail "show on the golden events failed: $(cat "$T/golden.err")"
diff -u "$GOLDEN/show-basic.txt" "$T/golden.txt" >&2 ||
	fail "show output differs from tests/golden/show-basic.txt"
printf '{"ev":"release","t":0.5,"pkt":1}\n{"ev":"packet","t":1,\n' >"$T/bad.jsonl"
rc=0
"$FL" show "$T/bad.jsonl" >/dev/null 2>"$T/bad.err" || rc=$?
[ $rc -eq 1 ] || fail "show on bad JSON exited $rc, expected 1"
grep -q "^$T/bad.jsonl:2: bad JSON" "$T/bad.err" || fail "no FILE:LINE: bad JSON message: $(cat "$T/bad.err")"
log "golden show output matches; bad JSON is refused with its line"
if [ "$(id -u)" -ne 0 ]; then
	echo "ok (golden part only: the live part needs root)"
	exit 0
fi

# ---- 2. a real run ---------------------------------------------------------
make_pair
# count_ev PY_CONDITION: events (e) for which the condition holds.
count_ev() {
	python3 -c 'import json,sys
print(sum(1 for l in open(sys.argv[1]) for e in [json.loads(l)] if eval(sys.argv[2])))' "$T/ev.jsonl" "$1"
}

P=$((42000 + RANDOM % 1000))
UP=$((43000 + RANDOM % 1000))
fl_start "$NS_B" --seed 1 --events "$T/ev.jsonl" \
	--rule 'tcp port 8080 => drop if state LAST_ACK, first 1' \
	--rule 'udp dst port 5000 => reorder 4' \
	--rule 'slow: tcp dst port 8080 => delay 30ms if first-data'
ip netns exec "$NS_B" socat -u TCP-LISTEN:8080,reuseaddr OPEN:"$T/out",creat,trunc 2>"$T/recv.err" &
RECV_PID=$!
PIDS+=("$RECV_PID")
wait_listen "$NS_B" 8080
head -c 3000 /dev/urandom | base64 >"$T/in"
timeout 20 ip netns exec "$NS_A" socat -u OPEN:"$T/in" TCP:10.99.0.2:8080,sourceport=$P 2>"$T/send.err" ||
	fail "sender failed"
wait "$RECV_PID" || fail "receiver failed"
cmp -s "$T/in" "$T/out" || fail "payload not delivered"
# The server leaves LAST_ACK once its resent FIN is answered (RTO: ~0.2 s).
CONN="e.get('conn','').startswith('10.99.0.1:$P ')"
for _ in $(seq 1 100); do
	[ "$(count_ev "e['ev'] == 'transition' and $CONN and e['endpoint'] == 1 and e['new'] == 'CLOSED'")" -ge 1 ] && break
	sleep 0.1
done

udp_recv "$NS_B" 5000 800 12
ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 12 1000 "$UP"
udp_recv_wait
fl_stop
[ -z "${FL_SAVE_EVENTS:-}" ] || cp "$T/ev.jsonl" "$FL_SAVE_EVENTS"

"$FL" show "$T/ev.jsonl" >"$T/show.txt" || fail "show failed"
cid=$(sed -n "s/^== tcp connection \([0-9]*\): 10.99.0.1:$P > 10.99.0.2:8080 .*/\1/p" "$T/show.txt")
uid=$(sed -n "s/^== flow \([0-9]*\): udp 10.99.0.1:$UP > 10.99.0.2:5000 (12 packets)$/\1/p" "$T/show.txt")
[ -n "$cid" ] || fail "no header for the TCP connection in: $(grep '^==' "$T/show.txt")"
[ -n "$uid" ] || fail "no header for the UDP flow in: $(grep '^==' "$T/show.txt")"
"$FL" show "$T/ev.jsonl" --flow "$cid" >"$T/conn.txt" || fail "show --flow $cid failed"
"$FL" show "$T/ev.jsonl" --flow "$uid" >"$T/udp.txt" || fail "show --flow $uid failed"
cat "$T/conn.txt" >&2
# want FILE ERE WHAT: a line of FILE matches the extended regular expression.
want() { grep -Eq -- "$2" "$T/$1" || fail "$1 has no $3 (/$2/)"; }
want conn.txt '\|-- SYN seq=0 -+>\|' "SYN arrow"
want conn.txt '\|<-+ SYN\+ACK seq=0 ack=1 --\|' "SYN+ACK arrow"
want conn.txt '^ +[0-9.]+ +SYN_SENT \|' "client SYN_SENT"
want conn.txt '\| SYN_RECEIVED$' "server SYN_RECEIVED"
want conn.txt '^ +[0-9.]+ +TIME_WAIT \|' "client TIME_WAIT"
want conn.txt '\| LAST_ACK$' "server LAST_ACK"
want conn.txt '\|-- ACK ack=[0-9]+ -+X +\| DROPPED by rule 1$' "dropped final ACK"
want conn.txt '\|-- data seq=1 len=[0-9]+ ack=1 -+\+ +\| held: delay 30.0 ms \(rule 3 slow\)$' "held data segment"
want conn.txt '\| +\+~+>\| delayed 3[0-9]\.[0-9] ms$' "delayed release"
want conn.txt '\| caused by seg [0-9]+ \(dropped\)$' "FIN retransmission blamed on the drop"
want conn.txt '^ +end +TIME_WAIT \|' "client ending in TIME_WAIT"
want udp.txt '\| held for reorder \(rule 2\)$' "held for reorder"
want udp.txt '\| sent #([0-9]+), released #([0-9]+)$' "sent/released positions"
# Some datagram must have moved: 12 in groups of 4 in send order would be 1/(4!)^3 likely.
grep -E 'sent #[0-9]+, released #[0-9]+$' "$T/udp.txt" | sed -E 's/.*sent #([0-9]+), released #([0-9]+)/\1 \2/' |
	awk '$1 != $2 { moved = 1 } END { exit !moved }' || fail "no datagram released out of its place"
shown=$(sed -n 's/^ *arrived: //p' "$T/udp.txt")
real=$(json "$T/recv.json" '" ".join(str(x + 1) for x in d["order"])')
log "datagrams: show says arrived $shown; the receiver got $real"
[ "$shown" = "$real" ] || fail "show's arrival order ($shown) is not the receiver's ($real)"

# ---- 3. the HTML report ------------------------------------------------------
"$FL" report "$T/ev.jsonl" -o "$T/report.html" || fail "report failed"
npkt=$(count_ev "e['ev'] == 'packet'")
ndrop=$(count_ev "e['ev'] == 'packet' and e['verdict'] == 'drop'")
log "events: $npkt packet lines, $ndrop dropped; report $(wc -c <"$T/report.html") bytes"
# Self-contained: nothing that could fetch, no script of its own, and well-formed.
if grep -Eqi '<(script|link|img|iframe|object|embed)\b|@import|(src|href)="[^#]|url\([^#]|https?:' "$T/report.html"; then
	fail "report references something outside itself: $(grep -Eoi '<(script|link|img|iframe)[^>]*|@import[^;]*|(src|href)="[^#][^"]*"|url\([^#][^)]*\)|https?:[^" <]*' "$T/report.html" | head -3)"
fi
python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$T/report.html" ||
	fail "report is not well-formed (escaping?)"
[ "$(grep -o 'class="pkt[ "]' "$T/report.html" | wc -l)" -eq "$npkt" ] || fail "report source: .pkt count differs from $npkt"

if ! command -v chromium >/dev/null; then
	log "installing chromium"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >"$T/apt.err" 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >"$T/apt.err" 2>&1; } ||
		fail "chromium missing and apt-get install chromium failed"
fi
# A copy of the page gets two probes: an error listener first in <head>
# (script errors, and resources that fail to load), and a load handler
# that writes into <div id="check"> how many .pkt elements there are, how
# many of them SVG laid out with a non-empty box, how many resources the
# page fetched, and the errors. --dump-dom prints the DOM after load.
python3 - "$T/report.html" "$T/check.html" <<'PY'
import sys
html = open(sys.argv[1], encoding="utf-8").read()
head = ("<script>window.__errs=[];window.addEventListener('error',function(e){"
        "__errs.push(String(e.message||(e.target&&e.target.tagName?'failed to load '+e.target.tagName:e.type)))},true);</script>")
tail = """<script>window.addEventListener('load',function(){
var errs=window.__errs,ps=document.querySelectorAll('.pkt'),drawn=0,drops=0,xs=document.querySelectorAll('path.x').length;
try{for(var i=0;i<ps.length;i++){var el=ps[i];if(!(el instanceof SVGGeometryElement))continue;
var b=el.getBBox();if(b.width>0||b.height>0)drawn++;if(el.classList.contains('drop'))drops++;}}catch(e){errs.push('probe: '+e);}
var d=document.createElement('div');d.id='check';
d.textContent='pkt='+ps.length+' drawn='+drawn+' drop='+drops+' x='+xs+' resources='+performance.getEntriesByType('resource').length+' errors='+errs.length+(errs.length?' '+errs.join(' | '):'');
document.body.appendChild(d);});</script>"""
assert html.count("<head>") == 1 and html.count("</body>") == 1
open(sys.argv[2], "w", encoding="utf-8").write(html.replace("<head>", "<head>" + head, 1).replace("</body>", tail + "</body>", 1))
PY
mkdir -p "$T/chromium"
timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--host-resolver-rules='MAP * ~NOTFOUND' --enable-logging=stderr --v=0 \
	--user-data-dir="$T/chromium" --dump-dom "file://$T/check.html" >"$T/dom.html" 2>"$T/chromium.err" ||
	fail "chromium failed (rc $?): $(tail -5 "$T/chromium.err")"
check=$(sed -n 's/.*<div id="check">\([^<]*\)<\/div>.*/\1/p' "$T/dom.html")
log "chromium: $check"
[ -n "$check" ] || fail "the probe did not run: $(tail -5 "$T/chromium.err")"
if grep -E 'CONSOLE' "$T/chromium.err" | grep -Eiq 'error|uncaught'; then
	fail "console errors: $(grep CONSOLE "$T/chromium.err" | head -3)"
fi
[ "$check" = "pkt=$npkt drawn=$npkt drop=$ndrop x=$ndrop resources=0 errors=0" ] ||
	fail "report in chromium: '$check', expected pkt=drawn=$npkt, drop=x=$ndrop, no resource, no error"
no_chain_left "$NS_B"
echo ok

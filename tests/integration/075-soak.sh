#!/usr/bin/env bash
# The soak, half a minute of it (scripts/soak.sh 30): new TCP connections and
# UDP flows, IPv4 and IPv6, through drop, duplicate, reorder and delay
# rules. soak.sh fails on any broken invariant (a TCP byte missing or out
# of order, a UDP flow where sent != received + dropped - copies, a packet
# the kernel queued and faultline did not count, anything held after the
# traffic stopped or after SIGTERM, RSS growth after warm-up beyond its
# bound); this script checks its JSON summary once more, so that a soak
# that measured nothing cannot pass.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp /tmp/flsoak.XXXXXX)
trap 'rm -f "$out"' EXIT
rc=0
bash "$root/scripts/soak.sh" 30 >"$out" || rc=$?
grep -v '^{' "$out" >&2 || true
[ $rc -eq 0 ] || { echo "FAIL: scripts/soak.sh exited $rc" >&2; exit 1; }
python3 - "$out" <<'PY'
import json, sys
d = json.loads([l for l in open(sys.argv[1]) if l.startswith('{"soak"')][-1])
u = d["udp_datagrams"]
checks = [
    (d["soak"] == "ok" and not d["failures"], "soak failures: %s" % d["failures"]),
    (d["tcp_connections"] >= 100 and d["tcp_ok"] == d["tcp_connections"], "TCP connections"),
    (d["udp_flows"] >= 100 and d["udp_flows_bad"] == 0, "UDP flows"),
    (u["dropped"] > 0 and u["copies"] > 0, "no UDP drops or copies: the rules did not act"),
    (u["received"] == u["sent"] - u["dropped"] + u["copies"], "UDP totals"),
    (d["held"] > 0 and d["released"] == d["held"], "held != released"),
    (d["kernel_queued"] == d["packets"], "kernel queued != faultline packets"),
    (d["held_now_quiet"] == 0 and d["held_now_after_stop"] == 0, "held at the end"),
    (d["rss_kib"]["growth"] <= d["rss_kib"]["bound"], "RSS growth"),
]
bad = [m for ok, m in checks if not ok]
for m in bad:
    print("FAIL:", m, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
echo ok

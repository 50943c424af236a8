#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Where a packet's CPU goes with and without faultline's hooks: a perf
# profile of bench configuration a (no interception) against c (faultline,
# one rule that touches none of the traffic), under the 64-byte UDP flood.
#
#   sudo bench/profile.sh [BUILD_DIR] [OUTDIR]      (default ./build, a temp dir)
#
# Two namespaces on a veth pair, as run.sh makes them; udp_blast sends from
# A pinned to CPU PIN_SEND (0) and receives in B pinned to PIN_RECV (1).
# REPS (3) times in turn: a, then c; each a SECS (3) 'perf record -a -g'
# while the flood runs.  Prints per profile the delivered rate, the CPU
# time per packet of the traffic's processes (udp_blast's cpu_us, sender
# and receiver, plus ksoftirqd), and the share of udp_blast's samples
# (the veth receive path runs in the sender's softirq) under nf_hook_slow
# and its parts.  Other load on the machine is left out of the shares by
# the comm filter.  Needs perf, iproute2, iptables.
set -euo pipefail

BUILD=${1:-./build}
OUT=${2:-$(mktemp -d /tmp/flprof.XXXXXX)}
REPS=${REPS:-3}
SECS=${SECS:-3}
PIN_SEND=${PIN_SEND:-0}
PIN_RECV=${PIN_RECV:-1}
RULE=${RULE:-tcp port 9 => drop}
QUEUE=${QUEUE:-7}

((EUID == 0)) || { echo "profile.sh: needs root" >&2; exit 1; }
command -v perf >/dev/null || { echo "profile.sh: needs perf" >&2; exit 1; }
UB=$BUILD/udp_blast
FL=$BUILD/faultline
[[ -x $UB && -x $FL ]] || { echo "profile.sh: $UB or $FL missing" >&2; exit 1; }
mkdir -p "$OUT"

SUFFIX="$$-$RANDOM"
NS_A="flp-a-$SUFFIX"
NS_B="flp-b-$SUFFIX"
FL_PID=
cleanup()
{
	trap - EXIT INT TERM
	if [[ -n $FL_PID ]]; then
		kill "$FL_PID" 2>/dev/null || true
		wait "$FL_PID" 2>/dev/null || true
	fi
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$NS_A"
ip netns add "$NS_B"
ip -n "$NS_A" link add veth0 type veth peer name veth0 netns "$NS_B"
ip -n "$NS_A" addr add 10.77.0.1/24 dev veth0
ip -n "$NS_B" addr add 10.77.0.2/24 dev veth0
for ns in "$NS_A" "$NS_B"; do
	ip -n "$ns" link set lo up
	ip -n "$ns" link set veth0 up
done
ip netns exec "$NS_A" ping -c 1 -W 2 10.77.0.2 >/dev/null

. "$(dirname "$0")/lib.sh"	# ksoftirqd_ns

# profile NAME: one flood, SECS of it recorded; prints the figures.
profile()
{
	local name=$1 rp sp k0 k1 data=$OUT/perf.$1.data

	ip netns exec "$NS_B" taskset -c "$PIN_RECV" "$UB" recv 9000 $((SECS + 8)) >"$OUT/recv.$name" &
	rp=$!
	sleep 0.3
	k0=$(ksoftirqd_ns)
	ip netns exec "$NS_A" taskset -c "$PIN_SEND" "$UB" send 10.77.0.2 9000 $((SECS + 1)) >"$OUT/send.$name" &
	sp=$!
	sleep 0.5
	perf record -q -a -g -o "$data" -- sleep "$SECS" >/dev/null 2>&1
	wait "$sp" "$rp"
	k1=$(ksoftirqd_ns)
	perf report -i "$data" --comm udp_blast --percentage relative --children --sort sym --stdio \
		2>/dev/null >"$OUT/report.$name"
	cat "$OUT/send.$name" "$OUT/recv.$name" | awk -v name="$name" -v k=$((k1 - k0)) -v rep="$OUT/report.$name" '
		/^sent=/ { for (i = 1; i <= NF; i++) if ($i ~ /^cpu_us=/) c += substr($i, 8) * 1000 }
		/^received=/ { for (i = 1; i <= NF; i++) {
				if ($i ~ /^cpu_us=/) c += substr($i, 8) * 1000
				if ($i ~ /^received=/) n = substr($i, 10)
				if ($i ~ /^pps=/) pps = substr($i, 5) } }
		END {
			while ((getline line < rep) > 0) {
				split(line, f, " ")
				# "children self [k] symbol"
				if (f[4] ~ /^(nf_hook_slow|nft_do_chain|nft_do_chain_ipv4|nft_match_large_eval|bpf_mt_v1|nft_meta_get_eval|nft_meta_store_ifname|nf_route_table_hook4)$/)
					share = share sprintf(" %s=%s", f[4], f[1])
			}
			printf "%-4s %7.1f kpps %6.0f ns CPU/packet  udp_blast samples under:%s\n",
				name, pps / 1000, n ? (c + k) / n : 0, share ? share : " (no netfilter hook)"
		}'
}

for ((i = 1; i <= REPS; i++)); do
	profile "a$i"
	ip netns exec "$NS_B" "$FL" run --queue "$QUEUE" --no-control --rule "$RULE" \
		>"$OUT/fl.out" 2>"$OUT/fl.err" &
	FL_PID=$!
	for _ in $(seq 100); do
		grep -q 'faultline: running' "$OUT/fl.err" && break
		sleep 0.05
	done
	profile "c$i"
	kill "$FL_PID"
	wait "$FL_PID" || true
	FL_PID=
done
echo "profiles and reports in $OUT ('perf report -i $OUT/perf.c1.data --comm udp_blast --no-children --sort sym')"

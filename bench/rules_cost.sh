#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Instructions per packet of the decision path against the number of rules,
# counted by callgrind (stable on a shared machine, unlike time):
# build/rules_bench's bench_run() under valgrind, one run per rule count.
#   bench/rules_cost.sh [BUILD_DIR (build)] [N ... (1 100 1000 10000)]
# PACKETS (2000) packets per count, the same for every count (the number
# of packets held at once moves the figure). Without the index
# (FL_RULE_INDEX=0) 10000 rules take valgrind minutes. Needs valgrind.
set -euo pipefail
build=${1:-build}
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 100 1000 10000)
packets=${PACKETS:-2000}
command -v valgrind >/dev/null || { echo "rules_cost: valgrind is missing" >&2; exit 1; }
printf '%8s %12s %14s\n' rules packets instr/packet
for n in "${counts[@]}"; do
	p=$packets
	ir=$(RULES_BENCH_ONCE=1 valgrind --tool=callgrind --toggle-collect=bench_run \
		--callgrind-out-file=/dev/null "$build/rules_bench" "$p" "$n" 2>&1 >/dev/null |
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
	[ -n "$ir" ] || { echo "rules_cost: no count from callgrind for $n rules" >&2; exit 1; }
	printf '%8s %12s %14s\n' "$n" "$p" "$((ir / p))"
done

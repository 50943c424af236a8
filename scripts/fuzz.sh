#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the libFuzzer harnesses (fuzz/*_fuzz.c) with clang and run each for
# SECONDS (default 60), one process each and one per CPU at a time, from its
# committed seeds (fuzz/corpus/NAME/) and its dictionary (fuzz/NAME.dict)
# when it has one. What a run finds is kept in build-fuzz/corpus-NAME/ for
# the next run. A crash, leak, sanitizer report or hang leaves its input in
# build-fuzz/artifacts/NAME/ and makes the exit status 1; once fixed, the
# input goes to fuzz/regress/NAME/, where ctest runs it (fuzz.NAME).
#   scripts/fuzz.sh [SECONDS] [NAME...]     e.g. scripts/fuzz.sh 300 events replay
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in fuzz/*_fuzz.c; do
		names+=("$(basename "$f" _fuzz.c)")
	done
fi
CC=clang cmake -S . -B build-fuzz -DFL_FUZZ=ON -DFL_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
targets=()
for n in "${names[@]}"; do
	targets+=(--target "${n}_fuzz")
done
cmake --build build-fuzz -j"$(nproc)" "${targets[@]}" >/dev/null

# The longest input libFuzzer makes: events files, packet streams and API
# request sequences need several lines, packets or requests to reach the
# code that relates them.
max_len() {
	case "$1" in
	events | pipeline | toxi) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

# libpcap resolves host names in filters ("host example") through DNS, so a
# mutated rule line can wait seconds for the resolver. Without a network
# (a namespace of our own) the lookup fails at once.
nonet=()
if unshare -n true 2>/dev/null; then
	nonet=(unshare -n)
elif unshare -rn true 2>/dev/null; then
	nonet=(unshare -rn)
fi

# run_one NAME: one harness for secs; its summary line into build-fuzz/summary-NAME,
# and a non-zero status when it found something or did not run.
run_one() {
	local n=$1 work=build-fuzz/corpus-$1 art=build-fuzz/artifacts/$1 log=build-fuzz/fuzz-$1.log runs cov
	local args
	mkdir -p "$work" "$art"
	args=(-max_total_time="$secs" -max_len="$(max_len "$n")" -timeout=25 -print_final_stats=1
		-artifact_prefix="$art/")
	[ -f "fuzz/$n.dict" ] && args+=(-dict="fuzz/$n.dict")
	echo "fuzz $n: ${secs}s"
	"${nonet[@]}" build-fuzz/"${n}_fuzz" "${args[@]}" "$work" "fuzz/corpus/$n" >"$log" 2>&1 || true
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(sed -n 's/^#[0-9]*[[:space:]]*DONE .* cov: \([0-9]*\).*/\1/p' "$log")
	printf '%-10s %10s runs in %4ss, %5s edges, corpus %s\n' "$n" "${runs:-?}" "$secs" \
		"${cov:-?}" "$(find "$work" -type f | wc -l)" >"build-fuzz/summary-$n"
	if [ -n "$(ls -A "$art")" ] || [ -z "$runs" ]; then
		grep -E -A12 'ERROR|runtime error|SUMMARY' "$log" | head -40 || tail -20 "$log"
		echo "fuzz $n: FAILED; inputs in $art/, log in $log" >&2
		return 1
	fi
}

# One harness per CPU at a time (FUZZ_JOBS): each is one process.
jobs_max=${FUZZ_JOBS:-$(nproc)}
for n in "${names[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
		wait -n || true
	done
	rm -f "build-fuzz/failed-$n"
	{ run_one "$n" || touch "build-fuzz/failed-$n"; } &
done
wait
rc=0
for n in "${names[@]}"; do
	cat "build-fuzz/summary-$n" 2>/dev/null || echo "$n: no summary"
	[ ! -e "build-fuzz/failed-$n" ] || rc=1
done
exit $rc

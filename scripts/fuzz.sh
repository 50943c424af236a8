#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the libFuzzer harnesses with clang and run each for N seconds
# (default 60) from its seed corpus. A crash leaves its input in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
CC=clang cmake -S . -B build-fuzz -DFL_FUZZ=ON -DFL_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
rc=0
for f in build-fuzz/*_fuzz; do
	name=$(basename "$f" _fuzz)
	work=build-fuzz/corpus-$name
	mkdir -p "$work"
	seeds=fuzz/corpus/$name
	[ -d "$seeds" ] || seeds=
	echo "fuzz $name: ${secs}s"
	if ! (cd build-fuzz && "./$(basename "$f")" -max_total_time="$secs" -max_len=4096 \
		-print_final_stats=1 "corpus-$name" ${seeds:+"../$seeds"} 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' ); then
		:
	fi
	if ls build-fuzz/crash-* build-fuzz/leak-* build-fuzz/timeout-* >/dev/null 2>&1; then
		echo "fuzz $name: found a failing input:" build-fuzz/crash-* build-fuzz/leak-* build-fuzz/timeout-* 2>/dev/null
		rc=1
	fi
done
exit $rc

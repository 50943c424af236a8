#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite: install dependencies, build (plain and ASan+UBSan),
# run the Criterion unit tests in both builds, every integration test (real
# packets through the kernel, in namespaces each test creates) against the
# sanitizer build, and a short fuzzing pass over the parsers.
#   sudo scripts/test.sh            everything
#   sudo scripts/test.sh 003 007    only integration tests whose name contains these
set -uo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "faultline tests need root (network namespaces, iptables): sudo $0" >&2; exit 1; }
scripts/deps.sh
scripts/build.sh --asan || exit 1

fails=()
echo "== unit tests (plain build)"
ctest --test-dir build --output-on-failure || fails+=(unit-plain)
echo "== unit tests (ASan+UBSan build)"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure || fails+=(unit-asan)

echo "== integration tests (ASan+UBSan build)"
export FL_BUILD=$PWD/build-asan
# A sanitizer report must fail the run, not just print.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in tests/integration/[0-9]*.sh; do
	if [ $# -gt 0 ]; then
		sel=0
		for f in "$@"; do case $t in *"$f"*) sel=1 ;; esac; done
		[ $sel -eq 1 ] || continue
	fi
	start=$(date +%s)
	if out=$(timeout 180 bash "$t" 2>&1); then
		printf 'PASS %-40s %3ss\n' "$(basename "$t")" $(($(date +%s) - start))
	else
		printf 'FAIL %-40s %3ss\n%s\n' "$(basename "$t")" $(($(date +%s) - start)) "$out"
		fails+=("$(basename "$t")")
	fi
done

# The proxy runs a reader thread beside the libuv loop, and the event log
# and --pcap their own writers: ThreadSanitizer watches the tests that drive them at once
# (timer releases, SIGUSR1 statistics, SIGTERM while the reader runs, a
# stalled event or capture reader).
if [ $# -eq 0 ]; then
	echo "== integration tests touching both threads (ThreadSanitizer build)"
	if cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DFL_TESTS=OFF \
		-DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null &&
		cmake --build build-tsan -j"$(nproc)" >/dev/null; then
		for t in 002 003 006 014 074 076; do
			f=$(ls tests/integration/$t-*.sh)
			start=$(date +%s)
			if out=$(FL_BUILD=$PWD/build-tsan TSAN_OPTIONS=halt_on_error=1:exitcode=66 timeout 180 bash "$f" 2>&1); then
				printf 'PASS %-40s %3ss\n' "tsan $(basename "$f")" $(($(date +%s) - start))
			else
				printf 'FAIL %-40s %3ss\n%s\n' "tsan $(basename "$f")" $(($(date +%s) - start)) "$out"
				fails+=("tsan-$(basename "$f")")
			fi
		done
	else
		echo "FAIL: the ThreadSanitizer build did not build"
		fails+=(tsan-build)
	fi
fi

if [ $# -eq 0 ] && command -v clang >/dev/null; then
	echo "== fuzzing smoke run (${FUZZ_SECONDS:-20} s per harness)"
	scripts/fuzz.sh "${FUZZ_SECONDS:-20}" || fails+=(fuzz)
fi

# Nothing of ours may stay behind on the host.
if iptables-save | grep -q FAULTLINE || ip6tables-save | grep -q FAULTLINE; then
	echo "FAIL: a FAULTLINE chain was left on the host"
	fails+=(host-clean)
fi
if [ ${#fails[@]} -gt 0 ]; then
	echo "FAILED: ${fails[*]}"
	exit 1
fi
echo "ALL TESTS PASSED"

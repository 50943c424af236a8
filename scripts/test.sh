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
# A pyenv shim in PATH takes 0.4 s to start the same /usr/bin/python3 that
# it finds there; the tests start python3 hundreds of times.
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/\.pyenv/' | paste -sd:)
export PATH
scripts/deps.sh

# selected NAME: whether the command line (empty: everything) selects integration test NAME.
selected() {
	[ $# -gt 1 ] || return 0
	local t=$1 f
	shift
	for f in "$@"; do case $t in *"$f"*) return 0 ;; esac; done
	return 1
}
# The container tests (12x-*) need a debootstrapped base image: network and disk bound,
# so it is made (or found in its cache) in the background while the builds use the CPUs.
# The tests call base-rootfs.sh again, which waits on its lock until this one is done.
rootfs_pid=
for t in tests/integration/12[0-9]-*.sh; do
	[ -f "$t" ] && selected "$t" "$@" || continue
	if command -v debootstrap >/dev/null; then
		rootfs_start=$(date +%s)
		tests/tools/base-rootfs.sh >/tmp/faultline-base-rootfs.log 2>&1 &
		rootfs_pid=$!
	fi
	break
done

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
	selected "$t" "$@" || continue
	if [ -n "$rootfs_pid" ] && [[ $(basename "$t") == 12[0-9]-* ]]; then
		if wait "$rootfs_pid"; then
			echo "   base rootfs for the container tests ready $(($(date +%s) - rootfs_start)) s after the start"
		else
			echo "   base rootfs failed:"; tail -5 /tmp/faultline-base-rootfs.log
		fi
		rootfs_pid=
	fi
	start=$(date +%s)
	# A test may ask for more than 180 s ("# fl-timeout: N"): the container tests build images.
	tmo=$(sed -n 's/^# fl-timeout: \([0-9]*\)$/\1/p' "$t")
	if out=$(timeout "${tmo:-180}" bash "$t" 2>&1); then
		# Only a machine that cannot start dockerd at all may skip the container tests.
		if grep -q '^SKIP' <<<"$out" && command -v dockerd >/dev/null; then
			printf 'FAIL %-40s %3ss (skipped although dockerd is installed)\n%s\n' \
				"$(basename "$t")" $(($(date +%s) - start)) "$out"
			fails+=("$(basename "$t")")
			continue
		fi
		printf 'PASS %-40s %3ss\n' "$(basename "$t")" $(($(date +%s) - start))
	else
		printf 'FAIL %-40s %3ss\n%s\n' "$(basename "$t")" $(($(date +%s) - start)) "$out"
		fails+=("$(basename "$t")")
	fi
done

# The proxy runs a reader thread beside the libuv loop, and the event log
# and --pcap their own writers: ThreadSanitizer watches the tests that drive them at once
# (timer releases from the releasing thread, SIGUSR1 statistics, SIGTERM while the reader runs, a
# stalled event or capture reader).
if [ $# -eq 0 ]; then
	echo "== integration tests touching both threads (ThreadSanitizer build)"
	if cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DFL_TESTS=OFF \
		-DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null &&
		cmake --build build-tsan -j"$(nproc)" >/dev/null; then
		for t in 002 003 006 014 074 076 138; do
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
	echo "== fuzzing smoke run (${FUZZ_SECONDS:-10} s per harness)"
	scripts/fuzz.sh "${FUZZ_SECONDS:-10}" || fails+=(fuzz)
fi

# Nothing of ours may stay behind on the host.
if iptables-save | grep -q FAULTLINE || ip6tables-save | grep -q FAULTLINE; then
	echo "FAIL: a FAULTLINE chain was left on the host"
	fails+=(host-clean)
fi
if command -v ipset >/dev/null && ipset list -n | grep -q '^FAULTLINE-'; then
	echo "FAIL: a FAULTLINE- port set was left on the host: $(ipset list -n | grep '^FAULTLINE-' | tr '\n' ' ')"
	fails+=(host-clean)
fi
if [ ${#fails[@]} -gt 0 ]; then
	echo "FAILED: ${fails[*]}"
	exit 1
fi
echo "ALL TESTS PASSED"

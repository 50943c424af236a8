#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the Debian package from a build directory (default build/, the
# optimised one) and run lintian on it: any tag, info included, that the
# package's own overrides (packaging/faultline.lintian-overrides) do not
# explain fails.
#   scripts/package.sh [BUILD_DIR] [--no-lintian]   prints the .deb's path
#   scripts/package.sh --lint DEB                   only lintian, on DEB
set -euo pipefail
cd "$(dirname "$0")/.."

lint() {
	local out rc=0
	out=$(lintian --display-info --fail-on error,warning,info "$1" 2>&1) || rc=$?
	# lintian warns whenever it runs as root; that is not about the package.
	grep -v '^running with root privileges is not recommended!$' <<<"$out" >&2 || true
	if [ $rc -ne 0 ]; then
		echo "package: lintian found the tags above in $1 (exit $rc)" >&2
		return 1
	fi
}

build=build do_lint=1
while [ $# -gt 0 ]; do
	case $1 in
	--lint)
		[ $# -eq 2 ] || { echo "usage: $0 --lint DEB" >&2; exit 2; }
		lint "$2"
		exit
		;;
	--no-lintian) do_lint=0 ;;
	-*)
		echo "usage: $0 [BUILD_DIR] [--no-lintian] | --lint DEB" >&2
		exit 2
		;;
	*) build=$1 ;;
	esac
	shift
done
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Only what the package holds: installing does not build the test programs.
cmake --build "$build" -j"$(nproc)" --target faultline man docs >/dev/null
rm -rf "$build/pkg"
if ! out=$(cd "$build" && cpack -G DEB -B "$PWD/pkg" 2>&1); then
	echo "$out" >&2
	exit 1
fi
deb=$(ls "$build"/pkg/faultline_*.deb)
[ $do_lint = 0 ] || lint "$deb"
echo "$deb"

#!/usr/bin/env bash
# 'faultline --version' (and 'faultline version') names the version, the git
# commit the binary was built from (with -dirty for a tree with changes
# not committed), and one line for each library it runs with: libpcap and
# libuv as loaded, libnetfilter_queue and libmnl as built against.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
"$FL" --version >"$T/v1" || fail "--version failed"
"$FL" version >"$T/v2" || fail "version failed"
cmp -s "$T/v1" "$T/v2" || fail "--version and version differ"
cat "$T/v1" >&2
[ "$(wc -l <"$T/v1")" -eq 5 ] || fail "expected 5 lines"
head -1 "$T/v1" | grep -Eq '^faultline [0-9]+\.[0-9]+\.[0-9]+ \(commit [^ ]+\)$' || fail "first line: $(head -1 "$T/v1")"
commit=$(head -1 "$T/v1" | sed -E 's/.*\(commit ([^ ]+)\)$/\1/')
if git -C "$SRC" rev-parse --short HEAD >/dev/null 2>&1; then
	head=$(git -C "$SRC" rev-parse --short HEAD)
	[ "${commit%-dirty}" = "$head" ] || fail "built from $commit, the tree is at $head (rebuild?)"
	# A tree clean now was clean at the build of this commit.
	if [ -z "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
		[ "$commit" = "$head" ] || fail "a clean tree, but the commit says $commit"
	fi
else
	[ "$commit" = unknown ] || fail "no git checkout, but the commit says $commit"
fi
# Each library on its line, with the version its package says.
line() { grep -E "^$1 " "$T/v1" || fail "no line for $1"; }
line libpcap | grep -Fq "$(pkg-config --modversion libpcap)" || fail "libpcap: $(line libpcap)"
line libpcap | grep -q 'run time' || fail "libpcap: not said to be the run-time version"
line libuv | grep -Eq "^libuv $(pkg-config --modversion libuv | sed 's/\./\\./g')(-[a-z]+)? \(run time\)$" || fail "libuv: $(line libuv)"
for lib in libnetfilter_queue libmnl; do
	line $lib | grep -Fq "$lib $(pkg-config --modversion $lib) (build time" || fail "$lib: $(line $lib)"
done
echo ok

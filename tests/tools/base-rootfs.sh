#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A minimal Debian bookworm root file system for the container and package
# tests, made offline from any registry: debootstrap (variant minbase) from the
# mirror apt is already configured with, read from /etc/apt/sources.list(.d),
# never written into the repository. The tarball is cached on the machine and
# reused; concurrent callers wait for one another on a lock, so scripts/test.sh
# can start it in the background and the tests simply call it again.
#   tests/tools/base-rootfs.sh            make (or reuse) the tarball, print its path
#   tests/tools/base-rootfs.sh --import   also `docker import` it as debian:bookworm-slim
#                                         ($DOCKER is the client, default docker)
# FL_ROOTFS_CACHE: the cache directory (default /var/cache/faultline-tests).
set -euo pipefail

CACHE=${FL_ROOTFS_CACHE:-/var/cache/faultline-tests}
TAR=$CACHE/bookworm.tar
SUITE=bookworm
TAG=debian:bookworm-slim

# The first deb822 stanza or one-line entry that carries the bookworm suite
# itself (not -updates or -security): its URI and, when given, its keyring.
find_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v s="$SUITE" '
			/^[ \t]*deb[ \t]/ {
				i = 2; kr = ""
				if ($2 ~ /^\[/) {
					for (; i <= NF; i++) {
						if ($i ~ /signed-by=/) { kr = $i; sub(/.*signed-by=/, "", kr); sub(/\]$/, "", kr) }
						if ($i ~ /\]$/) { i++; break }
					}
				}
				if ($(i + 1) == s) { print $i, kr; exit }
			}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v s="$SUITE" '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ") && uri != "")
					{ split(uri, u, " "); print u[1], kr; found = 1; exit }
				types = suites = uri = kr = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			/^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
			/^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
			/^URIs:/ { sub(/^URIs:[ \t]*/, ""); uri = $0 }
			/^Signed-By:/ { sub(/^Signed-By:[ \t]*/, ""); kr = $0 }
			END { if (!found) flush() }' "$f"
	done | head -1
}

make_tar() {
	local mirror keyring root
	read -r mirror keyring < <(find_mirror) || true
	if [ -z "${mirror:-}" ]; then
		echo "base-rootfs: no '$SUITE' entry in the apt sources (/etc/apt/sources.list, sources.list.d)" >&2
		return 1
	fi
	command -v debootstrap >/dev/null || {
		echo "base-rootfs: debootstrap is not installed (scripts/deps.sh installs it)" >&2
		return 1
	}
	root=$(mktemp -d "$CACHE/root.XXXXXX")
	# The rootfs and the half-written tarball go if anything fails or we are stopped.
	trap 'rm -rf "$root" "$TAR.tmp"' EXIT
	echo "base-rootfs: debootstrap $SUITE (minbase) from $mirror into $TAR" >&2
	local args=(--variant=minbase)
	[ -n "${keyring:-}" ] && [ -f "$keyring" ] && args+=(--keyring="$keyring")
	if ! debootstrap "${args[@]}" "$SUITE" "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
		echo "base-rootfs: debootstrap failed; the end of its log ($CACHE/debootstrap.log):" >&2
		tail -20 "$CACHE/debootstrap.log" >&2
		return 1
	fi
	# Like the registry's slim image: no downloaded packages or lists, no docs.
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
		"$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
	tar --numeric-owner -C "$root" -cf "$TAR.tmp" .
	mv "$TAR.tmp" "$TAR"
	rm -rf "$root"
	trap - EXIT
}

import=0
case ${1:-} in
--import) import=1 ;;
"") ;;
*)
	echo "usage: $0 [--import]" >&2
	exit 2
	;;
esac

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
[ -s "$TAR" ] || make_tar
if [ $import = 1 ]; then
	# Imported only once per engine: an existing tag is kept (its layers are the same tarball).
	docker=${DOCKER:-docker}
	if ! $docker image inspect "$TAG" >/dev/null 2>&1; then
		$docker import "$TAR" "$TAG" >/dev/null
	fi
fi
flock -u 9
echo "$TAR"

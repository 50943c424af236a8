#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A minimal Debian bookworm root file system for the container and package
# tests, made offline from any registry: debootstrap (variant minbase) from the
# mirror apt is already configured with, read from /etc/apt/sources.list(.d),
# never written into the repository, with the dpkg and apt settings of the
# registry's debian:bookworm-slim (slim_config). The tarball is cached on the machine and
# reused; concurrent callers wait for one another on a lock, so scripts/test.sh
# can start it in the background and the tests simply call it again.
#   tests/tools/base-rootfs.sh            make (or reuse) the tarball, print its path
#   tests/tools/base-rootfs.sh --import   also `docker import` it as debian:bookworm-slim
#                                         ($DOCKER is the client, default docker)
# FL_ROOTFS_CACHE: the cache directory (default /var/cache/faultline-tests).
set -euo pipefail

CACHE=${FL_ROOTFS_CACHE:-/var/cache/faultline-tests}
# Named for its contents: a tarball made the old way (without slim_config) is not reused.
TAR=$CACHE/bookworm-slim.tar
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

# slim_config ROOT: what Debian's official slim images set for dpkg and apt
# (debuerreotype's minimizing config and slimify): no fsync per unpacked
# file, no docs, man pages or translations, no Translation index. Not their
# apt-cache cleaning hook: the Dockerfile must clean up on its own, and 120
# checks that it does. 140 takes these out again for its plain Debian system.
slim_config() {
	local root=$1
	echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
	cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<-'EOF'
		path-exclude /usr/share/doc/*
		path-include /usr/share/doc/*/copyright
		path-exclude /usr/share/man/*
		path-exclude /usr/share/groff/*
		path-exclude /usr/share/info/*
		path-exclude /usr/share/lintian/*
		path-exclude /usr/share/linda/*
		path-exclude /usr/share/locale/*
	EOF
	mkdir -p "$root/etc/apt/apt.conf.d"
	echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
}

# umount_under DIR: lazily unmount everything mounted below DIR, deepest first.
umount_under() {
	awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
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
	# The rootfs and the half-written tarball go if anything fails or we are
	# stopped, after whatever the second stage left mounted in it (its /proc).
	trap 'umount_under "$root"; rm -rf "$root" "$TAR.tmp"' EXIT
	echo "base-rootfs: debootstrap $SUITE (minbase) from $mirror into $TAR" >&2
	local args=(--variant=minbase --foreign)
	[ -n "${keyring:-}" ] && [ -f "$keyring" ] && args+=(--keyring="$keyring")
	# Two stages, so the registry image's dpkg settings are in place before
	# dpkg installs anything: the second stage, and every apt-get of an image
	# built on this base, then skips the fsyncs and the docs as they do on
	# the real debian:bookworm-slim.
	if ! debootstrap "${args[@]}" "$SUITE" "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
		! slim_config "$root" ||
		! chroot "$root" /debootstrap/debootstrap --second-stage >>"$CACHE/debootstrap.log" 2>&1; then
		echo "base-rootfs: debootstrap failed; the end of its log ($CACHE/debootstrap.log):" >&2
		tail -20 "$CACHE/debootstrap.log" >&2
		return 1
	fi
	# Like the registry's slim image: no downloaded packages or lists, no docs.
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
		"$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
	umount_under "$root"
	tar --numeric-owner -C "$root" -cf "$TAR.tmp" .
	mv "$TAR.tmp" "$TAR"
	rm -f "$CACHE/bookworm.tar"	# the previous format's
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
	# Imported once per engine and tarball: the import's message names the
	# tarball, and a tag from another (an older cache) is replaced.
	docker=${DOCKER:-docker}
	msg="faultline-tests $(basename "$TAR") $(stat -c '%Y %s' "$TAR")"
	if [ "$($docker image inspect -f '{{.Comment}}' "$TAG" 2>/dev/null)" != "$msg" ]; then
		$docker import -m "$msg" "$TAR" "$TAG" >/dev/null
	fi
fi
flock -u 9
echo "$TAR"

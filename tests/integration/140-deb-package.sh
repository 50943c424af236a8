#!/usr/bin/env bash
# The Debian package: `cpack -G DEB` of the optimised build is lintian-clean
# (each tag fixed or explained in its overrides), and on a clean Debian system
# (a chroot on the debootstrapped base of tests/tools/base-rootfs.sh, apt
# using the host's sources and lists) `apt-get install ./faultline.deb`
# brings its computed dependencies; the installed faultline reports its
# version and replays a shipped capture exactly as the build's binary does;
# the man pages and completion are in place; and after `apt-get purge` no
# file or directory of the package's `dpkg -L` list is left.
# FL_PKG_BUILD: the build to package (default build/, which scripts/test.sh makes);
# FL_DEB: a .deb made elsewhere to install instead (no lintian then).
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PKG_BUILD=${FL_PKG_BUILD:-$SRC/build}
CACHE=${FL_ROOTFS_CACHE:-/var/cache/faultline-tests}
CAP=$SRC/tests/data/lossy-link-sender-side.pcap

if [ -n "${FL_DEB:-}" ]; then
	deb=$FL_DEB	# a package made elsewhere: install test only
else
	deb=$("$SRC/scripts/package.sh" "$PKG_BUILD" --no-lintian) || fail "scripts/package.sh (cpack) failed"
	log "package: $deb (${SECONDS}s)"
	# lintian takes a while: it runs beside the install test.
	setsid "$SRC/scripts/package.sh" --lint "$deb" >"$T/lintian.err" 2>&1 &
	LINT_PID=$!
fi

# The base, unpacked once per tarball and shared read-only by every run;
# each run writes only to its own overlay.
tar=$("$SRC/tests/tools/base-rootfs.sh") || fail "no base root file system"
base=$CACHE/bookworm-root
(
	flock 8
	stamp=$(stat -c '%Y %s' "$tar")
	if [ "$(cat "$base.stamp" 2>/dev/null)" != "$stamp" ]; then
		rm -rf "$base" "$base.stamp"
		mkdir -p "$base.tmp"
		tar --numeric-owner -C "$base.tmp" -xf "$tar"
		mv "$base.tmp" "$base"
		echo "$stamp" >"$base.stamp"
	fi
) 8>"$CACHE/.bookworm-root.lock" || fail "cannot unpack $tar"
mkdir -p "$CACHE/apt/archives/partial"

R=$T/root
mkdir "$R" "$T/upper" "$T/work"
MOUNTS=()
umount_all() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null || true; done
	MOUNTS=()
}
# Nothing is removed under $T while something is still mounted there.
on_exit() {
	local rc=$?
	# lintian, if still running, in the process group setsid made for it.
	# (set -e holds here too: a group already gone must not fail the test)
	[ -z "${LINT_PID:-}" ] || kill -- -"$LINT_PID" 2>/dev/null || true
	umount_all
	if grep -q " $T/" /proc/mounts; then
		echo "mounts left under $T, not removing it" >&2
		T=
	fi
	(exit $rc)
	cleanup
}
trap on_exit EXIT
mount -t overlay overlay -o "lowerdir=$base,upperdir=$T/upper,workdir=$T/work" "$R"
MOUNTS+=("$R")
mount -t proc proc "$R/proc" && MOUNTS+=("$R/proc")
mount --bind /dev "$R/dev" && MOUNTS+=("$R/dev")
# Downloaded packages and apt's package cache are kept between runs; the
# host's lists say what the mirror has (read-only: the chroot never updates them).
mount --bind "$CACHE/apt" "$R/var/cache/apt" && MOUNTS+=("$R/var/cache/apt")
if ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
	mount --bind -o ro /var/lib/apt/lists "$R/var/lib/apt/lists" && MOUNTS+=("$R/var/lib/apt/lists")
	update=0
else
	update=1
fi
cp /etc/resolv.conf "$R/etc/resolv.conf"
# A throwaway system: dpkg need not sync each file it unpacks (as in
# Debian's container images).
echo force-unsafe-io >"$R/etc/dpkg/dpkg.cfg.d/unsafe-io"
# A plain Debian system, not the container image the base imitates: docs,
# man pages and translations are installed (base-rootfs.sh's slim_config).
rm -f "$R/etc/dpkg/dpkg.cfg.d/docker" "$R/etc/apt/apt.conf.d/docker-no-languages"
rm -f "$R"/etc/apt/sources.list "$R"/etc/apt/sources.list.d/*
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] && cp "$f" "$R$f"
done
cp "$deb" "$R/tmp/faultline.deb"
cp "$CAP" "$R/tmp/cap.pcap"
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
	DEBIAN_FRONTEND=noninteractive "$@"; }

in_root find / -xdev -path /proc -prune -o -print | sort >"$T/before"
log "chroot ready (${SECONDS}s)"
[ $update = 0 ] || in_root apt-get update -qq >"$T/apt.err" 2>&1 || fail "apt-get update in the chroot"
in_root apt-get install -y -qq --no-install-recommends /tmp/faultline.deb >"$T/apt.err" 2>&1 ||
	fail "apt-get install ./faultline.deb: $(tail -5 "$T/apt.err")"
log "installed with its dependencies (${SECONDS}s)"
in_root dpkg -L faultline | sort >"$T/list"
for f in /usr/bin/faultline /usr/share/man/man8/faultline.8.gz /usr/share/man/man5/faultline-rules.5.gz \
	/usr/share/man/man5/faultline-events.5.gz /usr/share/bash-completion/completions/faultline \
	/usr/share/doc/faultline/copyright /usr/share/doc/faultline/events.schema.json; do
	grep -qx "$f" "$T/list" || fail "the package has no $f"
done

in_root faultline --version >"$T/version" || fail "faultline --version in the chroot"
head -1 "$T/version" | grep -Eq '^faultline [0-9.]+ \(commit ' || fail "--version: $(head -1 "$T/version")"
# The same capture, rules and seed: the installed binary writes what the build's writes.
rule='tcp port 9000 => drop 10%, delay 5ms'
in_root faultline replay /tmp/cap.pcap -r "$rule" -s 7 -o /tmp/out.pcap >"$T/counters" ||
	fail "faultline replay in the chroot"
"$PKG_BUILD/faultline" replay "$CAP" -r "$rule" -s 7 -o "$T/out.pcap" >/dev/null || fail "replay on the host"
cmp -s "$R/tmp/out.pcap" "$T/out.pcap" || fail "the installed faultline's replay differs from the build's"
grep -q '"dropped":[1-9]' "$T/counters" || fail "the replay dropped nothing: $(head -c 300 "$T/counters")"
log "installed: $(head -1 "$T/version"); replay identical to the build's (${SECONDS}s)"

in_root apt-get purge -y -qq faultline >"$T/apt.err" 2>&1 || fail "apt-get purge faultline"
status=$(in_root dpkg-query -W -f='${db:Status-Status}' faultline 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = not-installed ] || fail "after purge, faultline is '$status'"
in_root find / -xdev -path /proc -prune -o -print | sort >"$T/after"
# Whatever the package listed and the clean system did not have must be gone,
# but for folders its dependencies (still installed) have files in too.
left=
for p in $(comm -12 "$T/list" "$T/after" | comm -23 - "$T/before"); do
	in_root dpkg-query -S "$p" >/dev/null 2>&1 || left+=" $p"
done
[ -z "$left" ] || fail "left after purge:$left"
log "purged: none of its $(wc -l <"$T/list") paths left (${SECONDS}s)"
if [ -n "${LINT_PID:-}" ]; then
	wait "$LINT_PID" || fail "lintian: $(cat "$T/lintian.err")"
	log "lintian: no tag but those explained in its overrides (${SECONDS}s)"
fi
echo ok

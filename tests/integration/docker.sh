# SPDX-License-Identifier: MIT
# Shared helpers for the container tests (12x-*): source after lib.sh.
# dk_start starts a dockerd of the test's own (its own socket, exec root and
# bridge; a data root cached on the machine for the base image and the build
# cache), or prints SKIP and exits 0 when no dockerd can start at all. On exit it
# removes every container, network, volume and tagged image the test made, stops
# dockerd by its PID and restores what dockerd changed on the host: the FORWARD
# policy, ip_forward, the bridge netfilter switches and its iptables chains.
# Debian's client (/usr/bin/docker, API 1.41) talks to Debian's engine; another
# client earlier in PATH (a newer one in /usr/local/bin) is not used.

DK_CACHE=${FL_ROOTFS_CACHE:-/var/cache/faultline-tests}
DK_DATA=$DK_CACHE/docker
DK_RUN=$T/dk
DK_SOCK=$DK_RUN/docker.sock
DK_BR=fldk$ID
# A subnet of the test's own for the default bridge, and a pool for compose's networks.
DK_NET=10.213.$((RANDOM % 250 + 1))
DK_PID=
DK_IMAGES=()
DOCKER=/usr/bin/docker
export DOCKER_HOST=unix://$DK_SOCK
dk() { "$DOCKER" "$@"; }

_dk_cleanup() {
	set +e
	if [ -n "$DK_PID" ] && kill -0 "$DK_PID" 2>/dev/null; then
		local c
		c=$(dk ps -aq)
		[ -z "$c" ] || dk rm -f -v $c >/dev/null
		[ ${#DK_IMAGES[@]} -eq 0 ] || dk rmi -f "${DK_IMAGES[@]}" >/dev/null 2>&1
		dk network prune -f >/dev/null
		dk volume prune -f >/dev/null
		kill -TERM "$DK_PID"
		for _ in $(seq 100); do kill -0 "$DK_PID" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$DK_PID" 2>/dev/null
	fi
	# dockerd's managed containerd is its child and stops with it; one left over is ours.
	if [ -f "$DK_RUN/containerd/containerd.pid" ]; then
		kill -9 "$(cat "$DK_RUN/containerd/containerd.pid")" 2>/dev/null
	fi
	ip link del "$DK_BR" 2>/dev/null
	_dk_restore_host
	umount -R "$DK_RUN" 2>/dev/null
	[ -z "${DK_LOCKED:-}" ] || flock -u 8
}

# Delete the rules and chains dockerd added (those naming DOCKER or our bridge).
_dk_iptables_undo() {
	local cmd=$1 table line
	for table in filter nat; do
		"$cmd-save" -t "$table" 2>/dev/null | grep -E '^-A .*(DOCKER|'"$DK_BR"')' |
			while read -r line; do
				# iptables-save prints each rule as the arguments that add it.
				eval "$cmd -t $table -D ${line#-A }" 2>/dev/null
			done
		"$cmd-save" -t "$table" 2>/dev/null | sed -n 's/^:\(DOCKER[^ ]*\) .*/\1/p' |
			while read -r line; do
				"$cmd" -t "$table" -F "$line" 2>/dev/null
				"$cmd" -t "$table" -X "$line" 2>/dev/null
			done
	done
}

_dk_restore_host() {
	_dk_iptables_undo iptables
	_dk_iptables_undo ip6tables
	[ -z "${DK_FWD_POLICY:-}" ] || iptables -P FORWARD "$DK_FWD_POLICY"
	[ -z "${DK_FWD6_POLICY:-}" ] || ip6tables -P FORWARD "$DK_FWD6_POLICY"
	[ -z "${DK_IPFWD:-}" ] || sysctl -qw net.ipv4.ip_forward="$DK_IPFWD"
	local f
	for f in ${DK_BRNF:-}; do echo "${f#*=}" >"/proc/sys/net/bridge/${f%%=*}"; done
}

_dk_save_host() {
	DK_FWD_POLICY=$(iptables -S FORWARD | sed -n 's/^-P FORWARD //p')
	DK_FWD6_POLICY=$(ip6tables -S FORWARD 2>/dev/null | sed -n 's/^-P FORWARD //p')
	DK_IPFWD=$(sysctl -n net.ipv4.ip_forward)
	DK_BRNF=
	local f
	for f in /proc/sys/net/bridge/bridge-nf-call-*; do
		[ -f "$f" ] && DK_BRNF+=" $(basename "$f")=$(cat "$f")"
	done
}

# Start dockerd and wait for it; SKIP (exit 0) only if it cannot start at all.
dk_start() {
	if ! command -v dockerd >/dev/null || [ ! -x "$DOCKER" ]; then
		echo "SKIP: no dockerd or Debian docker client (scripts/deps.sh installs docker.io)"
		exit 0
	fi
	mkdir -p "$DK_DATA" "$DK_RUN"
	# One test dockerd at a time on the machine: the data root and the host's
	# DOCKER chains are shared.
	exec 8>"$DK_CACHE/docker.lock"
	flock 8
	DK_LOCKED=1
	_dk_save_host
	trap 'rc=$?; _dk_cleanup; (exit $rc); cleanup' EXIT
	ip link add "$DK_BR" type bridge
	ip addr add "$DK_NET.1/24" dev "$DK_BR"
	ip link set "$DK_BR" up
	dockerd --data-root "$DK_DATA" --exec-root "$DK_RUN/x" --pidfile "$DK_RUN/dockerd.pid" \
		-H "$DOCKER_HOST" --bridge "$DK_BR" --default-address-pool "base=10.214.0.0/16,size=24" \
		--log-level warn >"$T/dockerd.err" 2>&1 &
	DK_PID=$!
	for _ in $(seq 150); do
		dk version >/dev/null 2>&1 && break
		if ! kill -0 "$DK_PID" 2>/dev/null; then
			DK_PID=
			echo "SKIP: dockerd cannot start here:"
			tail -5 "$T/dockerd.err"
			exit 0
		fi
		sleep 0.2
	done
	dk version >/dev/null || fail "dockerd did not answer within 30 s"
}

# The base image, debian:bookworm-slim, imported from the debootstrapped cache.
dk_base() {
	DOCKER=$DOCKER "$(dirname "$0")/../tools/base-rootfs.sh" --import >/dev/null ||
		fail "no base image (tests/tools/base-rootfs.sh)"
}

# dk_build TAG [docker build args...]: build and remember TAG for removal.
dk_build() {
	local tag=$1
	shift
	DK_IMAGES+=("$tag")
	dk build -q -t "$tag" "$@" >/dev/null
}

# dk_ip NAME: the container's IPv4 address on the default bridge.
dk_ip() {
	dk inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$1" | awk '{print $1}'
}

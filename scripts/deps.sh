#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what faultline needs to build, test and run its demo (Debian).
# Does nothing when everything is already there.
set -euo pipefail

# prometheus: only for promtool, which checks GET /metrics' text (metrics_test, 090).
# docker.io, docker-compose, debootstrap: the container tests (120-129) start their own
# dockerd on a base image debootstrapped from the apt mirror (tests/tools/base-rootfs.sh).
# nodejs and npm run the toxiproxy API's acceptance test (131, toxiproxy-node-client).
# ipset keeps port rules in the kernel as sets (149-151; without it they stay bpf programs).
# scdoc makes the man pages; bash-completion and lintian serve the completion
# and package tests (ctest completion.bash, tests/integration/140).
PKGS=(build-essential cmake pkg-config clang scdoc bash-completion lintian
	libnetfilter-queue-dev libmnl-dev libnetfilter-conntrack-dev libuv1-dev libpcap-dev libcriterion-dev libcap-ng-dev libmount-dev
	libwiretap-dev libwsutil-dev libglib2.0-dev libmicrohttpd-dev libjansson-dev
	iptables ipset iproute2 iputils-ping iperf3 socat netcat-openbsd curl tcpdump tshark python3 python3-jsonschema jq chromium ethtool
	prometheus docker.io docker-compose debootstrap nodejs)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm (tests/integration/131, the toxiproxy Node client): Debian's package, unless
# a nodejs that bundles its own npm (NodeSource's) is installed already.
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "faultline: missing packages ${missing[*]}; run as root (sudo) to install them" >&2
		exit 1
	fi
	echo "faultline: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
	# promtool comes with the Prometheus server, whose service the package starts: not wanted here.
	if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null &&
		systemctl is-active -q prometheus 2>/dev/null; then
		systemctl disable --now prometheus >/dev/null 2>&1 || true
	fi
	# The container tests start their own dockerd (own data root, socket and bridge) and
	# restore what it changes on the host; the package's service would hold the host's.
	if [[ " ${missing[*]} " == *" docker.io "* ]] && command -v systemctl >/dev/null &&
		systemctl is-active -q docker 2>/dev/null; then
		systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
	fi
fi

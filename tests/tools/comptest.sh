#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Drives the bash completion of faultline as bash does on TAB: COMP_WORDS and
# COMP_CWORD set, _faultline called, COMPREPLY checked. `ip`, `faultline` and
# `docker` are stand-ins first on PATH, so the namespaces, a running
# faultline's rules and the containers are known without root.
#   comptest.sh COMPLETION_FILE
# Not -e or -u: bash-completion's helpers are not written for them.
set -o pipefail
COMP=$(realpath "$1") || exit 2
T=$(mktemp -d /tmp/flcomp.XXXXXX) || exit 2
trap 'rm -rf "$T"' EXIT
mkdir "$T/bin" "$T/files" "$T/files/sub" || exit 2

# `ip netns list` as iproute2 prints it (with and without an id).
cat >"$T/bin/ip" <<'STUB'
#!/bin/sh
[ "$1 $2" = "netns list" ] && printf 'app (id: 0)\ndb\n'
STUB
# A faultline run in namespace app, whose control reply has two rules; for
# any other place, what ctl says when no run listens there.
cat >"$T/bin/faultline" <<'STUB'
#!/bin/sh
if [ "$*" = "ctl --netns app --json list" ]; then
	echo '{"ok":true,"rules":[{"index":1,"name":"slow-db","rule":"tcp port 5432 => delay 200ms","enabled":true},{"index":2,"name":"rule-2","rule":"udp => drop","enabled":true}]}'
	exit 0
fi
echo "faultline: ctl: no faultline listens on /run/faultline/queue-4242.sock" >&2
exit 1
STUB
cat >"$T/bin/docker" <<'STUB'
#!/bin/sh
[ "$1" = ps ] && printf 'web\npostgres\n'
STUB
chmod +x "$T/bin/"*
touch "$T/files/cap.pcap" "$T/files/notes.txt" "$T/files/ev.jsonl"

export PATH="$T/bin:$PATH"
cd "$T/files" || exit 2
# What bash-completion users have: its helpers first, when installed.
if [ -f /usr/share/bash-completion/bash_completion ]; then
	# shellcheck disable=SC1091
	. /usr/share/bash-completion/bash_completion
fi
# shellcheck disable=SC1090
. "$COMP"

fails=0
# expect 'WORDS ...' 'EXPECTED REPLIES' : the last word is the one completed.
expect()
{
	local line=$1 want=$2 got
	read -r -a COMP_WORDS <<<"$line"
	[[ $line == *' ' ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMPREPLY=()
	_faultline faultline "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
	if [ "$got" != "$want" ]; then
		printf 'FAIL: completing "%s": got [%s], want [%s]\n' "$line" "$got" "$want"
		fails=$((fails + 1))
	else
		printf 'ok: "%s" -> [%s]\n' "$line" "$got"
	fi
}

expect 'faultline re' 'replay report'
expect 'faultline run --netns' '--netns --netns-path'
expect 'faultline run --http' '--http --http-allow-remote --http-timeout'
expect 'faultline replay --o' '--out'
expect 'faultline run --netns ' 'app db'
expect 'faultline cleanup d' 'db'
expect 'faultline replay ' 'cap.pcap sub'
expect 'faultline show ' 'ev.jsonl sub'
expect 'faultline run -f n' 'notes.txt'
expect 'faultline ctl --netns app del ' 'rule-2 slow-db'
expect 'faultline ctl --netns app disable s' 'slow-db'
expect 'faultline ctl --netns other del ' ''
expect 'faultline ctl --netns app del slow-db ' ''
expect 'faultline ctl --netns app e' 'enable events'
expect 'faultline run --container ' 'postgres web'
expect 'faultline demo t' 'teardown timewait'
expect 'faultline wr' 'wrap'
expect 'faultline wrap --net' '--netns --netns-path'
expect 'faultline wrap --for' ''
expect 'faultline wrap --netns ' 'app db'
expect 'faultline wrap -r x -- faultl' 'faultline'
[ $fails -eq 0 ] || exit 1

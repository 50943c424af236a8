# SPDX-License-Identifier: MIT
# bash completion for faultline(8): commands, options, rule files and
# captures, --netns names from `ip netns`, rule names of a running faultline
# (`faultline ctl ... list`, given the same --control/--queue/--netns), and
# container names from docker or podman. Lookups are quick and silent: a
# failure offers nothing.
# ctest man.options checks that the *_opts lists below are the options of
# the --help texts, no more and no fewer.

_faultline_netns()
{
	ip netns list 2>/dev/null | awk '{ print $1 }'
}

_faultline_containers()
{
	local tool
	for tool in docker podman; do
		command -v "$tool" >/dev/null 2>&1 || continue
		timeout 2 "$tool" ps --format '{{.Names}}' 2>/dev/null
	done
}

# The rule names of the run this ctl line talks to: its --control, --queue
# and --netns are passed on.
_faultline_rule_names()
{
	local -a where=()
	local i
	for ((i = 2; i < cword; i++)); do
		case ${words[i]} in
		--control | --queue | --netns | -q | -n)
			where+=("${words[i]}" "${words[i + 1]}")
			((i++))
			;;
		--control=* | --queue=* | --netns=*) where+=("${words[i]}") ;;
		esac
	done
	timeout 2 faultline ctl "${where[@]}" --json list 2>/dev/null |
		grep -o '"name":"[^"]*"' | cut -d'"' -f4
}

# Files, or only those ending in one of the given extensions (and folders).
_faultline_files()
{
	if declare -F _filedir >/dev/null; then
		_filedir "$@"
	else
		local IFS=$'\n'
		COMPREPLY+=($(compgen -f -- "$cur"))
	fi
}

_faultline()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion -n =: || return
	else
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	local commands='run wrap ctl replay demo check cleanup show report version help'
	local top_opts='--version -h --help'
	local run_opts='-r --rule -f --rules -s --seed -n --netns --netns-path --container -q --queue --queues --forward
		--max-held --max-held-bytes --queue-maxlen --max-flows --mark --iptables-backend -e --events
		--events-backlog --pcap --pcap-backlog --no-track --full-copy --queue-all --time-wait --track-idle
		--max-conns --control --no-control --scenario --http --http-allow-remote --http-timeout --toxiproxy-api
		--progress --release-early --release-cpu --realtime --no-realtime -h --help'
	# wrap: run's options but those beyond the command's own traffic.
	local wrap_opts='-r --rule -f --rules -s --seed -n --netns --netns-path -q --queue --queues
		--max-held --max-held-bytes --queue-maxlen --max-flows --mark -e --events
		--events-backlog --pcap --pcap-backlog --no-track --full-copy --queue-all --time-wait --track-idle
		--max-conns --control --no-control --scenario --http --http-allow-remote --http-timeout
		--progress --release-early --release-cpu --realtime --no-realtime -h --help'
	local replay_opts='-r --rule -f --rules -s --seed -e --events -o --out -l --local
		--no-track --time-wait --pcap -h --help'
	local ctl_opts='--control -q --queue -n --netns --json --timeout -h --help'
	local check_opts='-r --rule -f --rules -h --help'
	local cleanup_opts='-n --netns --netns-path -h --help'
	local show_opts='-F --flow --color -h --help'
	local report_opts='-o --output -F --flow -h --help'
	local demo_opts='--html -h --help'
	local ctl_commands='list get add del enable disable replace stats reset reload events wait'

	if ((cword == 1)); then
		COMPREPLY=($(compgen -W "$commands $top_opts" -- "$cur"))
		return
	fi
	local cmd=${words[1]}

	# wrap: after "--" come the command and its own words, completed as for env or sudo.
	if [[ $cmd == wrap ]]; then
		local w
		for ((w = 2; w < cword; w++)); do
			[[ ${words[w]} == -- ]] || continue
			if declare -F _command_offset >/dev/null; then
				_command_offset $((w + 1))
			else
				COMPREPLY=($(compgen -c -- "$cur"))
			fi
			return
		done
	fi

	# The value of the option before the cursor.
	case $prev in
	-f | --rules | --scenario | -e | --events | --pcap | -o | --out | --output | --html | --control)
		_faultline_files
		return
		;;
	--netns-path)
		_faultline_files
		return
		;;
	-n | --netns)
		COMPREPLY=($(compgen -W "$(_faultline_netns)" -- "$cur"))
		return
		;;
	--container)
		COMPREPLY=($(compgen -W "$(_faultline_containers)" -- "$cur"))
		return
		;;
	--iptables-backend)
		COMPREPLY=($(compgen -W "auto nft legacy" -- "$cur"))
		return
		;;
	-r | --rule | -s | --seed | -q | --queue | --queues | --max-held | --max-held-bytes | --queue-maxlen | \
		--max-flows | --mark | --events-backlog | --pcap-backlog | --time-wait | --track-idle | \
		--max-conns | --release-early | --release-cpu | --http | --http-timeout | --toxiproxy-api | -l | --local | -F | --flow | --timeout)
		return	# a value of the user's own
		;;
	esac

	local opts
	case $cmd in
	run) opts=$run_opts ;;
	wrap) opts="$wrap_opts --" ;;
	replay) opts=$replay_opts ;;
	ctl) opts=$ctl_opts ;;
	check) opts=$check_opts ;;
	cleanup) opts=$cleanup_opts ;;
	show) opts=$show_opts ;;
	report) opts=$report_opts ;;
	demo) opts=$demo_opts ;;
	*) return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi

	# Operands.
	case $cmd in
	replay) _faultline_files '@(pcap|pcapng|cap)' ;;
	check) _faultline_files ;;
	show | report) _faultline_files '@(jsonl|json)' ;;
	cleanup) COMPREPLY=($(compgen -W "$(_faultline_netns)" -- "$cur")) ;;
	demo) COMPREPLY=($(compgen -W 'udp reorder handshake teardown timewait retransmit all' -- "$cur")) ;;
	ctl)
		# The first word that is no option (nor an option's value) is the command.
		local i sub= at=0
		for ((i = 2; i < cword; i++)); do
			case ${words[i]} in
			--control | --queue | --netns | -q | -n | --timeout) ((i++)) ;;
			-*) ;;
			*)
				sub=${words[i]}
				at=$i
				break
				;;
			esac
		done
		# Only the word right after the command is its operand.
		[[ -z $sub ]] || ((cword == at + 1)) || return
		case $sub in
		'') COMPREPLY=($(compgen -W "$ctl_commands" -- "$cur")) ;;
		get | del | enable | disable) COMPREPLY=($(compgen -W "$(_faultline_rule_names)" -- "$cur")) ;;
		replace) _faultline_files ;;
		esac
		;;
	esac
}
complete -F _faultline faultline

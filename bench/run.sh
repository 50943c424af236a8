#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Throughput, packet-rate and latency cost of NFQUEUE interception.
#
#   sudo bench/run.sh [BUILD_DIR]          (default ./build)
#   RUNS=3 sudo bench/run.sh build         medians of 3 runs
#
# Two namespaces joined by a veth pair, A 10.77.0.1 (sender) and
# B 10.77.0.2 (receiver, where the interception happens on INPUT and
# OUTPUT).  Configurations:
#   a  no interception
#   b  bare accept loop: NFQUEUE rules + $BUILD/nfq_accept
#   c  $BUILD/faultline run (skipped, "faultline: n/a", when absent/failing)
# Tests per configuration: iperf3 TCP 1 flow, udp_blast 64-byte UDP,
# ping -c 200 -i 0.01.  All traffic stays inside the two namespaces.
#
# Environment: RUNS (1), DUR seconds per throughput test (5), QUEUE (7),
# TESTS ("tcp udp ping": which tests, e.g. TESTS=ping).
set -euo pipefail

BUILD=${1:-./build}
RUNS=${RUNS:-1}
DUR=${DUR:-5}
QUEUE=${QUEUE:-7}
TESTS=${TESTS:-tcp udp ping}
FL_RULE='tcp port 9 => drop'

SUFFIX="$$-$RANDOM"
NS_A="flb-a-$SUFFIX"
NS_B="flb-b-$SUFFIX"
IP_A=10.77.0.1
IP_B=10.77.0.2
TCP_PORT=5201
UDP_PORT=9000

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d /tmp/flbench.XXXXXX)
PIDS=()
NS_CREATED=0
B_RULES=0

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }
# shellcheck disable=SC2059 # the format is the argument
fmt() { [[ -n $2 ]] && printf "$1" "$2" || printf 'n/a'; }

inA() { ip netns exec "$NS_A" "$@"; }
inB() { ip netns exec "$NS_B" "$@"; }

# Is the child $1 still running (not exited, not a zombie awaiting wait)?
alive()
{
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# Stop a child we started and reap it: TERM, then KILL after $2 seconds
# (default 5).  Returns the child's exit status.
stop_pid()
{
	local pid=$1 grace=${2:-5} i rc=0

	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 20; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

del_b_rules()
{
	local chain

	for chain in INPUT OUTPUT; do
		while inB iptables -D "$chain" -j NFQUEUE --queue-num "$QUEUE" \
			--queue-bypass 2>/dev/null; do :; done
	done
	B_RULES=0
}

cleanup()
{
	local rc=$? pid

	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid" 2 || true
	done
	if ((NS_CREATED)); then
		((B_RULES)) && del_b_rules
		# Anything still living in our own namespaces was started here.
		for pid in $(ip netns pids "$NS_A" 2>/dev/null) \
			   $(ip netns pids "$NS_B" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$NS_A" 2>/dev/null || true
		ip netns del "$NS_B" 2>/dev/null || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# spawn OUT ERR NS CMD...: start CMD in namespace NS in the background and
# remember its pid in SPAWNED.  ip netns exec execs CMD, so the pid is the
# program's own and signals reach it (a shell function would add a subshell
# in between).
spawn()
{
	local out=$1 err=$2 ns=$3

	shift 3
	# Truncate here, not only in the child's redirection: a reader polling
	# ERR right after the fork must not see the previous program's lines.
	: >"$out"
	: >"$err"
	ip netns exec "$ns" "$@" >"$out" 2>"$err" &
	SPAWNED=$!
	PIDS+=("$SPAWNED")
}

forget_pid()
{
	local keep=() p

	for p in "${PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# wait_for SECONDS CMD...: retry CMD every 50 ms.
wait_for()
{
	local tries=$(($1 * 20))

	shift
	while ((tries-- > 0)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

tcp_listening() { [[ -n $(inB ss -Hltn "sport = :$1") ]]; }
udp_bound() { [[ -n $(inB ss -Hlun "sport = :$1") ]]; }

# ---------------------------------------------------------------- checks
((EUID == 0)) || die "needs root (network namespaces, iptables)"
for tool in ip iptables iptables-save iperf3 ping jq ss awk; do
	command -v "$tool" >/dev/null ||
		die "missing $tool (apt-get install -y iperf3 iputils-ping jq iproute2 iptables)"
done

# The bench helpers come from the build; compile them here when the build
# has none (e.g. the core library is mid-change and CMake fails).
tool_path()
{
	local name=$1

	shift
	if [[ -x $BUILD/$name ]]; then
		echo "$BUILD/$name"
		return
	fi
	log "note: $BUILD/$name missing, compiling bench/$name.c into $TMP"
	gcc -O2 -Wall -Wextra -D_GNU_SOURCE -o "$TMP/$name" \
		"$SRC_DIR/$name.c" "$@" || die "cannot build $name"
	echo "$TMP/$name"
}
NFQ_ACCEPT=$(tool_path nfq_accept -lnetfilter_queue -lmnl)
UDP_BLAST=$(tool_path udp_blast)
FAULTLINE=$BUILD/faultline

# ---------------------------------------------------------------- setup
ip netns add "$NS_A"
NS_CREATED=1
ip netns add "$NS_B"
ip -n "$NS_A" link add veth0 type veth peer name veth0 netns "$NS_B"
ip -n "$NS_A" addr add "$IP_A/24" dev veth0
ip -n "$NS_B" addr add "$IP_B/24" dev veth0
for ns in "$NS_A" "$NS_B"; do
	ip -n "$ns" link set lo up
	ip -n "$ns" link set veth0 up
done
wait_for 5 inA ping -c 1 -W 1 "$IP_B" || die "veth pair does not pass traffic"

# ---------------------------------------------------------------- tests
# Each test leaves its figure in RES, empty when it failed.  They run in
# the main shell (not in $(...)) so that the pids they start stay known.
RES=

test_tcp()
{
	local srv out

	RES=
	spawn "$TMP/iperf3-srv.out" "$TMP/iperf3-srv.err" \
		"$NS_B" iperf3 -s -1 -B "$IP_B" -p "$TCP_PORT"
	srv=$SPAWNED
	if ! wait_for 5 tcp_listening "$TCP_PORT"; then
		log "iperf3 server did not start"
		stop_pid "$srv" || true; forget_pid "$srv"
		return 0
	fi
	out=$(timeout $((DUR + 30)) \
		ip netns exec "$NS_A" iperf3 -c "$IP_B" -p "$TCP_PORT" -t "$DUR" -J \
		2>/dev/null) || true
	stop_pid "$srv" 2 || true; forget_pid "$srv"
	# Receiver side, in Gbit/s.
	RES=$(jq -r '.end.sum_received.bits_per_second // empty | . / 1e9' \
		<<<"$out" 2>/dev/null) || RES=
}

test_udp()
{
	local rcv

	RES=
	spawn "$TMP/udp-rcv.out" "$TMP/udp-rcv.err" \
		"$NS_B" "$UDP_BLAST" recv "$UDP_PORT" $((DUR + 5))
	rcv=$SPAWNED
	if ! wait_for 5 udp_bound "$UDP_PORT"; then
		log "udp_blast receiver did not start"
		stop_pid "$rcv" || true; forget_pid "$rcv"
		return 0
	fi
	inA "$UDP_BLAST" send "$IP_B" "$UDP_PORT" "$DUR" \
		>"$TMP/udp-snd.out" 2>&1 || true
	wait "$rcv" 2>/dev/null || true
	forget_pid "$rcv"
	log "    udp: $(cat "$TMP/udp-snd.out") $(cat "$TMP/udp-rcv.out")"
	# Delivered rate, in kpps.
	RES=$(sed -n 's/.*pps=\([0-9.]*\).*/\1/p' "$TMP/udp-rcv.out" |
		awk '{ printf "%.1f\n", $1 / 1000 }') || RES=
}

# RES="avg_us p50_us mdev_us".
test_ping()
{
	inA ping -c 200 -i 0.01 -W 1 "$IP_B" >"$TMP/ping.out" 2>&1 || true
	RES=$(awk '
		/time=/ { for (i = 1; i <= NF; i++)
				if ($i ~ /^time=/) t[n++] = substr($i, 6) * 1000 }
		/^rtt / { split($4, r, "/"); avg = r[2] * 1000; mdev = r[4] * 1000 }
		END {
			if (!n) exit
			# insertion sort: 200 values
			for (i = 1; i < n; i++) {
				v = t[i]
				for (j = i - 1; j >= 0 && t[j] > v; j--) t[j + 1] = t[j]
				t[j + 1] = v
			}
			printf "%.0f %.0f %.0f\n", avg, t[int(n / 2)], mdev
		}' "$TMP/ping.out") || RES=
}

# Packets that hit NFQUEUE rules in namespace B, all tables.  With $1 set,
# only rules in chains whose name starts with it; prints nothing when no
# such rule exists.
nfqueue_counter()
{
	local prefix=${1:-}

	inB iptables-save -c 2>/dev/null | awk -v prefix="$prefix" '
		/-j NFQUEUE/ && $2 == "-A" &&
		(prefix == "" || index($3, prefix) == 1) {
			c = $1; gsub(/[\[\]]/, "", c); split(c, f, ":")
			sum += f[1]; found = 1
		}
		END { if (found) print sum }'
}

# ---------------------------------------------------------------- programs
# start_prog CONFIG: start the interceptor of CONFIG b or c; returns 1 when
# it cannot run.  stop_prog CONFIG: stop it and leave the number of packets
# it saw in RES.
PROG_PID=

# wait_ready PID SECONDS ERRFILE: wait for the "running" line, giving up
# early when the program has already exited.
wait_ready()
{
	local tries=$(($2 * 20))

	while ((tries-- > 0)); do
		grep -q -E '(nfq_accept|faultline): running' "$3" && return 0
		alive "$1" || return 1
		sleep 0.05
	done
	return 1
}

start_prog()
{
	case $1 in
	b)
		spawn "$TMP/prog.out" "$TMP/prog.err" \
			"$NS_B" "$NFQ_ACCEPT" -q "$QUEUE" -s "$TMP/nfq.stats"
		;;
	c)
		spawn "$TMP/prog.out" "$TMP/prog.err" \
			"$NS_B" "$FAULTLINE" run --queue "$QUEUE" --rule "$FL_RULE"
		;;
	esac
	PROG_PID=$SPAWNED
	if ! wait_ready "$PROG_PID" 10 "$TMP/prog.err"; then
		log "  $1: program did not become ready:"
		sed 's/^/    | /' "$TMP/prog.err" >&2 || true
		stop_prog_raw
		return 1
	fi
	return 0
}

stop_prog_raw()
{
	local rc=0

	# Give it 10 s to release packets and remove its rules.
	stop_pid "$PROG_PID" 10 || rc=$?
	forget_pid "$PROG_PID"
	PROG_PID=
	return "$rc"
}

stop_prog()
{
	local rc=0

	RES=
	stop_prog_raw || rc=$?
	((rc == 0)) || log "  $1: program exited with status $rc"
	case $1 in
	b)
		log "    nfq_accept: $(cat "$TMP/prog.out")"
		RES=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$TMP/prog.out")
		;;
	c)
		# The global count is the largest "packets" value in the
		# JSON (per-rule counts are subsets of it).
		RES=$(grep -o '"packets"[[:space:]]*:[[:space:]]*[0-9]*' \
			"$TMP/prog.out" | grep -o '[0-9]*$' | sort -n |
			tail -1) || RES=
		;;
	esac
}

# ---------------------------------------------------------------- main loop
declare -A TCP UDP RTT P50 SEEN CNT DETAIL
FL_OK=1
[[ -x $FAULTLINE ]] || { FL_OK=0; log "faultline: n/a ($FAULTLINE missing)"; }

add_rec()
{
	local -n arr=$1

	arr[$2]+="$3 "
}

run_config()
{
	local cfg=$1 run=$2 t v seen cnt before after prefix=""

	[[ $cfg == c ]] && prefix=FAULTLINE
	if [[ $cfg == b ]]; then
		inB iptables -I INPUT -j NFQUEUE --queue-num "$QUEUE" --queue-bypass
		B_RULES=1
		inB iptables -I OUTPUT -j NFQUEUE --queue-num "$QUEUE" --queue-bypass
	fi
	for t in $TESTS; do
		if [[ $cfg != a ]]; then
			if ! start_prog "$cfg"; then
				[[ $cfg == c ]] && { FL_OK=0; log "faultline: n/a"; }
				break
			fi
			before=$(nfqueue_counter "$prefix")
			# faultline's chain may be named differently: any
			# NFQUEUE rule in B is its own in configuration c.
			if [[ $cfg == c && -z $before ]]; then
				prefix=""
				before=$(nfqueue_counter)
			fi
		fi
		case $t in
		tcp)
			test_tcp; v=$RES
			log "  run $run $cfg tcp: $(fmt %.2f "$v") Gbit/s"
			[[ -n $v ]] && add_rec TCP "$cfg" "$v"
			;;
		udp)
			test_udp; v=$RES
			log "  run $run $cfg udp: ${v:-failed} kpps"
			[[ -n $v ]] && add_rec UDP "$cfg" "$v"
			;;
		ping)
			test_ping; v=$RES
			log "  run $run $cfg ping avg/p50/mdev µs: ${v:-failed}"
			if [[ -n $v ]]; then
				read -r avg p50 _ <<<"$v"
				add_rec RTT "$cfg" "$avg"
				add_rec P50 "$cfg" "$p50"
			fi
			;;
		esac
		if [[ $cfg != a ]]; then
			after=$(nfqueue_counter "$prefix")
			stop_prog "$cfg"; seen=$RES
			if [[ -n $before && -n $after && -n $seen ]]; then
				cnt=$((after - before))
				log "    $t: program saw $seen, NFQUEUE rule counter $cnt"
				SEEN[$cfg]=$((${SEEN[$cfg]:-0} + seen))
				CNT[$cfg]=$((${CNT[$cfg]:-0} + cnt))
				DETAIL[$cfg,$t]="$((${DETAIL[$cfg,$t]%%/*} + seen))/$((${DETAIL[$cfg,$t]#*/} + cnt))"
			fi
		fi
	done
	if [[ $cfg == b ]]; then
		del_b_rules
	fi
}

# Initialise the per-test detail counters.
for cfg in b c; do
	for t in $TESTS; do DETAIL[$cfg,$t]="0/0"; done
done

for ((run = 1; run <= RUNS; run++)); do
	for cfg in a b c; do
		[[ $cfg == c ]] && ((!FL_OK)) && continue
		log "run $run/$RUNS, configuration $cfg"
		run_config "$cfg" "$run"
	done
done

# ---------------------------------------------------------------- report
median()
{
	tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g |
		awk '{ v[NR] = $1 } END {
			if (!NR) exit
			if (NR % 2) print v[(NR + 1) / 2]
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A M_TCP M_UDP M_RTT M_P50
for cfg in a b c; do
	M_TCP[$cfg]=$(median "${TCP[$cfg]:-}")
	M_UDP[$cfg]=$(median "${UDP[$cfg]:-}")
	M_RTT[$cfg]=$(median "${RTT[$cfg]:-}")
	M_P50[$cfg]=$(median "${P50[$cfg]:-}")
done

pct() { awk -v s="$1" -v c="$2" 'BEGIN { if (c > 0) printf "%.1f%%", 100 * s / c; else printf "n/a" }'; }
ratio() { [[ -n $1 && -n $2 ]] && awk -v x="$1" -v y="$2" 'BEGIN { if (y > 0) printf "%.2f", x / y; else printf "n/a" }' || printf 'n/a'; }
diff_us() { [[ -n $1 && -n $2 ]] && awk -v x="$1" -v y="$2" 'BEGIN { printf "%+.0f", x - y }' || printf 'n/a'; }

echo
echo "NFQUEUE bench: $RUNS run(s), ${DUR}s per throughput test, medians"
printf '%-18s %10s %10s %12s %12s  %s\n' config "TCP Gbit/s" "UDP kpps" \
	"ping avg µs" "ping p50 µs" "seen/counter"
for cfg in a b c; do
	case $cfg in
	a) name="a none" ;;
	b) name="b nfq_accept" ;;
	c) name="c faultline" ;;
	esac
	if [[ $cfg == c ]] && ((!FL_OK)) && [[ -z ${TCP[c]:-} ]]; then
		printf '%-18s %s\n' "$name" "faultline: n/a"
		continue
	fi
	if [[ $cfg == a ]]; then
		sc="-"
	elif [[ -n ${CNT[$cfg]:-} ]]; then
		sc="${SEEN[$cfg]}/${CNT[$cfg]} ($(pct "${SEEN[$cfg]}" "${CNT[$cfg]}"))"
	else
		sc="n/a"
	fi
	printf '%-18s %10s %10s %12s %12s  %s\n' "$name" \
		"$(fmt %.2f "${M_TCP[$cfg]}")" "$(fmt %.1f "${M_UDP[$cfg]}")" \
		"$(fmt %.0f "${M_RTT[$cfg]}")" "$(fmt %.0f "${M_P50[$cfg]}")" "$sc"
done
echo
for cfg in b c; do
	[[ -n ${CNT[$cfg]:-} ]] || continue
	line="seen/counter per test, $cfg:"
	for t in $TESTS; do
		s=${DETAIL[$cfg,$t]%%/*}; c=${DETAIL[$cfg,$t]#*/}
		line+=" $t $s/$c ($(pct "$s" "$c"))"
	done
	echo "$line"
done
echo "TCP ratio c/b: $(ratio "${M_TCP[c]}" "${M_TCP[b]}")   c/a: $(ratio "${M_TCP[c]}" "${M_TCP[a]}")   b/a: $(ratio "${M_TCP[b]}" "${M_TCP[a]}")"
echo "UDP ratio c/b: $(ratio "${M_UDP[c]}" "${M_UDP[b]}")   c/a: $(ratio "${M_UDP[c]}" "${M_UDP[a]}")   b/a: $(ratio "${M_UDP[b]}" "${M_UDP[a]}")"
echo "RTT added vs a (avg µs): b $(diff_us "${M_RTT[b]}" "${M_RTT[a]}")   c $(diff_us "${M_RTT[c]}" "${M_RTT[a]}")"
echo "RTT added vs a (p50 µs): b $(diff_us "${M_P50[b]}" "${M_P50[a]}")   c $(diff_us "${M_P50[c]}" "${M_P50[a]}")"
# A ping crosses the queue twice (request in, reply out): per packet is half the RTT difference.
if [[ -n ${M_P50[b]:-} && -n ${M_P50[c]:-} ]]; then
	echo "added per packet by c over b (p50 RTT difference / 2 queue crossings): $(awk -v c="${M_P50[c]}" -v b="${M_P50[b]}" 'BEGIN { printf "%+.1f", (c - b) / 2 }') µs"
fi
((FL_OK)) || echo "faultline: n/a"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Throughput, packet-rate, latency and delay-precision cost of faultline,
# against its baselines, in one run.
#
#   sudo bench/run.sh [BUILD_DIR]          (default ./build; 3 runs)
#
# Two namespaces joined by a veth pair, A 10.77.0.1 (sender) and
# B 10.77.0.2 (receiver, where the interception happens).  Configurations:
#   a  no interception
#   b  bare accept loop: NFQUEUE rules + $BUILD/nfq_accept
#   c  faultline, one rule that touches none of the traffic
#   d  faultline, 50 rules whose filters match the traffic, none firing
#   e  faultline, 'ip => delay 1ms' on everything
#   f  many flows (FLOWS source addresses in A, one flow each), three ways:
#      f0 no interception, f1 faultline --queues 1, f2 faultline --queues 2,
#      with one rule whose filter matches all of it and that never fires
#   r1 faultline, the one rule the traffic matches (TESTS=rules)
#   rn faultline, RULES_N rules on distinct ports, the same one matching
# Tests per configuration: iperf3 TCP 1 flow, udp_blast 64-byte UDP,
# ping -c 200 -i 0.01 (p50, p99); for f, FLOWS iperf3 clients each from its
# own address, and one udp_blast from all of them.  Per run: delay lateness
# (udp_lat, delays of 1, 10, 100 ms at 1k and 20k datagrams/s, to a
# receiver that polls its socket, so that its own wake-up is not counted;
# base-sleep and 10ms-sleep: the same to a receiver that sleeps) and
# held-packet capacity (100k held on HOLD_QUEUES queues, the kernel queue's
# drops); and r1 against rn as RULES_PAIRS alternating pairs (TCP, UDP).
# All traffic stays inside the two namespaces.  Prints one table
# (min/median/max over the runs, ratios per run against its own baselines)
# and appends JSON lines to $JSONL.
#
# Method against noise (a shared 2-vCPU VM moves the baseline by 2x): the
# sender runs on CPU PIN_SEND and the receiver on PIN_RECV in every
# configuration but f (the veth pair delivers in the sender's softirq, so
# the kernel's receive path and its netfilter hooks run on the sender's
# CPU); a and c, and b and d, the pairs the targets compare, run as PAIRS
# alternating tests (a c, c a, a c, ...) of PAIR_DUR (a, c) or DUR (b, d)
# seconds, and c/a and d/b are taken per adjacent pair; and each UDP test also reports the CPU time its
# processes used per packet delivered (sender, receiver, ksoftirqd,
# interceptor), a figure that placement and rate do not move much.
#
# Environment: RUNS (3), DUR seconds per throughput test (5), QUEUE (7),
# TESTS ("tcp udp ping lat hold rules"), CONFIGS ("a b c d e f"), FLOWS (8),
# LAT_DUR seconds per lateness case (3), LAT_DELAYS ("1 10 100" ms),
# LAT_RATES ("1000 20000"), LAT_RECV (poll; recv: the receiver sleeps), HOLD_N (100000), HOLD_QUEUES (2),
# PAIRS (3: a and c pairs per run, 0: once like the others), PAIR_DUR (2),
# BD_PAIRS (5: b and d pairs per run, 0: once like the others),
# PIN_SEND (0), PIN_RECV (1) (CPU lists for taskset; empty: no pinning),
# RULES_N (1000), RULES_PAIRS (1 per run), RULES_TESTS ("tcp udp"),
# RULES_MATCH (1; 0: the traffic matches none of r1's and rn's rules),
# D_KIND (window: d's rules as above; cond: their filter runs, the same
# one for all 50, and an 'if rst' qualifier fails after it; distinct: 50
# different filters that all match, each run, then 'if rst' fails),
# JSONL ($BUILD/bench.jsonl).
set -euo pipefail

BUILD=${1:-./build}
RUNS=${RUNS:-3}
DUR=${DUR:-5}
QUEUE=${QUEUE:-7}
TESTS=${TESTS:-tcp udp ping mix lat hold rules}
CONFIGS=${CONFIGS:-a b c d e f}
FLOWS=${FLOWS:-8}
[[ $FLOWS =~ ^[0-9]+$ ]] && ((FLOWS >= 1 && FLOWS <= 64)) || {
	echo "run.sh: FLOWS must be 1 to 64" >&2
	exit 1
}
LAT_DUR=${LAT_DUR:-3}
LAT_DELAYS=${LAT_DELAYS:-1 10 100}
LAT_RATES=${LAT_RATES:-1000 20000}
LAT_RECV=${LAT_RECV:-poll}
HOLD_N=${HOLD_N:-100000}
HOLD_QUEUES=${HOLD_QUEUES:-2}
PAIRS=${PAIRS:-3}
BD_PAIRS=${BD_PAIRS:-5}
PAIR_DUR=${PAIR_DUR:-2}
MIX_DUR=${MIX_DUR:-40}
MIX_WIN=${MIX_WIN:-0.5}
MIX_SETTLE=${MIX_SETTLE:-0.5}
RULES_N=${RULES_N:-1000}
RULES_PAIRS=${RULES_PAIRS:-1}
RULES_TESTS=${RULES_TESTS:-tcp udp}
RULES_MATCH=${RULES_MATCH:-1}
D_KIND=${D_KIND:-window}
[[ $D_KIND == window || $D_KIND == cond || $D_KIND == distinct ]] ||
	{ echo "run.sh: D_KIND is window, cond or distinct" >&2; exit 2; }
if (($(nproc) >= 2)); then
	PIN_SEND=${PIN_SEND-0}
	PIN_RECV=${PIN_RECV-1}
else
	PIN_SEND=${PIN_SEND-}
	PIN_RECV=${PIN_RECV-}
fi
JSONL=${JSONL:-$BUILD/bench.jsonl}
LAT_PORT=9001
HOLD_PORT=9002
PROBE_PORT=9003

SUFFIX="$$-$RANDOM"
NS_A="flb-a-$SUFFIX"
NS_B="flb-b-$SUFFIX"
IP_A=10.77.0.1
IP_B=10.77.0.2
# Source addresses in A: a pool of 10.77.0.11, .12, ... (4 per flow, at
# most 200), from which configuration f takes FLOWS that the kernel's hash
# spreads evenly over two queues (pick_flows), and the capacity test one
# per queue (hold_sources).
POOL_SRCS=()
for ((i = 1; i <= FLOWS * 4 && i <= 200; i++)); do POOL_SRCS+=("10.77.0.$((10 + i))"); done
TCP_SRCS=("${POOL_SRCS[@]:0:FLOWS}")
UDP_SRCS=("${TCP_SRCS[@]}")
FLOWS_PICKED=0
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
# The sender's and the receiver's side of a test, pinned (PIN_SEND,
# PIN_RECV) so that every configuration has the same placement.
PIN_S=()
PIN_R=()
[[ -n $PIN_SEND ]] && PIN_S=(taskset -c "$PIN_SEND")
[[ -n $PIN_RECV ]] && PIN_R=(taskset -c "$PIN_RECV")

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
for tool in ip iptables iptables-save iperf3 ping jq ss awk python3 nc taskset; do
	command -v "$tool" >/dev/null ||
		die "missing $tool (apt-get install -y iperf3 iputils-ping jq iproute2 iptables netcat-openbsd)"
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
UDP_LAT=$(tool_path udp_lat)
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
for src in "${POOL_SRCS[@]}"; do
	echo "addr add $src/24 dev veth0"
done | ip -n "$NS_A" -batch -
wait_for 5 inA ping -c 1 -W 1 "$IP_B" || die "veth pair does not pass traffic"

# ---------------------------------------------------------------- tests
# Each test leaves its figure in RES, empty when it failed.  They run in
# the main shell (not in $(...)) so that the pids they start stay known.
RES=

# test_tcp SECONDS
test_tcp()
{
	local dur=$1 srv out

	RES=
	spawn "$TMP/iperf3-srv.out" "$TMP/iperf3-srv.err" \
		"$NS_B" "${PIN_R[@]}" iperf3 -s -1 -B "$IP_B" -p "$TCP_PORT"
	srv=$SPAWNED
	if ! wait_for 5 tcp_listening "$TCP_PORT"; then
		log "iperf3 server did not start"
		stop_pid "$srv" || true; forget_pid "$srv"
		return 0
	fi
	out=$(timeout $((dur + 30)) \
		ip netns exec "$NS_A" "${PIN_S[@]}" iperf3 -c "$IP_B" -p "$TCP_PORT" -t "$dur" -J \
		2>/dev/null) || true
	stop_pid "$srv" 2 || true; forget_pid "$srv"
	# Receiver side, in Gbit/s.
	RES=$(jq -r '.end.sum_received.bits_per_second // empty | . / 1e9' \
		<<<"$out" 2>/dev/null) || RES=
}

# ksoftirqd_ns, shared with profile.sh
. "$SRC_DIR/lib.sh"

# CPU time (ns) process $1 has used so far, all its threads, 0 when it is gone.
proc_ns()
{
	local f ns sum=0

	[[ -n $1 ]] || { echo 0; return; }
	# Every thread's: faultline's readers are threads of their own, and
	# /proc/PID/schedstat is the main thread's alone.
	for f in /proc/"$1"/task/*/schedstat; do
		read -r ns _ <"$f" 2>/dev/null || continue
		sum=$((sum + ns))
	done
	echo "$sum"
}

# start_udp_rcv NAME SECONDS [PIN...]: a udp_blast receiver in B on
# UDP_PORT for SECONDS, its output in $TMP/NAME.out, its pid in SPAWNED;
# returns 1 (and stops it) when it does not bind.
start_udp_rcv()
{
	local name=$1 secs=$2

	shift 2
	spawn "$TMP/$name.out" "$TMP/$name.err" "$NS_B" "$@" "$UDP_BLAST" recv "$UDP_PORT" "$secs"
	wait_for 5 udp_bound "$UDP_PORT" && return 0
	log "udp_blast receiver did not start"
	stop_pid "$SPAWNED" || true; forget_pid "$SPAWNED"
	return 1
}

# test_udp SECONDS PINNED [SRC...]: from A's address, or from each SRC in
# turn; pinned (PIN_SEND, PIN_RECV) when PINNED is 1.  RES: the delivered
# rate in kpps; CPU_NS: the CPU time per delivered packet (ns) of the
# sender and receiver (with the softirq work that ran in their context:
# the receive path of a veth pair runs in the sender's), ksoftirqd and the
# interceptor, empty when nothing arrived.
test_udp()
{
	local dur=$1 pin=$2 rcv k0 k1 p0 p1 ps=() pr=()

	shift 2
	RES=
	CPU_NS=
	((pin)) && ps=("${PIN_S[@]}") && pr=("${PIN_R[@]}")
	start_udp_rcv udp-rcv $((dur + 5)) "${pr[@]}" || return 0
	rcv=$SPAWNED
	k0=$(ksoftirqd_ns)
	p0=$(proc_ns "$PROG_PID")
	inA "${ps[@]}" "$UDP_BLAST" send "$IP_B" "$UDP_PORT" "$dur" "$@" \
		>"$TMP/udp-snd.out" 2>&1 || true
	wait "$rcv" 2>/dev/null || true
	k1=$(ksoftirqd_ns)
	p1=$(proc_ns "$PROG_PID")
	forget_pid "$rcv"
	log "    udp: $(cat "$TMP/udp-snd.out") $(cat "$TMP/udp-rcv.out")"
	# Delivered rate, in kpps.
	RES=$(sed -n 's/.*pps=\([0-9.]*\).*/\1/p' "$TMP/udp-rcv.out" |
		awk '{ printf "%.1f\n", $1 / 1000 }') || RES=
	CPU_NS=$(cat "$TMP/udp-snd.out" "$TMP/udp-rcv.out" | awk -v k=$((k1 - k0)) -v p=$((p1 - p0)) '
		/^sent=/ { for (i = 1; i <= NF; i++) if ($i ~ /^cpu_us=/) c += substr($i, 8) * 1000 }
		/^received=/ { for (i = 1; i <= NF; i++) {
				if ($i ~ /^cpu_us=/) c += substr($i, 8) * 1000
				if ($i ~ /^received=/) n = substr($i, 10) } }
		END { if (n > 0) printf "%.0f\n", (c + k + p) / n }') || CPU_NS=
}

# FLOWS TCP flows at once, each from its own address of A to its own
# iperf3 server in B (a server runs one test at a time).  The kernel's
# --queue-balance hash takes the two addresses and the protocol only, so
# 'iperf3 -P 8' from one address would put all 8 flows on one queue.  RES: the sum of what
# the servers received, in Gbit/s; empty when a flow failed.
test_tcp_many()
{
	local i pid v ok=1 srvs=() clis=() sum=0

	RES=
	for ((i = 0; i < FLOWS; i++)); do
		spawn "$TMP/iperf3-srv$i.out" "$TMP/iperf3-srv$i.err" \
			"$NS_B" iperf3 -s -1 -B "$IP_B" -p $((TCP_PORT + 100 + i))
		srvs+=("$SPAWNED")
	done
	for ((i = 0; i < FLOWS; i++)); do
		wait_for 5 tcp_listening $((TCP_PORT + 100 + i)) ||
			{ log "iperf3 server $i did not start"; ok=0; break; }
	done
	if ((ok)); then
		for ((i = 0; i < FLOWS; i++)); do
			spawn "$TMP/iperf3-cli$i.json" "$TMP/iperf3-cli$i.err" "$NS_A" \
				timeout $((DUR + 30)) iperf3 -c "$IP_B" -p $((TCP_PORT + 100 + i)) \
				-B "${TCP_SRCS[i]}" -t "$DUR" -J
			clis+=("$SPAWNED")
		done
		for pid in "${clis[@]}"; do
			wait "$pid" 2>/dev/null || true
			forget_pid "$pid"
		done
	fi
	for pid in "${srvs[@]}"; do
		stop_pid "$pid" 2 || true
		forget_pid "$pid"
	done
	((ok)) || return 0
	for ((i = 0; i < FLOWS; i++)); do
		v=$(jq -r '.end.sum_received.bits_per_second // empty' \
			"$TMP/iperf3-cli$i.json" 2>/dev/null) || v=
		[[ -n $v ]] || { log "iperf3 flow $i gave no figure"; return 0; }
		sum=$(awk -v a="$sum" -v b="$v" 'BEGIN { print a + b }')
	done
	RES=$(awk -v s="$sum" 'BEGIN { printf "%.3f\n", s / 1e9 }')
}

# RES="avg_us p50_us p99_us".
test_ping()
{
	inA "${PIN_S[@]}" ping -c 200 -i 0.01 -W 1 "$IP_B" >"$TMP/ping.out" 2>&1 || true
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
			printf "%.0f %.0f %.0f\n", avg, t[int(n / 2)], t[int(n * 0.99)]
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
# Every figure goes into REC as "run<TAB>name<TAB>value"; report.py makes
# the table and the JSON lines from it.
REC=$TMP/rec.tsv
: >"$REC"
# rec NAME VALUE: a figure of run RUN, of its pair PAIR (0: not paired).
PAIR=0
rec() { printf '%s\t%s\t%s\t%s\n' "$RUN" "$1" "$2" "$PAIR" >>"$REC"; }

# Configuration d's rules: 50 whose filters match the bench traffic (from
# A to B, and B's replies) and that never fire (their window opens after
# a day), so every packet is queued and looks at all of them. faultline
# asks a rule's window before its filter, so D_KIND chooses rules whose
# filters do run: 'cond' the same filter in all 50 (run once per packet),
# 'distinct' 50 different ones (each run).
D_RULES=$TMP/d.rules
for ((i = 0; i < 50; i++)); do
	case $D_KIND in
	window) echo "host $IP_A => drop, after 86400s" ;;
	cond) echo "host $IP_A => drop if rst" ;;
	distinct) echo "host $IP_A and not port $((1000 + i)) => drop if rst" ;;
	esac
done >"$D_RULES"

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

# start_fl ARGS...: faultline in B on our queue; returns 1 when it does not start.
start_fl()
{
	spawn "$TMP/prog.out" "$TMP/prog.err" \
		"$NS_B" "$FAULTLINE" run --queue "$QUEUE" --no-control "$@"
	PROG_PID=$SPAWNED
	if ! wait_ready "$PROG_PID" 10 "$TMP/prog.err"; then
		log "  faultline did not become ready:"
		sed 's/^/    | /' "$TMP/prog.err" >&2 || true
		stop_prog_raw
		return 1
	fi
}

# start_prog CONFIG [TEST]: start the interceptor of CONFIG b to e, or r1
# and rn (their rules are per TEST); returns 1 when it cannot run.  stop_prog CONFIG: stop it and leave the number of
# packets it saw in RES.
start_prog()
{
	case $1 in
	b)
		inB iptables -I INPUT -j NFQUEUE --queue-num "$QUEUE" --queue-bypass
		B_RULES=1
		inB iptables -I OUTPUT -j NFQUEUE --queue-num "$QUEUE" --queue-bypass
		spawn "$TMP/prog.out" "$TMP/prog.err" \
			"$NS_B" "$NFQ_ACCEPT" -q "$QUEUE" -s "$TMP/nfq.stats"
		PROG_PID=$SPAWNED
		if ! wait_ready "$PROG_PID" 10 "$TMP/prog.err"; then
			log "  b: nfq_accept did not become ready"
			stop_prog_raw
			del_b_rules
			return 1
		fi
		;;
	c) start_fl --rule 'tcp port 9 => drop' ;;
	d) start_fl --rules "$D_RULES" ;;
	r1 | rn) start_fl --rules "$TMP/$1-$2.rules" ;;
	e) start_fl --rule 'ip => delay 1ms' ;;
	esac
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

# The value of "key" in faultline's final counters (the last JSON line).
fl_final()
{
	grep '^{' "$TMP/prog.out" | tail -1 | jq -r ".$1 // empty" 2>/dev/null
}

stop_prog()
{
	local rc=0

	RES=
	stop_prog_raw || rc=$?
	((rc == 0)) || log "  $1: program exited with status $rc"
	case $1 in
	b)
		del_b_rules
		log "    nfq_accept: $(cat "$TMP/prog.out")"
		RES=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$TMP/prog.out")
		;;
	*)
		RES=$(fl_final packets)
		;;
	esac
}

# CPU seconds (user + system) a process has used so far.
cpu_s()
{
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / hz }' \
		"/proc/$1/stat" 2>/dev/null || echo 0
}

# ---------------------------------------------------------------- per configuration
# one_test CONFIG TEST SECONDS: one test of configuration a to e, its
# interceptor started for it (so its counts are per test) and stopped
# after; b's NFQUEUE rules must be in place.  Records under PAIR.
run_label() { ((PAIR)) && echo "run $RUN pair $PAIR" || echo "run $RUN"; }

one_test()
{
	local cfg=$1 t=$2 dur=$3 v seen cnt before after prefix=FAULTLINE

	[[ $cfg == b ]] && prefix=""
	if [[ $cfg != a ]]; then
		start_prog "$cfg" "$t" || { log "  $cfg: n/a"; return 1; }
		before=$(nfqueue_counter "$prefix")
	fi
	case $t in
	tcp)
		test_tcp "$dur"; v=$RES
		log "  $(run_label) $cfg tcp: $(fmt %.2f "$v") Gbit/s"
		[[ -n $v ]] && rec "$cfg/tcp_gbps" "$v"
		;;
	udp)
		test_udp "$dur" 1; v=$RES
		log "  $(run_label) $cfg udp: ${v:-failed} kpps, ${CPU_NS:-n/a} ns CPU per packet"
		[[ -n $v ]] && rec "$cfg/udp_kpps" "$v"
		[[ -n $CPU_NS ]] && rec "$cfg/udp_cpu_ns" "$CPU_NS"
		;;
	ping)
		test_ping; v=$RES
		log "  $(run_label) $cfg ping avg/p50/p99 µs: ${v:-failed}"
		if [[ -n $v ]]; then
			read -r _ p50 p99 <<<"$v"
			rec "$cfg/rtt_p50_us" "$p50"
			rec "$cfg/rtt_p99_us" "$p99"
		fi
		;;
	esac
	if [[ $cfg != a ]]; then
		after=$(nfqueue_counter "$prefix")
		[[ $cfg == r1 || $cfg == rn ]] && rules_stray
		stop_prog "$cfg"; seen=$RES
		# What faultline saw of the test's own traffic: the stray probe's packets are not.
		[[ -n $seen && ($cfg == r1 || $cfg == rn) ]] && seen=$((seen - ${STRAY_Q:-0}))
		if [[ -n $before && -n $after && -n $seen ]]; then
			cnt=$((after - before))
			log "    $t: program saw $seen, NFQUEUE rule counter $cnt"
			rec "$cfg/seen_$t" "$seen"
			rec "$cfg/queued_$t" "$cnt"
		fi
		if [[ $cfg == r1 || $cfg == rn ]]; then
			rules_plan "$cfg" "$t"
		fi
	fi
}

run_config()
{
	local cfg=$1 t

	for t in $TESTS; do
		[[ $t == tcp || $t == udp || $t == ping ]] || continue
		one_test "$cfg" "$t" "$DUR" || break
	done
}

# pair_in_turn N X Y TEST [SECONDS]: configurations X and Y run TEST for
# SECONDS (PAIR_DUR) each, X first when N is odd and Y first when it is
# even, so a slow spell of the machine does not always land on the same side.
pair_in_turn()
{
	local dur=${5:-$PAIR_DUR}

	if (($1 % 2)); then
		one_test "$2" "$4" "$dur"
		one_test "$3" "$4" "$dur"
	else
		one_test "$3" "$4" "$dur"
		one_test "$2" "$4" "$dur"
	fi
}

# run_pairs X Y SECONDS N: X and Y (a and c; b and d) as N alternating
# tests of SECONDS, each pair recorded under its number: c/a and d/b are
# then taken per adjacent pair, so a slow spell of the machine moves both
# sides of a ratio, not one.  The order turns each pair (a c, c a, a c,
# ...), so that a drift over the pairs, or whatever the test before leaves
# behind, does not always favour the same side.
run_pairs()
{
	local t k

	for t in $TESTS; do
		[[ $t == tcp || $t == udp || $t == ping ]] || continue
		for ((k = 1; k <= $4; k++)); do
			PAIR=$k
			pair_in_turn "$k" "$1" "$2" "$t" "$3"
		done
	done
	PAIR=0
}

# ---------------------------------------------------------------- many rules
# Configurations r1 and rn: faultline with the one rule the traffic
# matches, and with RULES_N rules on distinct ports of which the traffic
# matches the same one (the last line: the place a rule walk finds last),
# per protocol (tcp: iperf3's port, udp: udp_blast's). Like d's, the rules
# match and never fire (their window opens after a day), so the packets
# pass unchanged and rn/r1 is what the other rules cost, kernel side
# (which jumps the plan installs, what they queue) and faultline's side.
# The other ports are 3 apart (no two adjacent), above the bench's own.
# With RULES_MATCH=0 the traffic matches none of the rules (r1 is then
# like configuration c, and rn/r1 what the rules cost traffic they do not
# touch).
make_rules()
{
	local proto port i

	for proto in tcp udp; do
		port=$TCP_PORT
		[[ $proto == udp ]] && port=$UDP_PORT
		# RULES_MATCH=0: the next port, which the traffic does not use.
		((RULES_MATCH)) || port=$((port + 1))
		echo "$proto port $port => drop, after 86400s" >"$TMP/r1-$proto.rules"
		for ((i = 0; i < RULES_N - 1; i++)); do
			echo "$proto port $((20000 + 3 * i)) => drop, after 86400s"
		done >"$TMP/rn-$proto.rules"
		cat "$TMP/r1-$proto.rules" >>"$TMP/rn-$proto.rules"
	done
}

# What the kernel queued for faultline's rules, from its last counters
# (queue_hooks, queue_programs, queue_sets, the first of queue_reasons) and from the
# stray probe one_test ran (rules_stray): logged, and the programs and the
# stray packets queued recorded.
rules_plan()
{
	local cfg=$1 t=$2 plan v

	plan=$(grep '^{' "$TMP/prog.out" | tail -1 | jq -r \
		'"hooks in \(.queue_hooks.in), out \(.queue_hooks.out); \(.queue_programs) bpf programs, \(.queue_sets // 0) port set jumps" +
		 (if (.queue_reasons | length) > 0 then "; why: " + .queue_reasons[0] else "" end)' \
		2>/dev/null) || plan=
	log "    $t: ${plan:-no plan in the counters}"
	v=$(fl_final queue_programs)
	[[ -n $v ]] && rec "$cfg/programs_$t" "$v"
	v=$(fl_final queue_sets)
	[[ -n $v ]] && rec "$cfg/sets_$t" "$v"
	[[ -n $STRAY_Q ]] && rec "$cfg/stray_queued_$t" "$STRAY_Q"
	return 0
}

# rules_stray: while faultline runs with r1's or rn's rules, STRAY_N UDP
# datagrams to a port no rule names (PROBE_PORT): how many packets its
# jumps queued meanwhile (the datagrams and B's ICMP answers) in STRAY_Q.
STRAY_N=200
STRAY_Q=
rules_stray()
{
	local before after

	STRAY_Q=
	before=$(nfqueue_counter FAULTLINE)
	# STRAY_N datagrams in 0.1 s.
	inA "$UDP_LAT" send "$IP_B" "$PROBE_PORT" $((STRAY_N * 10)) 0.1 >/dev/null 2>&1 || return 0
	sleep 0.2
	after=$(nfqueue_counter FAULTLINE)
	[[ -n $before && -n $after ]] && STRAY_Q=$((after - before))
	log "    stray: $STRAY_N datagrams to port $PROBE_PORT (no rule names it), ${STRAY_Q:-?} packets queued"
}

# r1 and rn as alternating short tests like a and c, RULES_PAIRS per run,
# the order turned with each pair over the whole invocation; rn/r1 is
# taken per pair.
RULES_PAIR_N=0
test_rules()
{
	local t k

	for t in $RULES_TESTS; do
		for ((k = 1; k <= RULES_PAIRS; k++)); do
			PAIR=$k
			RULES_PAIR_N=$((RULES_PAIR_N + 1))
			pair_in_turn "$RULES_PAIR_N" r1 rn "$t"
		done
	done
	PAIR=0
}

# ---------------------------------------------------------------- probing
# A kernel queue's line in B's /proc/net/netfilter/nfnetlink_queue:
# queue_num peer_portid queue_total copy_mode copy_range queue_dropped
# user_dropped id_sequence 1.
queue_line() { inB awk -v q="$1" '$1 == q' /proc/net/netfilter/nfnetlink_queue; }
# The last packet id the queue gave out: how many it has numbered.
queue_ids() { queue_line "$1" | awk '{ print $8 }'; }

# probe_queue SRC PROTO NQ [PORT]: which of the NQ queues from QUEUE on
# (faultline running on them, queueing PROTO to PORT, PROBE_PORT by
# default) takes PROTO between SRC and B.  The kernel hashes the two
# addresses and the protocol with a seed drawn at boot, so it is known only
# by trying: one UDP datagram (faultline must hold or drop it: an ICMP
# reply would be hashed apart), or one TCP SYN (its RST comes back on the
# same queue), and the queue whose id sequence moved took it.  Sets
# PROBED_Q (the queue's offset, empty when none moved within a second) and
# PROBE_SENT (1 when a UDP datagram left).
probe_queue()
{
	local src=$1 proto=$2 nq=$3 port=${4:-$PROBE_PORT} k tries before=()

	PROBED_Q=
	PROBE_SENT=0
	for ((k = 0; k < nq; k++)); do
		before[k]=$(queue_ids $((QUEUE + k)))
	done
	if [[ $proto == tcp ]]; then
		inA nc -z -w 1 -s "$src" "$IP_B" "$port" >/dev/null 2>&1 || true
	else
		inA "$UDP_LAT" send "$IP_B" "$port" 1000 0.001 "$src" >/dev/null 2>&1 || return 0
		PROBE_SENT=1
	fi
	for ((tries = 0; tries < 100; tries++)); do
		for ((k = 0; k < nq; k++)); do
			if [[ $(queue_ids $((QUEUE + k))) != "${before[k]}" ]]; then
				PROBED_Q=$k
				return 0
			fi
		done
		sleep 0.01
	done
}

# ---------------------------------------------------------------- many flows
# Configuration f: the same many-flow traffic with no interception (f0),
# through faultline on one queue (f1) and on two (f2), in the same run, so
# f2/f1 says what a second queue buys.  The rule's filter matches every
# packet of the bench (so all of it is queued and filtered) and the rule
# never fires (its window opens after a day).
F_RULE="net 10.77.0.0/24 => drop, after 86400s"

# The largest queue's share of the packets faultline took, from the
# "queues" of its final counters: 0.5 is an even spread over two queues.
queue_share()
{
	grep '^{' "$TMP/prog.out" | tail -1 |
		jq -r '[.queues[].packets] | if add > 0 then max / add * 100 | round / 100 else empty end' 2>/dev/null
}

# pick_half PROTO: PICKED becomes FLOWS addresses of the pool that the
# kernel puts evenly on two queues for PROTO (half each, in turn).  When
# the pool cannot give an even split, the addresses it gave are used as
# they are, and the report's share says so.
pick_half()
{
	local proto=$1 want0=$(((FLOWS + 1) / 2)) want1=$((FLOWS / 2)) on0=() on1=() rest=() src i

	for src in "${POOL_SRCS[@]}"; do
		probe_queue "$src" "$proto" 2
		if [[ $PROBED_Q == 0 ]] && ((${#on0[@]} < want0)); then
			on0+=("$src")
		elif [[ $PROBED_Q == 1 ]] && ((${#on1[@]} < want1)); then
			on1+=("$src")
		else
			rest+=("$src")
		fi
		((${#on0[@]} == want0 && ${#on1[@]} == want1)) && break
	done
	PICKED=()
	for ((i = 0; i < want0; i++)); do
		PICKED+=(${on0[i]:+"${on0[i]}"})
		((i < want1)) && PICKED+=(${on1[i]:+"${on1[i]}"})
	done
	PICKED+=("${rest[@]:0:FLOWS - ${#PICKED[@]}}")
	log "  f, $proto: ${#on0[@]} addresses on queue $QUEUE, ${#on1[@]} on queue $((QUEUE + 1)):" \
		"${PICKED[*]}"
}

# pick_flows: the sources of f's TCP flows (TCP_SRCS) and of its UDP blast
# (UDP_SRCS), each split evenly over two queues by the kernel's hash, so
# that f2/f1 is not limited by an uneven split (8 addresses taken blindly
# split 4/4 only 27 % of the time).  The hash has the protocol in it, so
# TCP and UDP are picked apart.  Once per invocation: the seed does not
# change until the module is reloaded.
pick_flows()
{
	((FLOWS_PICKED)) && return 0
	FLOWS_PICKED=1
	start_fl --queues 2 --rule "udp dst port $PROBE_PORT => drop" \
		--rule "tcp port $PROBE_PORT => drop, after 86400s" || return 0
	pick_half tcp
	TCP_SRCS=("${PICKED[@]}")
	pick_half udp
	UDP_SRCS=("${PICKED[@]}")
	stop_prog_raw || true
}

run_many()
{
	local sub t v seen before after share

	# TESTS without tcp and udp (e.g. TESTS=rules): nothing of f to run.
	[[ " $TESTS " == *" tcp "* || " $TESTS " == *" udp "* ]] || return 0
	pick_flows
	for sub in f0 f1 f2; do
		for t in $TESTS; do
			[[ $t == tcp || $t == udp ]] || continue
			if [[ $sub != f0 ]]; then
				start_fl --queues "${sub#f}" --rule "$F_RULE" || { log "  $sub: n/a"; break; }
				before=$(nfqueue_counter FAULTLINE)
			fi
			case $t in
			tcp)
				test_tcp_many; v=$RES
				log "  run $RUN $sub tcp, $FLOWS flows: $(fmt %.2f "$v") Gbit/s"
				[[ -n $v ]] && rec "$sub/tcp_gbps" "$v"
				;;
			udp)
				test_udp "$DUR" 0 "${UDP_SRCS[@]}"; v=$RES
				log "  run $RUN $sub udp, $FLOWS flows: ${v:-failed} kpps"
				[[ -n $v ]] && rec "$sub/udp_kpps" "$v"
				;;
			esac
			[[ $sub == f0 ]] && continue
			after=$(nfqueue_counter FAULTLINE)
			stop_prog "$sub"; seen=$RES
			if [[ -n $before && -n $after && -n $seen ]]; then
				log "    $t: faultline saw $seen, NFQUEUE rule counter $((after - before))"
				rec "$sub/seen_$t" "$seen"
				rec "$sub/queued_$t" $((after - before))
			fi
			share=$(queue_share)
			if [[ -n $share ]]; then
				log "    $t: the largest queue took $share of the packets"
				rec "$sub/queue_share_$t" "$share"
			fi
		done
	done
}

# ---------------------------------------------------------------- lateness
# lat_case NAME PPS [faultline args]: udp_lat from A to B at PPS for
# LAT_DUR seconds, with faultline holding the datagrams when args are
# given; records the one-way p50/p99/max (µs) under lat/NAME/PPS,
# faultline's CPU use (% of one CPU) and spin time over the sending, and
# its own release lateness (release_late_us: release time - due, p50/p99/max).
lat_case()
{
	local name=$1 pps=$2 rcv c0 c1 t0 t1 r how

	shift 2
	if (($#)); then
		start_fl --no-track "$@" || return 0
	fi
	# The -sleep cases' receiver sleeps in recv(); the others' polls (LAT_RECV).
	[[ $name == *-sleep ]] && how=recv || how=$LAT_RECV
	spawn "$TMP/lat-rcv.out" "$TMP/lat-rcv.err" \
		"$NS_B" "$UDP_LAT" "$how" "$LAT_PORT" $((LAT_DUR + 5))
	rcv=$SPAWNED
	if ! wait_for 5 udp_bound "$LAT_PORT"; then
		log "udp_lat receiver did not start"
		stop_pid "$rcv" || true; forget_pid "$rcv"
		(($#)) && { stop_prog_raw || true; }
		return 0
	fi
	if (($#)); then c0=$(cpu_s "$PROG_PID"); fi
	t0=$(date +%s.%N)
	inA "$UDP_LAT" send "$IP_B" "$LAT_PORT" "$pps" "$LAT_DUR" >"$TMP/lat-snd.out" 2>&1 || true
	t1=$(date +%s.%N)
	if (($#)); then c1=$(cpu_s "$PROG_PID"); fi
	wait "$rcv" 2>/dev/null || true
	forget_pid "$rcv"
	r=$(cat "$TMP/lat-rcv.out")
	log "  run $RUN lat $name ${pps}pps: $r"
	rec_dist "lat/$name/$pps" "$r"
	if (($#)); then
		rec "lat/$name/$pps/cpu_pct" "$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" \
			'BEGIN { printf "%.1f", 100 * (b - a) / (e - s) }')"
		stop_prog_raw || true
		v=$(fl_final release_spin_us)
		[[ -n $v ]] && rec "lat/$name/$pps/spin_pct" "$(awk -v v="$v" -v d="$LAT_DUR" \
			'BEGIN { printf "%.1f", v / 1e4 / d }')"
		# An older faultline has no release_late_us: nothing to record.
		for q in p50 p99 max; do
			v=$(fl_final "release_late_us.$q")
			[[ -z $v ]] || rec "lat/$name/$pps/rel_${q}_us" "$v"
		done
	fi
}

# rec_dist NAME LINE: udp_lat's p50_ns, p99_ns and max_ns in LINE,
# recorded in µs as NAME/p50_us, NAME/p99_us, NAME/max_us.
rec_dist()
{
	local q v

	for q in p50 p99 max; do
		v=$(sed -n "s/.*${q}_ns=\\([0-9-]*\\).*/\\1/p" <<<"$2")
		[[ -n $v ]] && rec "$1/${q}_us" "$(awk -v v="$v" 'BEGIN { printf "%.1f", v / 1000 }')"
	done
	return 0
}

# timer_case PPS: the floor under any release that sleeps, in this run:
# how late a thread sleeping on a timerfd wakes (udp_lat timer), at PPS
# deadlines a second for LAT_DUR seconds, under lat/timer/PPS.
timer_case()
{
	local pps=$1 r q v

	r=$("$UDP_LAT" timer "$pps" "$LAT_DUR") || { log "udp_lat timer failed"; return 0; }
	log "  run $RUN lat timer ${pps}pps: $r"
	rec_dist "lat/timer/$pps" "$r"
}

test_lat()
{
	local pps d

	for pps in $LAT_RATES; do
		lat_case base "$pps"
		timer_case "$pps"
		for d in $LAT_DELAYS; do
			lat_case "${d}ms" "$pps" --rule "udp dst port $LAT_PORT => delay ${d}ms, in"
		done
		# What the early wake and spin buy, and cost: the same without them.
		lat_case 10ms-early0 "$pps" --release-early 0 \
			--rule "udp dst port $LAT_PORT => delay 10ms, in"
		# Spinning through the timer's worst wake-ups, at up to a CPU.
		lat_case 10ms-spin "$pps" --release-early 1ms --release-cpu 100 \
			--rule "udp dst port $LAT_PORT => delay 10ms, in"
		# And what the SCHED_FIFO releasing thread (the default, as root)
		# buys: the same from an ordinary thread.
		lat_case 10ms-norealtime "$pps" --no-realtime \
			--rule "udp dst port $LAT_PORT => delay 10ms, in"
		# The same 10 ms with a receiver that sleeps until the datagram
		# comes, against its own baseline: its wake-up is in what it measures.
		lat_case base-sleep "$pps"
		lat_case 10ms-sleep "$pps" --rule "udp dst port $LAT_PORT => delay 10ms, in"
	done
}

# ---------------------------------------------------------------- capacity

# hold_sources: one source address of A for each of the HOLD_QUEUES
# queues (probe_queue on the pool's addresses in turn).  Sets HOLD_SRCS (by
# queue offset) and HOLD_PROBES (datagrams sent, held too); returns 1 when
# the pool does not reach every queue.
hold_sources()
{
	local src k q n

	HOLD_SRCS=()
	HOLD_PROBES=0
	for src in "${POOL_SRCS[@]}"; do
		probe_queue "$src" udp "$HOLD_QUEUES" "$HOLD_PORT"
		HOLD_PROBES=$((HOLD_PROBES + PROBE_SENT))
		q=$PROBED_Q
		[[ -n $q && -z ${HOLD_SRCS[q]:-} ]] && HOLD_SRCS[q]=$src
		n=0
		for ((k = 0; k < HOLD_QUEUES; k++)); do
			[[ -n ${HOLD_SRCS[k]:-} ]] && n=$((n + 1))
		done
		((n == HOLD_QUEUES)) && return 0
	done
	return 1
}

# HOLD_N datagrams held at once ('delay 60s') on HOLD_QUEUES queues, an
# equal share from one source address per queue (from A's own address with
# one queue): faultline's held_now, and each kernel queue's length and drops
# from /proc/net/netfilter/nfnetlink_queue (queue_total, queue_dropped:
# queue full, user_dropped: socket full), summed.  Each kernel queue holds
# at most 65,536 packets on recent kernels (see README.md), so 100k need
# two queues and addresses that the kernel's hash puts on both.
test_hold()
{
	local pps=50000 secs line held k n pid t d u lines=""
	local sent=0 total=0 qdrop=0 udrop=0 pids=() srcs=()

	start_fl --queues "$HOLD_QUEUES" --no-track --max-held $((HOLD_N + 1000)) \
		--queue-maxlen $((HOLD_N + 1000)) --max-held-bytes 1G \
		--rule "udp dst port $HOLD_PORT => delay 60s, in" || return 0
	HOLD_PROBES=0
	if ((HOLD_QUEUES > 1)); then
		if ! hold_sources; then
			log "  hold: ${#POOL_SRCS[@]} source addresses did not reach all $HOLD_QUEUES queues (raise FLOWS)"
			stop_prog_raw || true
			return 0
		fi
		srcs=("${HOLD_SRCS[@]}")
		log "  hold: sources ${srcs[*]} for queues $QUEUE-$((QUEUE + HOLD_QUEUES - 1))"
	else
		srcs=("")
	fi
	n=${#srcs[@]}
	secs=$(awk -v n="$HOLD_N" -v r="$pps" 'BEGIN { printf "%.3f", n / r }')
	for ((k = 0; k < n; k++)); do
		spawn "$TMP/hold-snd$k.out" "$TMP/hold-snd$k.err" "$NS_A" "$UDP_LAT" send \
			"$IP_B" "$HOLD_PORT" $((pps / n)) "$secs" ${srcs[k]:+"${srcs[k]}"}
		pids+=("$SPAWNED")
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
		forget_pid "$pid"
	done
	for ((k = 0; k < n; k++)); do
		t=$(sed -n 's/sent=//p' "$TMP/hold-snd$k.out")
		sent=$((sent + ${t:-0}))
	done
	sent=$((sent + HOLD_PROBES))
	sleep 1
	for ((k = 0; k < HOLD_QUEUES; k++)); do
		line=$(queue_line $((QUEUE + k)))
		[[ -n $line ]] || continue
		read -r _ _ t _ _ d u _ <<<"$line"
		total=$((total + t))
		qdrop=$((qdrop + d))
		udrop=$((udrop + u))
		lines+=" [$line]"
	done
	kill -USR1 "$PROG_PID"
	sleep 0.5
	held=$(fl_final held_now)
	log "  run $RUN hold on $HOLD_QUEUES queue(s): sent $sent, faultline held $held, /proc:$lines"
	rec hold/queues "$HOLD_QUEUES"
	rec hold/sent "$sent"
	[[ -n $held ]] && rec hold/held "$held"
	if [[ -n $lines ]]; then
		rec hold/queue_total "$total"
		rec hold/queue_dropped "$qdrop"
		rec hold/user_dropped "$udrop"
	fi
	stop_prog_raw || true
}

# c against a in interleaved windows of one flood (interleave.py): the
# pinned 64-byte UDP flood of the udp test runs for MIX_DUR seconds while
# windows of MIX_WIN seconds alternate between no interception (a) and a
# faultline of c's own started for its window, MIX_SETTLE seconds after it
# is ready. Recorded as mix/a and mix/c per pair; c/a is taken per pair.
test_mix()
{
	local snd rcv line k cfg v seen=

	log "run $RUN/$RUNS, c against a in interleaved windows of one flood ($MIX_DUR s, windows of $MIX_WIN s)"
	start_udp_rcv mix-rcv $((MIX_DUR + 40)) "${PIN_R[@]}" || return 0
	rcv=$SPAWNED
	spawn "$TMP/mix-snd.out" "$TMP/mix-snd.err" \
		"$NS_A" "${PIN_S[@]}" "$UDP_BLAST" send "$IP_B" "$UDP_PORT" $((MIX_DUR + 30))
	snd=$SPAWNED
	sleep 1
	inB "${PIN_R[@]}" python3 "$SRC_DIR/interleave.py" "$MIX_DUR" "$MIX_WIN" "$MIX_SETTLE" veth0 \
		"$TMP/mix-fl.err" -- "$FAULTLINE" run --queue "$QUEUE" --no-control \
		--rule 'tcp port 9 => drop' >"$TMP/mix.out" || log "  mix: interleave.py failed"
	stop_pid "$snd" 2 || true; forget_pid "$snd"
	stop_pid "$rcv" 2 || true; forget_pid "$rcv"
	while read -r line; do
		case $line in
		pair\ *)
			read -r _ k cfg v <<<"$line"
			PAIR=$k rec "mix/$cfg" "$(awk -v v="$v" 'BEGIN { printf "%.1f", v / 1000 }')"
			;;
		seen\ *) seen=${line#seen } ;;
		esac
	done <"$TMP/mix.out"
	log "  run $RUN mix: $(grep -c '^pair' "$TMP/mix.out") windows, faultline saw ${seen:-?} packets of the flood"
	[[ -n $seen ]] && rec mix/seen "$seen"
	PAIR=0
}

# ---------------------------------------------------------------- main loop
[[ -x $FAULTLINE ]] || die "$FAULTLINE missing"
make_rules
RUN=0
PAIRED=0
PAIRED_BD=0
((PAIRS > 0)) && [[ " $CONFIGS " == *" a "* && " $CONFIGS " == *" c "* ]] && PAIRED=1
((BD_PAIRS > 0)) && [[ " $CONFIGS " == *" b "* && " $CONFIGS " == *" d "* ]] && PAIRED_BD=1
for ((RUN = 1; RUN <= RUNS; RUN++)); do
	for cfg in $CONFIGS; do
		if [[ $cfg == f ]]; then
			log "run $RUN/$RUNS, configuration f"
			run_many
		elif ((PAIRED)) && [[ $cfg == a ]]; then
			log "run $RUN/$RUNS, configurations a and c, $PAIRS pairs of $PAIR_DUR s"
			run_pairs a c "$PAIR_DUR" "$PAIRS"
		elif ((PAIRED)) && [[ $cfg == c ]]; then
			continue
		elif ((PAIRED_BD)) && [[ $cfg == b ]]; then
			# Tests of DUR, as before pairing: BBR's start-up weighs more in
			# 2 s, and costs d more than b (see bench/README.md).
			log "run $RUN/$RUNS, configurations b and d, $BD_PAIRS pairs of $DUR s"
			run_pairs b d "$DUR" "$BD_PAIRS"
		elif ((PAIRED_BD)) && [[ $cfg == d ]]; then
			continue
		else
			log "run $RUN/$RUNS, configuration $cfg"
			run_config "$cfg"
		fi
	done
	if [[ " $TESTS " == *" rules "* ]]; then
		log "run $RUN/$RUNS, configurations r1 and rn ($RULES_N rules), $RULES_PAIRS pair(s) of $PAIR_DUR s"
		test_rules
	fi
	[[ " $TESTS " == *" mix "* ]] && test_mix
	[[ " $TESTS " == *" lat "* ]] && test_lat
	[[ " $TESTS " == *" hold "* ]] && test_hold
done

# ---------------------------------------------------------------- report
commit=$(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$SRC_DIR" diff --quiet HEAD 2>/dev/null || commit+="-dirty"
python3 "$SRC_DIR/report.py" "$REC" "$JSONL" \
	"commit=$commit" "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	"load=$(cut -d' ' -f1-3 /proc/loadavg)" "runs=$RUNS" "dur=$DUR" "lat_dur=$LAT_DUR" \
	"pairs=$((PAIRED ? PAIRS : 0))" "pairs_bd=$((PAIRED_BD ? BD_PAIRS : 0))" "pair_dur=$PAIR_DUR" "pin=${PIN_SEND:-none}/${PIN_RECV:-none}" \
	"mix_dur=$MIX_DUR" "mix_win=$MIX_WIN" "rules_n=$RULES_N" "rules_match=$RULES_MATCH" "d_kind=$D_KIND" "nproc=$(nproc)" "kernel=$(uname -r)"

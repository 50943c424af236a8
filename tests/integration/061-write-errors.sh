#!/usr/bin/env bash
# Nothing silent: every output that cannot be written (replay --out,
# --events, --pcap, the counters on stdout; run --events, --pcap, stdout;
# show's stdout, report -o; on /dev/full and on a full tmpfs) is reported
# once, naming the file, and the exit status is 1. A live run keeps
# forwarding every packet meanwhile and counts what it could not write
# ("write_errors", "events_dropped", "pcap_dropped"). A file that filled up is cut back to
# its last whole line or block, so it still reads.
. "$(dirname "$0")/lib.sh"
make_pair
RULE='udp dst port 5000 => delay 2ms'
N=2000

# --- replay: a capture of 300 datagrams, crafted (raw IP) --------------------
python3 - "$T/cap.pcap" <<'PY'
import struct, sys
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))
    for i in range(300):
        udp = struct.pack("!HHHH", 40000, 5000, 8 + 100, 0) + bytes([i % 256]) * 100
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([10, 99, 0, 1]), bytes([10, 99, 0, 2]))
        f.write(struct.pack("<IIII", 1700000000, i * 1000, len(ip + udp), len(ip + udp)) + ip + udp)
PY
# expect_fail NAME PATTERN CMD...: exit 1, and PATTERN (the file and what failed) said exactly once.
expect_fail() {
	local name=$1 pat=$2 rc=0
	shift 2
	"$@" 2>"$T/$name.err" || rc=$?
	log "$name: exit $rc: $(grep -F -- "$pat" "$T/$name.err" || cat "$T/$name.err")"
	[ "$rc" -eq 1 ] || fail "$name: exit $rc, not 1"
	[ "$(grep -cF -- "$pat" "$T/$name.err")" -eq 1 ] || fail "$name: '$pat' not said once"
}
rep() { "$FL" replay "$T/cap.pcap" --rule "$RULE" --seed 1 "$@" >"$T/rep.json"; }
expect_fail replay-out "/dev/full: cannot write the replayed packets: No space left on device (300 not written)" \
	rep --out /dev/full
expect_fail replay-events "/dev/full: cannot write the event log: No space left on device" \
	rep --events /dev/full
expect_fail replay-pcap "/dev/full: cannot write the annotated capture: No space left on device" \
	rep --pcap /dev/full
expect_fail replay-stdout "standard output (counters): write failed: No space left on device" \
	bash -c '"$@" >/dev/full' _ "$FL" replay "$T/cap.pcap" --rule "$RULE" --seed 1
# show and report, from an event log of the same capture; report -o to a
# device writes to it, never renames a file over it.
rep --events "$T/ev.jsonl"
expect_fail show-stdout "write error" bash -c '"$@" >/dev/full' _ "$FL" show "$T/ev.jsonl"
# A full device node of our own: a faultline that renamed over it would not harm /dev/full.
mknod "$T/full" c 1 7
expect_fail report-out "$T/full: No space left on device" "$FL" report "$T/ev.jsonl" -o "$T/full"
[ -c "$T/full" ] || fail "report -o replaced the device with a file"

# --- live runs: N datagrams through a delay, every one must arrive -----------
# live NAME STDOUT [WRAPPER...] -- FAULTLINE-ARGS...: a run with traffic; its exit code in $T/NAME.rc.
live() {
	local name=$1 out=$2 wrap=()
	shift 2
	while [ "$1" != -- ]; do wrap+=("$1"); shift; done
	shift
	udp_recv "$NS_B" 5000 1000
	rm -f "$T/fl.err"
	"${wrap[@]}" "$FL" run --netns "$NS_B" --rule "$RULE" --seed 1 "$@" >"$out" 2>"$T/fl.err" &
	FL_PID=$!
	for _ in $(seq 1 100); do grep -q 'faultline: running' "$T/fl.err" && break; sleep 0.05; done
	grep -q 'faultline: running' "$T/fl.err" || fail "$name: faultline did not start: $(cat "$T/fl.err")"
	ip netns exec "$NS_A" "$UDPSEQ" send 10.99.0.2 5000 "$N" "$N" 40000
	udp_recv_wait
	local got
	got=$(json "$T/recv.json" 'd["unique"]')
	[ "$got" -eq "$N" ] || fail "$name: the receiver got $got of $N datagrams"
	kill -TERM "$FL_PID"
	local rc=0
	wait "$FL_PID" || rc=$?
	FL_PID=
	cp "$T/fl.err" "$T/$name.err"
	log "$name: $got of $N delivered, exit $rc: $(grep -v 'seed\|running' "$T/$name.err" | tr '\n' ' ')"
	[ "$rc" -eq 1 ] || fail "$name: exit $rc, not 1"
}
said_once() { [ "$(grep -cF -- "$2" "$T/$1.err")" -eq 1 ] || fail "$1: '$2' not said once"; }
write_errors() { json "$1" 'd["write_errors"]'; }

live run-events "$T/run-events.json" -- --events /dev/full
said_once run-events "/dev/full: cannot write the event log: No space left on device; no more events are written, packets keep flowing"
# The event queue counts the lines it could not write (events_dropped), and says how many at exit.
[ "$(json "$T/run-events.json" 'd["events_dropped"]')" -gt "$N" ] || fail "run-events: lost lines not counted"
grep -q '/dev/full: [0-9]* event lines not written ("events_dropped"): No space left on device' "$T/run-events.err" ||
	fail "run-events: no count of the lost lines at exit"

live run-pcap "$T/run-pcap.json" -- --pcap /dev/full
said_once run-pcap "/dev/full: cannot write the capture file: No space left on device; no more packets are recorded, packets keep flowing"
# The capture's queue counts the records it could not write (pcap_dropped), and says how many at exit.
[ "$(json "$T/run-pcap.json" 'd["pcap_dropped"]')" -gt "$N" ] || fail "run-pcap: lost records not counted"
grep -q '/dev/full: [0-9]* packet records not written ("pcap_dropped"): No space left on device' "$T/run-pcap.err" ||
	fail "run-pcap: no count of the lost records at exit"

live run-stdout /dev/full --
said_once run-stdout "standard output (counters): write failed: No space left on device"

# A 128 KiB tmpfs, in a mount namespace of faultline's own (it goes with it):
# the files are copied out before it ends, so the test can read them.
mkdir "$T/small" "$T/kept"
cat >"$T/small.sh" <<'EOF'
mount -t tmpfs -o size=128k fl-small "$SMALL" || exit 3
"$@" &
pid=$!
trap 'kill -TERM $pid' TERM
wait $pid
wait $pid
rc=$?
cp "$SMALL"/* "$KEPT"/
exit $rc
EOF
export SMALL=$T/small KEPT=$T/kept
live run-tmpfs "$T/run-tmpfs.json" unshare -m --propagation private bash "$T/small.sh" -- \
	--events "$T/small/ev.jsonl" --pcap "$T/small/cap.pcapng"
said_once run-tmpfs "$T/small/ev.jsonl: cannot write the event log: No space left on device"
said_once run-tmpfs "$T/small/cap.pcapng: cannot write the capture file: No space left on device"
# What is in them reads whole: every line is JSON, tshark finds no cut block.
python3 -c 'import json, sys
n = sum(1 for l in open(sys.argv[1]) if json.loads(l))
assert n > 10, n' "$T/kept/ev.jsonl" || fail "the event log does not end on a whole line"
tshark -r "$T/kept/cap.pcapng" >"$T/tshark.out" 2>"$T/tshark.err" || fail "tshark: $(cat "$T/tshark.err")"
! grep -q 'cut short' "$T/tshark.err" || fail "the pcapng ends in a cut block"
log "tmpfs: $(wc -l <"$T/kept/ev.jsonl") whole event lines, $(wc -l <"$T/tshark.out") packets in the pcapng"
echo ok

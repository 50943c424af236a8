#!/usr/bin/env bash
# The command line refuses what it cannot do as asked: stray arguments,
# numbers out of range or with junk, missing or empty values, repeated
# options, outputs over inputs. Each gives one line "faultline: ...", exit 2,
# nothing on stdout. 'check FILE' reads FILE; 'cleanup NAME' works in
# namespace NAME and nowhere else.
. "$(dirname "$0")/lib.sh"

# Every 'run' below names a namespace that does not exist: should a bad line
# ever be accepted, it fails there (exit 1) instead of touching this host.
NONE=fl-none-$ID
printf 'udp => drop\n' >"$T/r.rules"

# refuse RC MESSAGE ARGS...: faultline ARGS must exit RC with exactly MESSAGE.
refuse() {
	local want_rc=$1 want=$2 rc=0
	shift 2
	timeout 10 "$FL" "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" -eq "$want_rc" ] || fail "faultline $*: exit $rc, expected $want_rc ($(head -c 300 "$T/err"))"
	[ "$(cat "$T/err")" = "$want" ] || fail "faultline $*: said '$(head -c 300 "$T/err")', expected '$want'"
	[ ! -s "$T/out" ] || fail "faultline $*: unexpected stdout"
}
R=(--netns "$NONE" -r 'udp => drop')
E0="(expected 0 to 65535, decimal or 0x hex)"

# Positional arguments nothing takes.
refuse 2 "faultline: run: unexpected argument '$T/r.rules' (a rule file needs -f)" run "${R[@]}" "$T/r.rules"
refuse 2 "faultline: run: unexpected argument 'x'" run "${R[@]}" x
refuse 2 "faultline: cleanup: unexpected argument 'b' (one namespace at a time)" cleanup a b
refuse 2 "faultline: cleanup: namespace 'b' given besides --netns" cleanup --netns a b
refuse 2 "faultline: replay: unexpected argument 'b' (one capture at a time)" replay a b -r 'udp => drop'
refuse 2 "faultline: replay: which capture? (replay IN.pcap --rule ...)" replay -r 'udp => drop'
refuse 2 "faultline: show: unexpected argument 'b' (one events file at a time)" show a b
refuse 2 "faultline: report: unexpected argument 'b' (one events file at a time)" report a b
refuse 2 "faultline: demo: unexpected argument 'reorder' (one part at a time, or all)" demo udp reorder
refuse 2 "faultline: demo: unknown part 'bogus' (udp, reorder, handshake, teardown, timewait, retransmit or all)" demo bogus
refuse 2 "faultline: version: unexpected argument 'x'" version x
refuse 2 "faultline: check: 'udp => drop' is no file; a rule line needs --rule" check 'udp => drop'
refuse 2 "faultline: check: nothing to check: give FILE, --rule or --rules" check

# Numbers: range, sign, junk, empty, 2^64, hex; durations.
refuse 2 "faultline: --max-held '0': out of range (1 to 10000000)" run "${R[@]}" --max-held 0
refuse 2 "faultline: --mark '0': out of range (1 to 4294967295)" run "${R[@]}" --mark 0
refuse 2 "faultline: --mark '0x100000000': out of range (1 to 4294967295)" run "${R[@]}" --mark 0x100000000
refuse 2 "faultline: --seed '-1': negative (expected 0 to 18446744073709551615, decimal or 0x hex)" run "${R[@]}" --seed -1
refuse 2 "faultline: --seed '18446744073709551616': out of range (0 to 18446744073709551615)" replay x.pcap -r 'udp => drop' --seed 18446744073709551616
refuse 2 "faultline: --queue '70000': out of range (0 to 65535)" run "${R[@]}" --queue 70000
refuse 2 "faultline: --queue '12x': not a number $E0" run "${R[@]}" --queue 12x
refuse 2 "faultline: --queue ' 12': not a number $E0" run "${R[@]}" --queue ' 12'
refuse 2 "faultline: --queue '+12': not a number $E0" run "${R[@]}" --queue +12
refuse 2 "faultline: --queue '': empty $E0" run "${R[@]}" --queue ''
refuse 2 "faultline: --queue '0x': not a number $E0" run "${R[@]}" --queue 0x
refuse 2 "faultline: --queue-maxlen '0': out of range (1 to 16777216)" run "${R[@]}" --queue-maxlen 0
refuse 2 "faultline: --max-flows '16777217': out of range (1 to 16777216)" run "${R[@]}" --max-flows 16777217
refuse 2 "faultline: --max-conns '0': out of range (1 to 67108864)" run "${R[@]}" --max-conns 0
refuse 2 "faultline: --events-backlog '100': out of range (4096 to 1073741824)" run "${R[@]}" --events-backlog 100
refuse 2 "faultline: --pcap-backlog '1073741825': out of range (4096 to 1073741824)" run "${R[@]}" --pcap-backlog 1073741825
refuse 2 "faultline: --max-held-bytes '12X': not a number (bytes, 1 to 1024G; k, M or G allowed)" run "${R[@]}" --max-held-bytes 12X
refuse 2 "faultline: --max-held-bytes '1025G': out of range (bytes, 1 to 1024G; k, M or G allowed)" run "${R[@]}" --max-held-bytes 1025G
refuse 2 "faultline: --time-wait '5': missing unit (ns, us, ms, s or m)" run "${R[@]}" --time-wait 5
refuse 2 "faultline: --time-wait '0s': out of range (more than 0, at most 604800s)" replay x.pcap -r 'udp => drop' --time-wait 0s
refuse 2 "faultline: --track-idle '10081m': out of range (more than 0, at most 604800s)" run "${R[@]}" --track-idle 10081m
refuse 2 "faultline: --track-idle '-1s': negative" run "${R[@]}" --track-idle -1s
refuse 2 "faultline: --flow '0': out of range (1 to 4294967295)" show x --flow 0
refuse 2 "faultline: --flow '1x': not a number (expected 1 to 4294967295, decimal or 0x hex)" report x --flow 1x

# Options: unknown, ambiguous, missing or empty values, given twice.
refuse 2 "faultline: run: unknown option '--bogus' (see faultline --help)" run "${R[@]}" --bogus
refuse 2 "faultline: run: unknown option '-x' (see faultline --help)" run "${R[@]}" -x
refuse 2 "faultline: run: ambiguous option '--max' (--max-held, --max-flows, ...)" run "${R[@]}" --max 1
refuse 2 "faultline: run: --forward takes no value" run "${R[@]}" --forward=1
refuse 2 "faultline: run: --queue needs a value" run "${R[@]}" --queue
refuse 2 "faultline: check: -f needs a value" check -f
refuse 2 "faultline: --events needs a value (got the option '--pcap')" run "${R[@]}" --events --pcap x
refuse 2 "faultline: --events: empty value" run "${R[@]}" --events ''
refuse 2 "faultline: --netns: empty value" run --netns '' -r 'udp => drop'
refuse 2 "faultline: --netns '..': not a namespace name" run --netns .. -r 'udp => drop'
refuse 2 "faultline: --netns 'a/b': a name cannot contain '/' (for a path use --netns-path)" cleanup --netns a/b
refuse 2 "faultline: --html: empty value" demo --html ''
refuse 2 "faultline: --queue given twice" run "${R[@]}" --queue 1 --queue 1
refuse 2 "faultline: --seed given twice" replay x.pcap -r 'udp => drop' -s 1 -s 2
refuse 2 "faultline: --rule 2: no rule in '# only a comment' (blank or a comment)" check -r 'udp => drop' -r '# only a comment'
refuse 2 "faultline: --netns and --netns-path exclude each other" cleanup --netns a --netns-path /proc/1/ns/net
refuse 2 "faultline: no rules: give --rule, --rules or --scenario, or leave the control socket on" run --netns "$NONE" --no-control

# --help is no error, on any command.
for cmd in run check replay cleanup demo show report; do
	"$FL" $cmd --help >"$T/out" 2>"$T/err" || fail "$cmd --help: exit $?"
	grep -q "^usage: faultline" "$T/out" || fail "$cmd --help printed no usage"
done

# No output over an input or another output.
refuse 2 "faultline: --events '$T/r.rules' and --rules '$T/r.rules' are the same file" run --netns "$NONE" -f "$T/r.rules" -e "$T/r.rules"
refuse 2 "faultline: --events '$T/o' and --pcap '$T/o' are the same file" run "${R[@]}" -e "$T/o" --pcap "$T/o"
printf 'x' >"$T/cap.pcap"
refuse 2 "faultline: --out '$T/./cap.pcap' and capture '$T/cap.pcap' are the same file" replay "$T/cap.pcap" -r 'udp => drop' -o "$T/./cap.pcap"
refuse 2 "faultline: --local '10.0.0.0/-5': not an address or network (10.0.0.2, fd00::/64)" replay "$T/cap.pcap" -r 'udp => drop' -l 10.0.0.0/-5
[ "$(cat "$T/cap.pcap")" = x ] || fail "the capture was overwritten"
refuse 2 "faultline: --output '$T/r.rules' and events file '$T/r.rules' are the same file" report "$T/r.rules" -o "$T/r.rules"

# A failed write of check's output is said, with exit 1.
rc=0
"$FL" check "$T/r.rules" >/dev/full 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] && [ "$(cat "$T/err")" = "faultline: standard output: write failed: No space left on device" ] ||
	fail "check >/dev/full: exit $rc, '$(cat "$T/err")'"

# A rule path that is a directory says so.
refuse 2 "faultline: $T: is a directory, not a rule file" check -f "$T"

# check FILE reads FILE like -f, in command-line order with -r and -f.
printf 'tcp => drop\n' >"$T/t.rules"
"$FL" check -r 'icmp => drop' "$T/r.rules" -f "$T/t.rules" >"$T/out" 2>"$T/err" || fail "check FILE: $(cat "$T/err")"
printf 'icmp => drop\nudp => drop\ntcp => drop\n' | cmp -s - "$T/out" || fail "check FILE printed '$(cat "$T/out")'"
printf 'udp => drop\n# c\nudp => dorp\n' >"$T/bad.rules"
refuse 2 "$T/bad.rules:3:8: unknown action 'dorp' (expected drop, delay, reorder, duplicate, corrupt, rate, accept, slot, profile, reset, segment, or a qualifier in, out, fwd, every, first, count, after, conn-after, for, from-byte, conn, if)" check "$T/bad.rules"

# A rule longer than any buffer: check prints it whole, and so do replay's counters.
filter=$(python3 -c "print(' or '.join('udp port %d' % p for p in range(1000, 1200)))")
rule="$filter => drop 30%, delay 5ms jitter 1ms, in, every 3"
"$FL" check -r "$rule" >"$T/out" || fail "check of a long rule failed"
[ "$(cat "$T/out")" = "$rule" ] || fail "check cut a ${#rule}-byte rule to $(wc -c <"$T/out") bytes"
# A raw-IP pcap with one UDP datagram to port 1000.
python3 - "$T/one.pcap" <<'EOF'
import struct, sys
ip = bytes.fromhex('4500001c0001000040110000') + bytes([10, 0, 0, 1, 10, 0, 0, 2])
udp = struct.pack('!HHHH', 999, 1000, 8, 0)
pkt = ip + udp
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))
    f.write(struct.pack('<IIII', 1, 0, len(pkt), len(pkt)) + pkt)
EOF
"$FL" replay "$T/one.pcap" -r "$rule" --seed 1 >"$T/rep.json" 2>"$T/err" || fail "replay: $(cat "$T/err")"
[ "$(json "$T/rep.json" 'd["rules"][0]["rule"]')" = "$rule" ] || fail "replay's counters cut the rule"

# ... and report, a reason from the events file longer than its old 512-byte buffer.
long=$(python3 -c "print('r' * 700 + 'END')")
cp "$(dirname "$0")/../golden/show-basic.jsonl" "$T/ev.jsonl"
printf '{"t":0.2,"ev":"flow-end","flow":1,"conn":"10.99.0.1:41000 > 10.99.0.2:8080","endpoint":0,"old":"","new":"","reason":"%s"}\n' \
	"$long" >>"$T/ev.jsonl"
"$FL" report "$T/ev.jsonl" -o "$T/ev.html" 2>"$T/err" || fail "report: $(cat "$T/err")"
grep -q "ended: $long" "$T/ev.html" || fail "report cut a long reason"

# Limits: 10000 rules, 1 MiB a file, 64 KiB a line; past them a located error.
python3 -c "print('# header'); print('udp => drop\n' * 10000, end='')" >"$T/max.rules"
"$FL" check "$T/max.rules" >"$T/out" 2>"$T/err" || fail "10000 rules refused: $(cat "$T/err")"
[ "$(wc -l <"$T/out")" -eq 10000 ] || fail "check printed $(wc -l <"$T/out") of 10000 rules"
refuse 2 "--rule 1:1:1: too many rules (at most 10000 in a set)" check "$T/max.rules" -r 'tcp => drop'
refuse 2 "$T/max.rules:10001:1: too many rules (at most 10000 in a set)" check "$T/r.rules" "$T/max.rules"
printf '  tcp => drop\n' >>"$T/max.rules"
refuse 2 "$T/max.rules:10002:3: too many rules (at most 10000 in a set)" check "$T/max.rules"
python3 -c "print(('#' * 1023 + '\n') * 1024, end=''); print('x')" >"$T/big.rules"
refuse 2 "$T/big.rules:1025:1: rule file longer than 1048576 bytes" check -f "$T/big.rules"
python3 -c "print('udp => drop'); print('udp => drop #' + 'x' * 65524)" >"$T/long.rules"
refuse 2 "$T/long.rules:2:65537: line longer than 65536 bytes" check "$T/long.rules"
echo ok

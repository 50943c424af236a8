#!/usr/bin/env bash
# 'faultline replay' shows its progress on a terminal (packets, % of the
# file, packets/s; the last line has the totals) and says nothing of it
# when stderr is not a terminal. Its counters on stdout are the same.
# 'script' (util-linux) gives it a terminal; no namespace is needed.
. "$(dirname "$0")/lib.sh"
N=30000
# N UDP packets in Ethernet frames, 1 ms apart.
python3 - "$T/cap.pcap" "$N" <<'PY'
import struct, sys
n = int(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        payload = struct.pack("!I", i) + bytes(60)
        udp = struct.pack("!HHHH", 40000, 5000, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0,
                         bytes([10, 99, 0, 1]), bytes([10, 99, 0, 2]))
        s = sum(struct.unpack("!10H", ip))
        while s >> 16:
            s = (s & 0xffff) + (s >> 16)
        ip = ip[:10] + struct.pack("!H", ~s & 0xffff) + ip[12:]
        frame = bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00" + ip + udp
        f.write(struct.pack("<IIII", 1000 + i // 1000, (i % 1000) * 1000, len(frame), len(frame)))
        f.write(frame)
PY
ARGS=(replay "$T/cap.pcap" --rule 'udp => drop 10%' --seed 3 --local 10.99.0.2 --out "$T/out.pcap")

# On a terminal: script runs it under a pseudo-terminal and keeps what it printed.
script -q -e -c "$(printf '%q ' "$FL" "${ARGS[@]}")" "$T/tty.log" </dev/null >/dev/null ||
	fail "replay on a terminal failed: $(tail -3 "$T/tty.log")"
# The lines are rewritten in place: split at carriage returns and newlines.
tr '\r' '\n' <"$T/tty.log" | grep -a '^faultline: replay: ' >"$T/progress" || fail "no progress line on a terminal"
log "last progress line: $(tail -1 "$T/progress" | tr -d '\033' | sed 's/\[K$//')"
tail -1 "$T/progress" | grep -Eaq "^faultline: replay: $N packets, 100% of $T/cap.pcap, [0-9]+ packets/s" ||
	fail "the last progress line lacks the totals: $(tail -1 "$T/progress")"
# Every line counts up, in percent too.
awk '{ p = $3; q = $5; sub("%", "", q); if (p + 0 < lp || q + 0 < lq) exit 1; lp = p + 0; lq = q + 0 }' "$T/progress" ||
	fail "progress went back: $(cat "$T/progress")"
tr -d '\r' <"$T/tty.log" | grep -a '^{' >"$T/tty.json" || fail "no counters on the terminal"

# Not a terminal: stderr stays empty, the counters are the same.
"$FL" "${ARGS[@]}" >"$T/plain.json" 2>"$T/plain.err" || fail "replay failed: $(cat "$T/plain.err")"
[ ! -s "$T/plain.err" ] || fail "stderr is not a terminal, yet: $(head -c 300 "$T/plain.err")"
[ "$(json "$T/plain.json" 'd["read"]')" -eq "$N" ] || fail "read $(json "$T/plain.json" 'd["read"]') of $N"
cmp -s "$T/plain.json" "$T/tty.json" || fail "the counters differ on a terminal"
echo ok

#!/usr/bin/env bash
# slot through the scheduler, offline: a generated capture of 400 UDP
# datagrams, one per ms from 4 flows, replayed through
# 'slot 10ms 30ms packets 4'. The output capture shows slotted delivery:
# the datagrams leave in groups of exactly 4 (the link is loaded: 1 per ms
# against 4 per 10-30 ms), in their order, the groups 10 to 30 ms apart,
# and each release in the event log at its slot's time. No root needed.
. "$(dirname "$0")/lib.sh"

python3 - "$T/in.pcap" <<'PY'
import struct, sys
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
out = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101)   # raw IP
for i in range(400):
    payload = struct.pack("!I", i) + b"x" * 28
    udp = struct.pack("!HHHH", 40000 + i % 4, 5000, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                      bytes([10, 99, 0, 1]), bytes([10, 99, 0, 2]))
    ip = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + udp
    ts = 1_000_000 + i * 1000                                       # microseconds
    out += struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(ip), len(ip)) + ip
open(sys.argv[1], "wb").write(out)
PY
"$FL" replay "$T/in.pcap" --rule 'udp => slot 10ms 30ms packets 4' --seed 3 --local 10.99.0.2 \
	--events "$T/ev.jsonl" --out "$T/out.pcap" >"$T/rep.json" 2>"$T/rep.err" ||
	fail "replay failed: $(cat "$T/rep.err")"

python3 - "$T/out.pcap" "$T/ev.jsonl" <<'PY' || exit 1
import json, struct, sys
data = open(sys.argv[1], "rb").read()
magic = struct.unpack("<I", data[:4])[0]
scale = 1e-9 if magic == 0xa1b23c4d else 1e-6
off, pkts = 24, []
while off < len(data):
    s, frac, cap, _ = struct.unpack("<IIII", data[off:off + 16])
    body = data[off + 16:off + 16 + cap]
    off += 16 + cap
    pkts.append((round(s + frac * scale, 6), struct.unpack("!I", body[28:32])[0]))
bad = []
if len(pkts) != 400:
    bad.append("%d datagrams written, not 400" % len(pkts))
if [n for _, n in pkts] != list(range(len(pkts))):
    bad.append("the datagrams left out of order")
groups = {}
for t, n in pkts:
    groups.setdefault(t, []).append(n)
times = sorted(groups)
sizes = [len(groups[t]) for t in times]
gaps = [round((b - a) * 1000, 3) for a, b in zip(times, times[1:])]
print("  %d slots, sizes %s, gaps %.3f..%.3f ms, mean %.2f ms" % (len(times), sorted(set(sizes)),
      min(gaps), max(gaps), sum(gaps) / len(gaps)), file=sys.stderr)
if set(sizes) != {4}:
    bad.append("slot sizes %s, not all 4" % sorted(set(sizes)))
if min(gaps) < 10 or max(gaps) > 30:
    bad.append("gaps between slots %.3f..%.3f ms, not within 10..30" % (min(gaps), max(gaps)))
if times[0] - 1.0 < 0.010:
    bad.append("the first slot left %.3f ms after the first datagram" % ((times[0] - 1.0) * 1000))
# The event log: every datagram held by the slot action and released at a slot's time.
ev = [json.loads(l) for l in open(sys.argv[2])]
held = [e for e in ev if e["ev"] == "packet" and e["verdict"] == "hold"
        and any(a["action"] == "slot" for a in e.get("actions", []))]
rel = {round(e["t"], 6) for e in ev if e["ev"] == "release"}
if len(held) != 400:
    bad.append("%d packets held by 'slot' in the events, not 400" % len(held))
if len(rel) != len(times):
    bad.append("%d distinct release times in the events, %d slots in the capture" % (len(rel), len(times)))
if bad:
    print("FAIL: " + "; ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
r=$(json "$T/rep.json" 'd["rules"][0]["slotted"]')
[ "$r" -eq 400 ] || fail "slotted counter $r, not 400"
echo ok

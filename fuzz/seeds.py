#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of the replay and events harnesses.

fuzz/corpus/replay/: small captures of one short TCP connection, UDP, ICMP
and IPv6 traffic in each container and link type replay reads (pcap in both
byte orders and precisions, pcapng with one or two interfaces, raw IP,
Ethernet with VLAN tags, Linux cooked v1/v2, loopback), one cut by a small
snap length and one ending in the middle of a packet.
fuzz/corpus/events/: the events files `faultline replay --events` writes for
some of those captures under rules that drop, delay, reorder, duplicate and
corrupt, plus tests/golden/show-basic.jsonl.

    python3 fuzz/seeds.py build/faultline
"""
import os
import shutil
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPLAY = os.path.join(ROOT, "fuzz/corpus/replay")
EVENTS = os.path.join(ROOT, "fuzz/corpus/events")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(src, dst, proto, l4):
    s, d = bytes(src), bytes(dst)
    if proto in (6, 17):
        ph = s + d + struct.pack("!BBH", 0, proto, len(l4))
        off = 16 if proto == 6 else 6
        l4 = l4[:off] + struct.pack("!H", csum(ph + l4)) + l4[off + 2:]
    elif proto == 1:
        l4 = l4[:2] + struct.pack("!H", csum(l4)) + l4[4:]
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0, s, d)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + l4


def ip6(src, dst, nh, l4):
    s, d = bytes(src), bytes(dst)
    ph = s + d + struct.pack("!IxxxB", len(l4), nh)
    off = {6: 16, 17: 6, 58: 2}[nh]
    l4 = l4[:off] + struct.pack("!H", csum(ph + l4)) + l4[off + 2:]
    return struct.pack("!IHBB16s16s", 0x60000000, len(l4), nh, 64, s, d) + l4


def tcp(sp, dp, seq, ack, flags, data=b"", opts=b""):
    hl = (20 + len(opts)) // 4
    fl = sum({"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}[c] for c in flags)
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, hl << 4, fl, 64240, 0, 0) + opts + data


def udp(sp, dp, data):
    return struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data


def icmp(typ, ident, seq, data=b"ping"):
    return struct.pack("!BBHHH", typ, 0, 0, ident, seq) + data


C4, S4 = [192, 168, 1, 1], [10, 0, 0, 2]
C6 = [0xfd, 0] + [0] * 13 + [1]
S6 = [0xfd, 0] + [0] * 13 + [2]
MSS = b"\x02\x04\x05\xb4\x04\x02\x01\x01"


def tcp_conn():
    """(packet, way) of a short connection: handshake, data, a resend, close."""
    c, s = 1000, 5000
    t = lambda w, *a, **k: (ip4(*((C4, S4) if w == 0 else (S4, C4)), 6, tcp(*a, **k)), w)
    return [
        t(0, 40000, 80, c, 0, "S", opts=MSS),
        t(1, 80, 40000, s, c + 1, "SA", opts=MSS),
        t(0, 40000, 80, c + 1, s + 1, "A"),
        t(0, 40000, 80, c + 1, s + 1, "PA", b"GET / HTTP/1.0\r\n\r\n"),
        t(0, 40000, 80, c + 1, s + 1, "PA", b"GET / HTTP/1.0\r\n\r\n"),
        t(1, 80, 40000, s + 1, c + 19, "PA", b"HTTP/1.0 200 OK\r\n\r\nhello"),
        t(0, 40000, 80, c + 19, s + 25, "A"),
        t(1, 80, 40000, s + 25, c + 19, "FA"),
        t(0, 40000, 80, c + 19, s + 26, "FA"),
        t(1, 80, 40000, s + 26, c + 20, "A"),
    ]


def other():
    return [
        (ip4(C4, S4, 17, udp(41000, 5000, b"one")), 0),
        (ip4(C4, S4, 17, udp(41000, 5000, b"two")), 0),
        (ip4(S4, C4, 17, udp(5000, 41000, b"back")), 1),
        (ip4(C4, S4, 1, icmp(8, 7, 1)), 0),
        (ip4(S4, C4, 1, icmp(0, 7, 1)), 1),
        (ip6(C6, S6, 6, tcp(40001, 443, 7, 0, "S", opts=MSS)), 0),
        (ip6(C6, S6, 17, udp(41001, 53, b"dns?")), 0),
        (ip6(C6, S6, 58, icmp(128, 9, 1)), 0),
    ]


# ---- containers ---------------------------------------------------------------

def pcap(path, linktype, frames, nsec=False, big=False, snaplen=65535, cut=None, tail=b""):
    e = ">" if big else "<"
    out = struct.pack(e + "IHHiIII", 0xA1B23C4D if nsec else 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)
    t = 1700000000 * 10**9
    for i, f in enumerate(frames):
        t += 1_500_000 + i * 250_000
        cap = f[:cut] if cut else f
        frac = t % 10**9 if nsec else t % 10**9 // 1000
        out += struct.pack(e + "IIII", t // 10**9, frac, len(cap), len(f)) + cap
    write(path, out + tail)


def pcapng_block(btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def pcapng(path, ifaces, frames):
    """ifaces: [(linktype, tsresol)]; frames: [(iface, bytes)]."""
    out = pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for lt, res in ifaces:
        opts = struct.pack("<HHB3x", 9, 1, res) + struct.pack("<HH", 0, 0) if res is not None else b""
        out += pcapng_block(1, struct.pack("<HHI", lt, 0, 262144) + opts)
    t = 1700000000 * 10**6
    for i, (ifc, f) in enumerate(frames):
        t += 1500 + i * 250
        ts = t * 1000 if ifaces[ifc][1] == 9 else t
        out += pcapng_block(6, struct.pack("<IIIII", ifc, ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f)
    write(path, out)


def eth(pkt, vlan=None):
    et = 0x86DD if pkt[0] >> 4 == 6 else 0x0800
    h = bytes.fromhex("020000000002020000000001")
    if vlan is not None:
        h += struct.pack("!HH", 0x8100, vlan)
    return h + struct.pack("!H", et) + pkt


def sll(pkt, way):
    et = 0x86DD if pkt[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHH8sH", 4 if way else 0, 1, 6, b"\2\0\0\0\0\1\0\0", et) + pkt


def sll2(pkt, way):
    et = 0x86DD if pkt[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHIHBB8s", et, 0, 2, 1, 4 if way else 0, 6, b"\2\0\0\0\0\1\0\0") + pkt


def null(pkt, big=False):
    af = 10 if pkt[0] >> 4 == 6 else 2
    return struct.pack(">I" if big else "<I", af) + pkt


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def replay_seeds():
    conn, rest = tcp_conn(), other()
    both = conn + rest
    raw = [p for p, _ in both]
    arp = bytes.fromhex("ffffffffffff020000000001" "0806") + bytes(28)
    os.makedirs(REPLAY, exist_ok=True)
    pcap(f"{REPLAY}/raw_tcp.pcap", 101, [p for p, _ in conn])
    pcap(f"{REPLAY}/raw_mixed_be_nsec.pcap", 101, raw, nsec=True, big=True)
    pcap(f"{REPLAY}/ipv4_ipv6_linktypes.pcap", 228, [p for p in raw if p[0] >> 4 == 4])
    pcap(f"{REPLAY}/ipv6_linktype.pcap", 229, [p for p in raw if p[0] >> 4 == 6])
    pcap(f"{REPLAY}/en10mb_vlan_arp.pcap", 1,
         [eth(p, 5 if i % 3 == 0 else None) for i, (p, _) in enumerate(rest)] + [arp])
    pcap(f"{REPLAY}/sll_ways.pcap", 113, [sll(p, w) for p, w in conn])
    pcap(f"{REPLAY}/sll2_ways.pcap", 276, [sll2(p, w) for p, w in rest])
    pcap(f"{REPLAY}/null_loop.pcap", 0, [null(p) for p in raw[:6]])
    pcap(f"{REPLAY}/loop_be.pcap", 108, [null(p, True) for p in raw[-4:]])
    pcap(f"{REPLAY}/snap60_cut.pcap", 101, [p for p, _ in conn], snaplen=60, cut=60)
    pcap(f"{REPLAY}/ends_mid_packet.pcap", 101, [p for p, _ in conn[:4]],
         tail=struct.pack("<IIII", 1700000009, 0, 52, 52) + conn[4][0][:20])
    pcapng(f"{REPLAY}/one_iface.pcapng", [(101, None)], [(0, p) for p, _ in both])
    pcapng(f"{REPLAY}/two_ifaces_nsec.pcapng", [(101, 9), (1, 9)],
           [(i % 2, eth(p) if i % 2 else p) for i, (p, _) in enumerate(both)])


RULESETS = {
    "drop_delay": ["tcp => drop 30%", "tcp => delay 5ms", "udp => drop 50%"],
    "reorder_dup": ["=> reorder 3 timeout 5ms", "tcp => duplicate 30%", "icmp => delay 2ms"],
    "corrupt_rate": ["udp => corrupt 50%", "=> rate 1mbit limit 3", "tcp => drop if syn-ack, first 1"],
}


def events_of(fl, cap, rules, out):
    args = [fl, "replay", cap, "--seed", "7", "--local", "10.0.0.0/8", "--events", out]
    for r in rules:
        args += ["--rule", r]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def event_seeds(fl):
    os.makedirs(EVENTS, exist_ok=True)
    for cap in ("raw_tcp.pcap", "raw_mixed_be_nsec.pcap"):
        for name, rules in RULESETS.items():
            events_of(fl, f"{REPLAY}/{cap}", rules, f"{EVENTS}/{cap.split('.')[0]}-{name}.jsonl")
    # Small ones (a few KiB) that the fuzzer mutates faster.
    tmp = f"{EVENTS}/.small.pcap"
    conn, rest = tcp_conn(), other()
    pcap(tmp, 101, [p for p, _ in conn[:4] + conn[-3:]])
    events_of(fl, tmp, ["tcp => drop if syn-ack, first 1", "tcp => delay 2ms"], f"{EVENTS}/small-tcp.jsonl")
    # Lines replay writes only for longer captures: what the receiver saw
    # after faultline, and a connection's end with its summary.
    conn_s = '"flow":1,"conn":"192.168.1.1:40000 > 10.0.0.2:80"'
    with open(f"{EVENTS}/small-tcp.jsonl", "a") as f:
        f.write('{"t":0.02,"ev":"class",%s,"endpoint":1,"view":"egress",'
                '"class":["retransmission","dup-ack"],"caused_by":2,"seg":3}\n' % conn_s)
        f.write('{"t":0.03,"ev":"flow-end",%s,"reason":"time-wait","summary":{"flow":1,'
                '"state":["TIME_WAIT","CLOSED"],"segments":7,"retransmissions":1,'
                '"retransmissions_faultline":1,"out_of_order":0,"out_of_order_faultline":0,'
                '"dup_acks":1,"dup_acks_faultline":1}}\n' % conn_s)
    pcap(tmp, 101, [p for p, _ in rest])
    events_of(fl, tmp, ["udp => reorder 2", "icmp => duplicate", "ip6 => drop"], f"{EVENTS}/small-other.jsonl")
    os.unlink(tmp)
    shutil.copy(os.path.join(ROOT, "tests/golden/show-basic.jsonl"), f"{EVENTS}/show-basic.jsonl")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    replay_seeds()
    event_seeds(sys.argv[1])

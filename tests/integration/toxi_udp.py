# SPDX-License-Identifier: MIT
# UDP for the toxiproxy API tests (132).
#   toxi_udp.py serve ADDR PORT    echo every datagram back to its sender
#   toxi_udp.py send PORT N SIZE   send N datagrams of SIZE bytes to 127.0.0.1:PORT at once,
#                                  take echoes until all came or 1 s passed without one;
#                                  prints "GOT MIN_RTT SPAN": echoes, the least round trip
#                                  and the time from the first echo to the last (seconds)
import socket
import struct
import sys
import time

if sys.argv[1] == "serve":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[2], int(sys.argv[3])))
    while True:
        d, a = s.recvfrom(65536)
        s.sendto(d, a)

port, n, size = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", port))
sent = {}
for i in range(n):
    sent[i] = time.monotonic()
    s.send(struct.pack("!I", i) + b"x" * (size - 4))
s.settimeout(1.0)
seen, rtts, arrivals = set(), [], []
while len(seen) < n:
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    now = time.monotonic()
    i = struct.unpack("!I", d[:4])[0]
    if i in sent and i not in seen:
        seen.add(i)
        rtts.append(now - sent[i])
        arrivals.append(now)
print("%d %.4f %.4f" % (len(seen), min(rtts) if rtts else -1, arrivals[-1] - arrivals[0] if arrivals else 0))

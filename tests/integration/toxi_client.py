# SPDX-License-Identifier: MIT
# A TCP client for the toxiproxy API tests. toxi_client.py PORT MODE, to
# 127.0.0.1:PORT, or to $TOXI_HOST:PORT:
#   rtt      one request/echo round trip; prints its seconds
#   refused  connecting fails with ECONNREFUSED (prints "refused")
#   hold     connect, echo once, print "ready", then on stdin's first line send again:
#            prints "reset" on ECONNRESET, else what came back
#   idle     connect, echo once, print "ready", then block in a read (30 s at most, never
#            sending): prints "reset", "eof" or "timeout", and the wall-clock time it returned
import os
import socket
import sys
import time

port, mode = int(sys.argv[1]), sys.argv[2]
host = os.environ.get("TOXI_HOST", "127.0.0.1")
if mode == "refused":
    try:
        socket.create_connection((host, port), timeout=5)
        print("connected")
    except ConnectionRefusedError:
        print("refused")
    except ConnectionResetError:
        print("refused")
    sys.exit(0)
s = socket.create_connection((host, port), timeout=10)
t = time.monotonic()
s.sendall(b"ping")
got = s.recv(16)
if mode == "rtt":
    assert got == b"ping", got
    print("%.4f" % (time.monotonic() - t))
    sys.exit(0)
print("ready", flush=True)
if mode == "idle":
    s.settimeout(30)
    try:
        what = "eof" if not s.recv(16) else "data"
    except ConnectionResetError:
        what = "reset"
    except socket.timeout:
        what = "timeout"
    print(what, "%.6f" % time.time())
    sys.exit(0)
sys.stdin.readline()
try:
    s.sendall(b"again")
    print(s.recv(16) or b"eof")
except ConnectionResetError:
    print("reset")

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Small TCP applications for the integration tests of reset, from-byte and segment.

  tcpapp.py server PORT [--echo] [--rcvbuf N] [--idle S]
                                                accept one connection, read until EOF or an
                                                error (or S seconds without data: "idle");
                                                print one JSON line: bytes, recv sizes, how
                                                it ended ("eof", "idle" or the errno name)
  tcpapp.py ping HOST PORT N                    send N small requests, one every 20 ms, each
                                                answered by an echo server; print the JSON
                                                line: replies, how it ended
  tcpapp.py send HOST PORT BYTES [--nodelay] [--chunk N] [--linger]
                                                send BYTES bytes (byte i is i % 251) in
                                                chunks, then close; print the JSON line

Each prints "ready" on stderr when listening (server) or connected (clients). A
server's JSON has "ok_bytes": whether every byte it got is the one the sender put
at that offset, so a cut or a slice that moved data shows.
"""
import errno
import json
import socket
import sys
import time


def pattern(off, n):
    return bytes((off + i) % 251 for i in range(n))


def ended(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) else str(e)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def server(args):
    port = int(args[0])
    echo = "--echo" in args
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if "--rcvbuf" in args:
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(args[args.index("--rcvbuf") + 1]))
    ls.bind(("::", port))
    ls.listen(1)
    print("ready", file=sys.stderr, flush=True)
    c, _ = ls.accept()
    if "--idle" in args:
        c.settimeout(float(args[args.index("--idle") + 1]))
    total, sizes, ok, how = 0, [], True, "eof"
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            sizes.append(len(b))
            if not echo:
                ok = ok and b == pattern(total, len(b))
            total += len(b)
            if echo:
                c.sendall(b)
    except socket.timeout:
        how = "idle"
    except OSError as e:
        how = ended(e)
    print(json.dumps({"bytes": total, "recvs": len(sizes), "max_recv": max(sizes, default=0),
                      "sizes": sizes[:2000], "ok_bytes": ok, "ended": how}), flush=True)


def ping(args):
    host, port, n = args[0], int(args[1]), int(args[2])
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.connect((host, port))
    print("ready", file=sys.stderr, flush=True)
    replies, how = 0, "done"
    try:
        for i in range(n):
            s.sendall(b"ping%04d" % i)
            got = b""
            while len(got) < 8:
                b = s.recv(8 - len(got))
                if not b:
                    raise EOFError("eof")
                got += b
            replies += 1
            time.sleep(0.02)
    except (OSError, EOFError) as e:
        how = ended(e)
    print(json.dumps({"replies": replies, "ended": how}), flush=True)


def send(args):
    host, port, total = args[0], int(args[1]), int(args[2])
    chunk = int(args[args.index("--chunk") + 1]) if "--chunk" in args else 65536
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    if "--nodelay" in args:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((host, port))
    print("ready", file=sys.stderr, flush=True)
    sent, how = 0, "done"
    try:
        while sent < total:
            n = min(chunk, total - sent)
            s.sendall(pattern(sent, n))
            sent += n
        s.shutdown(socket.SHUT_WR)
        # Wait for the peer's close (or a reset) so that every byte was taken.
        while s.recv(4096):
            pass
    except OSError as e:
        how = ended(e)
    print(json.dumps({"sent": sent, "ended": how}), flush=True)


def main():
    cmds = {"server": server, "ping": ping, "send": send}
    if len(sys.argv) < 3 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    cmds[sys.argv[1]](sys.argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())

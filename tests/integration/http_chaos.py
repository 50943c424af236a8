#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A chaos test as a user writes one, with the standard library only
(urllib): a real TCP client and server in two namespaces, faultline in
the server's, and the test switching faults on and off through the HTTP
API while the client measures what it gets.

  http_chaos.py server PORT                 echo server (run in the server's namespace)
  http_chaos.py client HOST PORT            client: reads commands on stdin, answers JSON lines
  http_chaos.py drive API NS_CLIENT NS_SERVER HOST PORT
                                            the test: starts both, drives faultline at API

Phases, each compared with the others in the same run (no absolute time
limit): no fault; a 'delay' rule (the round trip grows by about the
delay); the rule disabled (back down); enabled again (up); deleted (down);
a 'drop' rule while a request is in flight (the client's kernel
retransmits, the answer comes only after the rule is gone).
"""
import json
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

DELAY_MS = 100
ROUNDS = 15


# ---- the two ends ----

def serve(port):
    srv = socket.create_server(("", port), family=socket.AF_INET)
    print("ready", flush=True)
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        data = conn.recv(4096)
        if not data:
            return
        conn.sendall(data)


def total_retrans(sock):
    # struct tcp_info: 8 bytes of u8 fields, then u32s; tcpi_total_retrans is the 24th.
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return struct.unpack_from("I", info, 8 + 23 * 4)[0]


def exchange(sock, n):
    """One 32-byte request and its echo; returns the round trip in ms."""
    msg = b"%031d\n" % n
    t0 = time.monotonic()
    sock.sendall(msg)
    got = b""
    while len(got) < len(msg):
        part = sock.recv(len(msg) - len(got))
        if not part:
            raise SystemExit("client: server closed the connection")
        got += part
    if got != msg:
        raise SystemExit("client: echo differs: %r != %r" % (got, msg))
    return (time.monotonic() - t0) * 1000, time.monotonic()


def client(host, port):
    sock = socket.create_connection((host, port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    n = 0
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd, count = line.split()
        rtts, done = [], 0.0
        before = total_retrans(sock)
        for _ in range(int(count)):
            n += 1
            ms, done = exchange(sock, n)
            rtts.append(ms)
        print(json.dumps({"cmd": cmd, "rtts": rtts, "done_at": done,
                          "retrans": total_retrans(sock) - before}), flush=True)


# ---- the test ----

class Api:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, expect=200):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        if status != expect:
            raise SystemExit("%s %s: %d %s, expected %d" % (method, path, status, text, expect))
        return json.loads(text) if text else None


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def log(msg):
    print("  " + msg, file=sys.stderr, flush=True)


def drive(api_url, ns_client, ns_server, host, port):
    api = Api(api_url)
    me = sys.argv[0]
    server = subprocess.Popen(["ip", "netns", "exec", ns_server, sys.executable, me, "server", str(port)],
                              stdout=subprocess.PIPE, text=True)
    procs = [server]
    try:
        if server.stdout.readline().strip() != "ready":
            fail("server did not start")
        cl = subprocess.Popen(["ip", "netns", "exec", ns_client, sys.executable, me, "client", host, str(port)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(cl)
        if not json.loads(cl.stdout.readline()).get("ready"):
            fail("client did not connect")
        run_phases(api, cl, port)
        cl.stdin.close()
        cl.wait(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def measure(cl, name, rounds=ROUNDS):
    cl.stdin.write("%s %d\n" % (name, rounds))
    cl.stdin.flush()
    line = cl.stdout.readline()
    if not line:
        fail("client died during " + name)
    r = json.loads(line)
    r["median"] = statistics.median(r["rtts"])
    log("%-10s median round trip %7.2f ms (min %.2f, max %.2f), %d retransmissions"
        % (name, r["median"], min(r["rtts"]), max(r["rtts"]), r["retrans"]))
    return r


def rule(api, name):
    return api.call("GET", "/rules/" + name)


def run_phases(api, cl, port):
    before = api.call("GET", "/rules")
    measure(cl, "warm-up", 3)
    base = measure(cl, "no-fault")

    # A delay on the client's segments as they reach the server.
    added = api.call("POST", "/rules", {"name": "slow", "rule": "tcp dst port %d => delay %dms" % (port, DELAY_MS)},
                     expect=201)
    if added["name"] != "slow" or not added["enabled"]:
        fail("POST /rules answered %r" % added)
    slow = measure(cl, "delay")
    # At least the delay: a held packet is never let go before its time.
    if slow["median"] - base["median"] < DELAY_MS * 0.9:
        fail("delay on: the round trip grew by %.1f ms, expected about %d"
             % (slow["median"] - base["median"], DELAY_MS))
    if rule(api, "slow")["delayed"] < ROUNDS:
        fail("the rule counted %d delayed packets for %d requests" % (rule(api, "slow")["delayed"], ROUNDS))

    api.call("POST", "/rules/slow/disable")
    off = measure(cl, "disabled")
    if not off["median"] < slow["median"] - DELAY_MS / 2:
        fail("disabled: %.1f ms is not well below the delayed %.1f ms" % (off["median"], slow["median"]))

    api.call("POST", "/rules/slow/enable")
    on = measure(cl, "enabled")
    if on["median"] - off["median"] < DELAY_MS * 0.9:
        fail("enabled again: the round trip grew by %.1f ms, expected about %d"
             % (on["median"] - off["median"], DELAY_MS))

    api.call("DELETE", "/rules/slow", expect=204)
    gone = measure(cl, "deleted")
    if not gone["median"] < on["median"] - DELAY_MS / 2:
        fail("deleted: %.1f ms is not well below the delayed %.1f ms" % (gone["median"], on["median"]))
    api.call("GET", "/rules/slow", expect=404)

    # A drop while a request is in flight: the client's kernel retransmits
    # into it, and the answer comes only once the rule is gone.
    api.call("POST", "/rules", {"name": "cut", "rule": "tcp dst port %d => drop if data" % port}, expect=201)
    cl.stdin.write("stalled 1\n")
    cl.stdin.flush()
    dropped = 0
    for _ in range(600):
        dropped = rule(api, "cut")["dropped"]
        if dropped >= 3:
            break
        time.sleep(0.05)
    else:
        fail("the drop rule dropped %d segments in 30 s, expected the original and 2 retransmissions" % dropped)
    lifted = time.monotonic()
    api.call("DELETE", "/rules/cut", expect=204)
    line = cl.stdout.readline()
    if not line:
        fail("client died during the drop")
    stall = json.loads(line)
    log("stalled    one request took %.0f ms, %d retransmissions, %d segments dropped; answered %.0f ms after "
        "the drop was lifted" % (stall["rtts"][0], stall["retrans"], dropped, (stall["done_at"] - lifted) * 1000))
    if stall["retrans"] < 2:
        fail("the client retransmitted %d times under the drop, expected at least 2" % stall["retrans"])
    if stall["done_at"] < lifted:
        fail("the request was answered before the drop was lifted")

    after = measure(cl, "recovered")
    if after["retrans"] != 0:
        fail("%d retransmissions after the drop was lifted" % after["retrans"])
    if not after["median"] < on["median"] - DELAY_MS / 2:
        fail("recovered: %.1f ms is not well below the delayed %.1f ms" % (after["median"], on["median"]))
    now = api.call("GET", "/rules")
    if [r["rule"] for r in now] != [r["rule"] for r in before]:
        fail("the rules differ from the start: %r vs %r" % (now, before))
    print(json.dumps({"base_ms": base["median"], "delay_ms": slow["median"], "disabled_ms": off["median"],
                      "enabled_ms": on["median"], "deleted_ms": gone["median"], "stall_ms": stall["rtts"][0],
                      "stall_retrans": stall["retrans"], "dropped": dropped, "recovered_ms": after["median"]}))


def main():
    mode = sys.argv[1]
    if mode == "server":
        serve(int(sys.argv[2]))
    elif mode == "client":
        client(sys.argv[2], int(sys.argv[3]))
    elif mode == "drive":
        drive(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
    else:
        sys.exit("usage: see the top of this file")


if __name__ == "__main__":
    main()

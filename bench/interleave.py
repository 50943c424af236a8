#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""c against a in interleaved windows of one flood (bench/run.sh, TESTS=mix).

    interleave.py SECONDS WINDOW SETTLE IFACE ERRFILE -- FAULTLINE-COMMAND...

Run inside the receiving namespace while a flood arrives on IFACE. For
SECONDS, pairs of windows: one with nothing running (a), one with the
command running (c: started, ready, then SETTLE seconds), their order
turning each pair. Each window counts IFACE's received packets for WINDOW
seconds. The command is stopped (SIGTERM) after its window, so each c
window has a faultline of its own, as the bench's c tests do.

Why: on a shared VM the speed of a vCPU swings by 2x over seconds, and
tests of seconds each, even paired, leave c/a at +-30 % per pair. Windows
a second apart see nearly the same machine, and the flood never stops.

Prints "pair K CONFIG RATE" lines (packets per second) and, at the end,
"seen N": the packets the command's faultlines counted over all its runs
(their last JSON line on stdout); exits 1 when the command does not start.
"""
import json
import os
import signal
import subprocess
import sys
import time


def rx_packets(iface):
    with open("/sys/class/net/%s/statistics/rx_packets" % iface) as f:
        return int(f.read())


def window(iface, seconds):
    t0, c0 = time.monotonic(), rx_packets(iface)
    time.sleep(seconds)
    t1, c1 = time.monotonic(), rx_packets(iface)
    return (c1 - c0) / (t1 - t0)


def start(cmd, errfile):
    """The command, not pinned where this script is, once it says it is running."""
    cpus = set(range(os.cpu_count() or 1))
    err = open(errfile, "w+b")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                         preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        err.seek(0)
        if b"running" in err.read():
            return p
        if p.poll() is not None:
            break
        time.sleep(0.02)
    p.kill()
    p.wait()
    err.seek(0)
    sys.stderr.write("interleave.py: the command did not start:\n" + err.read().decode(errors="replace"))
    sys.exit(1)


def stop(p):
    """SIGTERM, its exit, and the packets it saw (its last JSON line's "packets")."""
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    seen = 0
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                seen = int(json.loads(line).get("packets", 0))
            except (ValueError, AttributeError):
                pass
    return seen


def main():
    if len(sys.argv) < 8 or sys.argv[6] != "--":
        sys.exit("usage: interleave.py SECONDS WINDOW SETTLE IFACE ERRFILE -- COMMAND...")
    secs, win, settle = (float(x) for x in sys.argv[1:4])
    iface, errfile, cmd = sys.argv[4], sys.argv[5], sys.argv[7:]
    end = time.monotonic() + secs
    seen = 0
    k = 0
    while time.monotonic() < end:
        k += 1
        for cfg in (("a", "c") if k % 2 else ("c", "a")):
            if cfg == "c":
                p = start(cmd, errfile)
                time.sleep(settle)
                rate = window(iface, win)
                seen += stop(p)
            else:
                time.sleep(settle)
                rate = window(iface, win)
            print("pair %d %s %.0f" % (k, cfg, rate), flush=True)
    print("seen %d" % seen, flush=True)


if __name__ == "__main__":
    main()

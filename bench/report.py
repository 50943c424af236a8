#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/run.sh's report: one table from the figures of every run, and
JSON lines appended to a file for comparison across commits.

    report.py REC.tsv OUT.jsonl key=value...

REC.tsv holds "run<TAB>name<TAB>value[<TAB>pair]" lines. Names: CONFIG/METRIC for the
configurations a-e, f0-f2 (many flows) and r1, rn (many rules), lat/CASE/PPS/FIGURE for the
lateness cases, hold/FIGURE for the capacity test, mix/a and mix/c (per pair) for
the interleaved windows. Ratios are taken within each run (x of run i
against a and b of run i), then summarised like the figures: min, median,
max. Lateness is the one-way time minus the delay minus the median
one-way time without interception at the same rate, in the same run.
Configurations a and c may run as alternating pairs within a run (pair
1, 2, ... in the fourth column): a run's figure is then the median of its
pairs, and c/a is taken per pair and summarised over every pair of every
run.
"""
import json
import statistics
import sys
from collections import defaultdict

CONFIGS = {
    "a": "none",
    "b": "nfq_accept",
    "c": "faultline, 1 rule, no match",
    "d": "faultline, 50 rules, none fire",
    "e": "faultline, delay 1ms",
}
# Configuration f: many flows, each from its own address, and the queues.
MANY = {
    "f0": "none",
    "f1": "faultline, --queues 1",
    "f2": "faultline, --queues 2",
}
MANY_RATIOS = (("f2", "f1"), ("f1", "f0"), ("f2", "f0"))
# Many rules: the one rule the traffic matches, and RULES_N rules on distinct
# ports with the same one among them, run as alternating pairs.
RULES = {
    "r1": "faultline, 1 rule, %s",
    "rn": "faultline, %s rules, %s",
}
# metric: (label, unit, "ratio" or "diff" against the baselines)
METRICS = {
    "tcp_gbps": ("TCP", "Gbit/s", "ratio"),
    "udp_kpps": ("UDP 64B", "kpps", "ratio"),
    "rtt_p50_us": ("RTT p50", "us", "diff"),
    "rtt_p99_us": ("RTT p99", "us", "diff"),
    # CPU time of the UDP test's processes per packet delivered.
    "udp_cpu_ns": ("UDP CPU", "ns/pkt", "ratio"),
}


def load(path):
    """runs[run][name]: the figure (the median of its pairs when paired);
    pairs[run][name][pair]: the paired figures."""
    runs = defaultdict(dict)
    pairs = defaultdict(lambda: defaultdict(dict))
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) not in (3, 4) or not parts[2]:
            continue
        try:
            r, v = int(parts[0]), float(parts[2])
            k = int(parts[3]) if len(parts) == 4 else 0
        except ValueError:
            continue
        if k:
            pairs[r][parts[1]][k] = v
        else:
            runs[r][parts[1]] = v
    for r in pairs:
        for name, by_pair in pairs[r].items():
            runs[r][name] = statistics.median(by_pair.values())
    return runs, pairs


def against(runs, pairs, x, base, op):
    """op(x's figure, base's figure) for every pair both ran in, or per run
    where they are not paired: the values to summarise."""
    out = []
    for r in sorted(runs):
        px, pb = pairs.get(r, {}).get(x), pairs.get(r, {}).get(base)
        if px and pb:
            out += [op(px[k], pb[k]) for k in sorted(px) if k in pb and op(px[k], pb[k]) is not None]
        elif x in runs[r] and base in runs[r]:
            v = op(runs[r][x], runs[r][base])
            if v is not None:
                out.append(v)
    return out


def summary(values):
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def fmt(s, digits=2):
    if not s:
        return "n/a"
    if s["n"] == 1:
        return "%.*f" % (digits, s["median"])
    return "%.*f [%.*f-%.*f]" % (digits, s["median"], digits, s["min"], digits, s["max"])


def per_run(runs, fn):
    """fn(run figures) -> value or None, for each run; the values."""
    out = []
    for r in sorted(runs):
        v = fn(runs[r])
        if v is not None:
            out.append(v)
    return out


def many_flows(runs, emit):
    """Configuration f's table: TCP and UDP through 0, 1 and 2 queues, the
    ratios within each run, and how evenly the kernel spread the flows."""
    metrics = ("tcp_gbps", "udp_kpps")
    if not any("%s/%s" % (c, m) in r for r in runs.values() for c in MANY for m in metrics):
        return
    print()
    print("%-32s" % "many flows (f)" + "".join(" %22s" % ("%s %s" % METRICS[m][:2]) for m in metrics)
          + " %22s" % "largest queue's share")
    for c, cname in MANY.items():
        row = "%-32s" % ("%s %s" % (c, cname))
        for m in metrics:
            s = summary(per_run(runs, lambda r, m=m: r.get("%s/%s" % (c, m))))
            row += " %22s" % fmt(s, 2 if m == "tcp_gbps" else 1)
            emit("figure", "%s/%s" % (c, m), METRICS[m][1], s)
        shares = []
        for t in ("tcp", "udp"):
            s = summary(per_run(runs, lambda r, t=t: r.get("%s/queue_share_%s" % (c, t))))
            if s:
                shares.append("%s %s" % (t, fmt(s, 2)))
                emit("share", "%s/queue_share_%s" % (c, t), "fraction", s)
        row += " %22s" % (", ".join(shares) if c != "f0" else "")
        print(row)
    for c, base in MANY_RATIOS:
        row = "%-32s" % ("%s/%s" % (c, base))
        for m in metrics:
            f = lambda r, m=m: (r["%s/%s" % (c, m)] / r["%s/%s" % (base, m)]
                                if r.get("%s/%s" % (c, m)) and r.get("%s/%s" % (base, m)) else None)
            s = summary(per_run(runs, f))
            row += " %22s" % fmt(s, 2)
            emit("ratio", "%s/%s/%s" % (c, base, m), "ratio", s)
        print(row)


def many_rules(runs, pairs, meta, emit):
    """The r1/rn table: TCP, UDP and its CPU per packet with one rule and
    with RULES_N, rn/r1 per pair, and what the kernel queued for each."""
    metrics = ("tcp_gbps", "udp_kpps", "udp_cpu_ns")
    if not any("%s/%s" % (c, m) in r for r in runs.values() for c in RULES for m in metrics):
        return
    print()
    print("%-32s" % "many rules (r)" + "".join(" %22s" % ("%s %s" % METRICS[m][:2]) for m in metrics))
    for c, cname in RULES.items():
        match = meta.get("rules_match", "1") != "0"
        if c == "r1":
            name = cname % ("matching" if match else "no match")
        else:
            name = cname % (meta.get("rules_n", "N"), "1 matching" if match else "none match")
        row = "%-32s" % ("%s %s" % (c, name))
        for m in metrics:
            s = summary(per_run(runs, lambda r, m=m: r.get("%s/%s" % (c, m))))
            row += " %22s" % fmt(s, 2 if m == "tcp_gbps" else 1 if m == "udp_kpps" else 0)
            emit("figure", "%s/%s" % (c, m), METRICS[m][1], s)
        print(row)
    row = "%-32s" % "rn/r1 (per pair)"
    for m in metrics:
        s = summary(against(runs, pairs, "rn/%s" % m, "r1/%s" % m, lambda x, b: x / b if b else None))
        row += " %22s" % fmt(s, 2)
        emit("ratio", "rn/r1/%s" % m, "ratio", s)
    print(row)
    # What the kernel queued: the programs and port sets its jumps ran, and of the stray
    # datagrams to a port no rule names, how many packets reached the queue.
    for c in RULES:
        parts = []
        for t in ("tcp", "udp"):
            for fig, label in (("programs", "bpf programs"), ("sets", "port set jumps"),
                               ("stray_queued", "stray packets queued")):
                k = "%s/%s_%s" % (c, fig, t)
                vals = [v for r in runs for v in (pairs.get(r, {}).get(k, {}).values() or
                                                   ([runs[r][k]] if k in runs[r] else []))]
                s = summary(vals)
                if s:
                    parts.append("%s %s %s" % (t, label, fmt(s, 0)))
                    emit("queued", k, "count", s)
        if parts:
            print("  %s: %s" % (c, ", ".join(parts)))


def interleaved(runs, pairs, emit):
    """TESTS=mix: c/a of the UDP rate per pair of windows of one flood, over
    every pair of every run, with its quartiles (the pairs are many)."""
    v = sorted(against(runs, pairs, "mix/c", "mix/a", lambda x, b: x / b if b else None))
    if not v:
        return
    s = summary(v)
    q1, q3 = v[len(v) // 4], v[(3 * len(v)) // 4]
    emit("ratio", "mix/c/a/udp_kpps", "ratio", s, q1=q1, q3=q3)
    a = summary(per_run(runs, lambda r: r.get("mix/a")))
    seen = sum(r.get("mix/seen", 0) for r in runs.values())
    print()
    print("c/a of the UDP rate in interleaved windows of one flood (TESTS=mix): %s, quartiles %.3f-%.3f,"
          % (fmt(s, 3), q1, q3))
    print("  %d pairs; a's rate %s kpps; faultline saw %d packets of the flood" % (s["n"], fmt(a, 1), seen))


def main():
    rec, out_path = sys.argv[1], sys.argv[2]
    meta = dict(a.split("=", 1) for a in sys.argv[3:])
    runs, pairs = load(rec)
    lines = []

    def emit(kind, name, unit, s, **extra):
        if s:
            lines.append(dict(meta, kind=kind, name=name, unit=unit, **s, **extra))

    print()
    print("faultline bench, commit %s, %s, load %s, %s run(s), %s s per throughput test"
          % (meta.get("commit"), meta.get("date"), meta.get("load"), meta.get("runs"), meta.get("dur")))
    print("median [min-max] over the runs; ratios and differences taken within each run,")
    print("for a and c run as alternating pairs: per adjacent pair, over every pair (%s per run)"
          % meta.get("pairs", "0"))
    if meta.get("pairs_bd", "0") != "0":
        print("for b and d likewise (%s pairs per run)" % meta["pairs_bd"])
    print()
    head = "%-32s" % "configuration"
    for m, (label, unit, _) in METRICS.items():
        head += " %22s" % ("%s %s" % (label, unit))
    # CONFIGS=f alone, or TESTS="lat hold": no a-e table.
    if any("%s/%s" % (c, m) in r for r in runs.values() for c in CONFIGS for m in METRICS):
        print(head)
    for c, cname in CONFIGS.items():
        # D_KIND other than the default: the rules whose filters run.
        if c == "d" and meta.get("d_kind", "window") != "window":
            cname = "faultline, 50 rules (%s)" % meta["d_kind"]
        row = "%-32s" % ("%s %s" % (c, cname))
        any_fig = False
        for m, (label, unit, _) in METRICS.items():
            s = summary(per_run(runs, lambda f: f.get("%s/%s" % (c, m))))
            any_fig |= bool(s)
            row += " %22s" % fmt(s, 2 if m == "tcp_gbps" else 1 if m == "udp_kpps" else 0)
            emit("figure", "%s/%s" % (c, m), unit, s)
        if any_fig:
            print(row)
    if len({c for r in runs.values() for c in CONFIGS for m in METRICS if "%s/%s" % (c, m) in r}) > 1:
        print()
        print("%-32s" % "against the baselines" + "".join(" %22s" % METRICS[m][0] for m in METRICS))
    for c in CONFIGS:
        for base in ("a", "b"):
            if c <= base:
                continue
            row = "%-32s" % ("%s/%s" % (c, base))
            any_fig = False
            for m, (label, unit, how) in METRICS.items():
                if how == "ratio":
                    s = summary(against(runs, pairs, "%s/%s" % (c, m), "%s/%s" % (base, m),
                                        lambda x, b: x / b if b else None))
                    row += " %22s" % fmt(s, 2)
                    emit("ratio", "%s/%s/%s" % (c, base, m), "ratio", s)
                else:
                    s = summary(against(runs, pairs, "%s/%s" % (c, m), "%s/%s" % (base, m),
                                        lambda x, b: x - b))
                    row += " %22s" % (("+" if s and s["median"] >= 0 else "") + fmt(s, 0))
                    emit("diff", "%s-%s/%s" % (c, base, m), unit, s)
                any_fig |= bool(s)
            if any_fig:
                print(row)
    interleaved(runs, pairs, emit)
    # Packets the program saw against the NFQUEUE rules' counter: below 100 %, fail-open passed some unseen.
    many_flows(runs, emit)
    many_rules(runs, pairs, meta, emit)
    seen = []
    for c in list(CONFIGS) + list(MANY) + list(RULES):
        for t in ("tcp", "udp", "ping"):
            total = lambda k: sum(sum(pairs[r][k].values()) if k in pairs.get(r, {}) else runs[r].get(k, 0)
                                  for r in runs)
            sn = total("%s/seen_%s" % (c, t))
            qn = total("%s/queued_%s" % (c, t))
            if qn:
                seen.append("%s %s %d/%d" % (c, t, sn, qn))
                lines.append(dict(meta, kind="seen", name="%s/%s" % (c, t), seen=sn, queued=qn))
    if seen:
        print()
        print("seen/queued (program's count / NFQUEUE rule counter, all runs): " + ", ".join(seen))

    cases = sorted({k.split("/")[1] for r in runs.values() for k in r if k.startswith("lat/")} - {"timer"})
    # A -sleep case's receiver slept: its baseline is base-sleep's, measured the same way.
    base_of = lambda case, pps: "lat/%s/%d/p50_us" % ("base-sleep" if case.endswith("-sleep") else "base", pps)
    rates = sorted({int(k.split("/")[2]) for r in runs.values() for k in r if k.startswith("lat/")})
    if cases:
        print()
        print("delay lateness: one-way time - delay - median one-way time without interception, us,")
        print("to a receiver polling its socket (-sleep: sleeping in recv, against its own baseline);")
        print("faultline's CPU (% of one CPU) while sending, of which spinning to deadlines;")
        print("faultline's own release lateness (its release_late_us: release time - due), us")
        print("(timer floor): how late a thread sleeping on a timerfd woke, same run, us")
        print("%-14s %7s %22s %22s %22s %16s %14s %16s %18s %18s" % ("delay", "pps", "p50", "p99", "max", "CPU %",
                                                                "spin %", "own p50", "own p99", "own max"))
        for pps in rates:
            for b, label in (("base", "(no faultline)"), ("base-sleep", "(sleeping rcv)")):
                s = summary(per_run(runs, lambda r: r.get("lat/%s/%d/p50_us" % (b, pps))))
                if s:
                    print("%-14s %7d %22s %22s %22s" % (label, pps, "one-way " + fmt(s, 0),
                          fmt(summary(per_run(runs, lambda r: r.get("lat/%s/%d/p99_us" % (b, pps)))), 0),
                          fmt(summary(per_run(runs, lambda r: r.get("lat/%s/%d/max_us" % (b, pps)))), 0)))
                    emit("latency", "lat/%s/%d/p50" % (b, pps), "us", s)
            # The floor under any release that sleeps: a timerfd's wake-up lateness.
            t = [summary(per_run(runs, lambda r, q=q: r.get("lat/timer/%d/%s_us" % (pps, q))))
                 for q in ("p50", "p99", "max")]
            if t[0]:
                print("%-14s %7d %22s %22s %22s" % ("(timer floor)", pps, fmt(t[0], 0), fmt(t[1], 0), fmt(t[2], 0)))
                for q, s in zip(("p50", "p99", "max"), t):
                    emit("timer_floor", "lat/timer/%d/%s" % (pps, q), "us", s)
            for case in sorted((c for c in cases if not c.startswith("base")), key=lambda c: (int(c.split("ms")[0]), c)):
                delay_us = int(case.split("ms")[0]) * 1000
                base = base_of(case, pps)
                row = "%-14s %7d" % (case, pps)
                for q in ("p50", "p99", "max"):
                    key = "lat/%s/%d/%s_us" % (case, pps, q)
                    f = lambda r, key=key: (r[key] - delay_us - r[base] if key in r and base in r else None)
                    s = summary(per_run(runs, f))
                    row += " %22s" % fmt(s, 0)
                    emit("lateness", "lat/%s/%d/%s" % (case, pps, q), "us", s)
                for fig in ("cpu_pct", "spin_pct"):
                    s = summary(per_run(runs, lambda r, fig=fig: r.get("lat/%s/%d/%s" % (case, pps, fig))))
                    row += " %16s" % fmt(s, 1) if fig == "cpu_pct" else " %14s" % fmt(s, 1)
                    emit("cpu", "lat/%s/%d/%s" % (case, pps, fig), "%", s)
                for q, w in (("p50", 16), ("p99", 18), ("max", 18)):
                    s = summary(per_run(runs, lambda r, q=q: r.get("lat/%s/%d/rel_%s_us" % (case, pps, q))))
                    row += " %*s" % (w, fmt(s, 0))
                    emit("release_late", "lat/%s/%d/rel_%s" % (case, pps, q), "us", s)
                print(row)

    hold = {k for r in runs.values() for k in r if k.startswith("hold/")}
    if hold:
        print()
        parts = []
        for k in ("hold/queues", "hold/sent", "hold/held", "hold/queue_total", "hold/queue_dropped",
                  "hold/user_dropped"):
            s = summary(per_run(runs, lambda r, k=k: r.get(k)))
            parts.append("%s %s" % (k.split("/")[1], fmt(s, 0)))
            emit("capacity", k, "packets", s)
        # Past the kernel queue's length, fail-open passes packets unheld: queue_dropped does not count them.
        s = summary(per_run(runs, lambda r: (r["hold/sent"] - r["hold/queue_total"]
                                            if "hold/sent" in r and "hold/queue_total" in r else None)))
        parts.append("passed unheld (fail-open) %s" % fmt(s, 0))
        emit("capacity", "hold/unheld", "packets", s)
        print("held-packet capacity: " + ", ".join(parts))

    with open(out_path, "a") as f:
        for line in lines:
            f.write(json.dumps(line, sort_keys=True) + "\n")
    print()
    print("%d JSON lines appended to %s" % (len(lines), out_path))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reads the wall-clock trace of `bench serving-under-ingest --trace DIR` and charges slow calls to what was happening.

Usage: bench/stall-trace.py DIR [--timeline PHASE] [--bucket-ms 200] [--slow-ms 100]

Per phase: call latency p50/p99 as the client measured it; the gateway's request time (middleware entry to response
end) p50/p99; the gateway's and the client's thread-pool probe delay (how long a work item queued to the pool's global
queue waited) and sleep overshoot of a dedicated thread (held by GC suspensions and CPU starvation too); GC counts and
pause totals. Then, for the calls slower than --slow-ms: the share that overlap a gateway GC pause of >= 20 ms, a
client GC pause, or neither, and the median share of such a call's latency that GC pauses cover. --timeline prints
the phase in buckets: the slowest call scheduled in each, the longest gateway request, and what both processes did.
"""
import bisect, csv, os, statistics, sys


def load(directory, name):
    with open(os.path.join(directory, name)) as f:
        # The gateway is killed at the end of a run: its last line may be cut.
        return [r for r in csv.DictReader(f) if None not in r.values() and "" not in r.values()]


def pct(values, p):
    return values[min(len(values) - 1, int(len(values) * p / 100))] / 1000 if values else float("nan")


def between(times, rows, start, end):
    """Rows from the last one before start through end (so a pause that ends inside the window is counted)."""
    i = max(0, bisect.bisect_left(times, start) - 1)
    return rows[i:bisect.bisect_right(times, end + 10_000)]


def gc_pause(times, rows, start, end):
    w = between(times, rows, start, end)
    return float(w[-1]["gc_pause_ms"]) - float(w[0]["gc_pause_ms"]) if len(w) > 1 else 0.0


def main():
    args = sys.argv[1:]
    directory = args[0]
    option = lambda name, default: args[args.index(name) + 1] if name in args else default
    slow_us = int(option("--slow-ms", "100")) * 1000
    gw, cl = load(directory, "gateway-samples.csv"), load(directory, "client-samples.csv")
    calls, requests = load(directory, "client-calls.csv"), load(directory, "gateway-requests.csv")
    gwt, clt = [int(r["unix_us"]) for r in gw], [int(r["unix_us"]) for r in cl]
    req = sorted((int(r["start_unix_us"]), int(r["duration_us"])) for r in requests)
    phases = {}
    for c in calls:
        phases.setdefault(c["phase"], []).append(c)
    for phase, cs in phases.items():
        if phase == "warm-up":
            continue
        start = min(int(c["scheduled_unix_us"]) for c in cs)
        end = max(int(c["scheduled_unix_us"]) + int(c["latency_us"]) for c in cs)
        g, c = between(gwt, gw, start, end), between(clt, cl, start, end)
        lat = sorted(int(x["latency_us"]) for x in cs)
        srv = sorted(d for s, d in req if start <= s <= end)
        col = lambda rows, k: sorted(int(r[k]) for r in rows)
        gens = [int(g[-1][k]) - int(g[0][k]) for k in ("gen0", "gen1", "gen2")]
        cores = (float(g[-1]["cpu_ms"]) - float(g[0]["cpu_ms"])) / ((end - start) / 1000)
        print(f"{phase}: calls p50/p99 {pct(lat, 50):.1f}/{pct(lat, 99):.1f} ms; gateway request p50/p99 {pct(srv, 50):.1f}/{pct(srv, 99):.1f} ms; "
              f"gateway {cores:.2f} cores, GCs gen0/1/2 {gens}, paused {float(g[-1]['gc_pause_ms']) - float(g[0]['gc_pause_ms']):.0f} ms of {(end - start) / 1000:.0f} ms")
        print(f"    gateway pool probe p50/p99/max {pct(col(g, 'tp_probe_max_us'), 50):.1f}/{pct(col(g, 'tp_probe_max_us'), 99):.1f}/{pct(col(g, 'tp_probe_max_us'), 100):.1f} ms, "
              f"sleep overshoot p99 {pct(col(g, 'oversleep_us'), 99):.1f} ms, queue max {max(int(r['pending']) for r in g)}, threads {min(int(r['threads']) for r in g)}-{max(int(r['threads']) for r in g)}; "
              f"client pool probe p99/max {pct(col(c, 'tp_probe_max_us'), 99):.1f}/{pct(col(c, 'tp_probe_max_us'), 100):.1f} ms, client GC paused {float(c[-1]['gc_pause_ms']) - float(c[0]['gc_pause_ms']):.0f} ms")
        slow = [x for x in cs if int(x["latency_us"]) > slow_us]
        if not slow:
            continue
        spans = [(int(x["scheduled_unix_us"]), int(x["scheduled_unix_us"]) + int(x["latency_us"])) for x in slow]
        gp = [gc_pause(gwt, gw, s, e) for s, e in spans]
        cp = [gc_pause(clt, cl, s, e) for s, e in spans]
        covered = statistics.median(min(1.0, (a + b) * 1000 / (e - s)) for a, b, (s, e) in zip(gp, cp, spans))
        n = len(slow)
        print(f"    {n} calls > {slow_us // 1000} ms: {sum(a >= 20 for a in gp) / n:.0%} overlap a gateway GC pause >= 20 ms, "
              f"{sum(b >= 20 for b in cp) / n:.0%} a client GC pause, {sum(a < 20 and b < 20 for a, b in zip(gp, cp)) / n:.0%} neither; "
              f"GC pauses cover a median {covered:.0%} of such a call's latency")
    timeline = option("--timeline", None)
    if timeline:
        print_timeline(phases[timeline], gw, cl, req, int(option("--bucket-ms", "200")) * 1000)


def print_timeline(cs, gw, cl, req, bucket):
    start = min(int(c["scheduled_unix_us"]) for c in cs)
    end = max(int(c["scheduled_unix_us"]) + int(c["latency_us"]) for c in cs)
    rows = {}
    at = lambda t: rows.setdefault((t - start) // bucket, {})
    for c in cs:
        x = at(int(c["scheduled_unix_us"]))
        x["call"] = max(x.get("call", 0), int(c["latency_us"]) // 1000)
    for s, d in req:
        if start <= s <= end:
            x = at(s)
            x["req"] = max(x.get("req", 0), d // 1000)
    for prefix, samples in (("g", gw), ("c", cl)):
        previous = None
        for r in samples:
            t = int(r["unix_us"])
            if start - bucket <= t <= end:
                x = at(t)
                x[prefix + "os"] = max(x.get(prefix + "os", 0), int(r["oversleep_us"]) // 1000)
                x[prefix + "tp"] = max(x.get(prefix + "tp", 0), int(r["tp_probe_max_us"]) // 1000)
                if previous is not None:
                    x[prefix + "gc"] = x.get(prefix + "gc", 0) + float(r["gc_pause_ms"]) - float(previous["gc_pause_ms"])
            previous = r
    print(f"{'t s':>5} {'slowest call':>12} {'gw request':>10} | {'gw GC':>6} {'overshoot':>9} {'pool':>5} | {'client GC':>9} {'overshoot':>9} {'pool':>5}   (ms; GC pauses are counted where they end)")
    for k in sorted(rows):
        x = rows[k]
        print(f"{k * bucket / 1e6:5.1f} {x.get('call', 0):12} {x.get('req', 0):10} | {x.get('ggc', 0):6.0f} {x.get('gos', 0):9} {x.get('gtp', 0):5} | "
              f"{x.get('cgc', 0):9.0f} {x.get('cos', 0):9} {x.get('ctp', 0):5}")


if __name__ == "__main__":
    main()

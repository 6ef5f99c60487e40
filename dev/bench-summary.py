#!/usr/bin/env python3
"""Medians (and the three runs) of a dev/bench-side-by-side.sh result directory."""
import glob
import json
import statistics
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench-results/side-by-side"
med = statistics.median


def load(name):
    runs = []
    # `{relay}-{case}-{rep}.json`: the repetition is a number (so `connect` does not take `connect-jwt`).
    for path in sorted(glob.glob(f"{out}/{name}-[0-9]*.json")):
        lines = open(path).read().strip().splitlines()
        if lines:
            runs.append(json.loads(lines[-1]))
    return runs


def show(label, values, digits=1):
    values = [v for v in values if v is not None]
    if not values:
        return f"{label} n/a"
    runs = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{label} {med(values):.{digits}f} ({runs})"


for case in ["small", "large", "overload", "overload-half", "thousand"]:
    for relay in ["ours", "upstream"]:
        runs = load(f"{relay}-{case}")
        t = [r["bench"]["throughput"] for r in runs]
        print(
            f"{case:13} {relay:8} n={len(runs)} |",
            show("cpu-s/GB", [x["relay_cpu_s_per_gb"] for x in t], 2), "|",
            show("p50", [x["latency_ms"]["p50"] for x in t]), "|",
            show("p99", [x["latency_ms"]["p99"] for x in t]), "|",
            show("delivery%", [x["delivery_pct"] for x in t]), "|",
            show("first<1s mean%", [x["first_frame_within_1s_pct"] for x in t]), "|",
            show("first<1s worst%", [x["first_frame_within_1s_min_pct"] for x in t]), "|",
            show("rss peak MiB", [r["bench"]["relay"]["rss_peak_kib"] / 1024 for r in runs]), "|",
            show("relay cpu s", [x["relay_cpu_s"] for x in t], 2), "|",
            show("tool cpu s", [x["tool_cpu_s"] for x in t], 2), "|",
            "load", [r["loadavg_before"].split()[0] for r in runs],
        )
for relay in ["ours", "upstream"]:
    runs = load(f"{relay}-idle")
    i = [r["bench"]["idle"] for r in runs]
    print(
        f"idle     {relay:8} n={len(runs)} |",
        show("KiB/session", [x["per_session_kib"] for x in i]), "|",
        show("before MiB", [x["rss_before_kib"] / 1024 for x in i]), "|",
        show("open MiB", [x["rss_open_kib"] / 1024 for x in i]), "|",
        show("after MiB", [x["rss_after_close_kib"] / 1024 for x in i]), "|",
        "settle s", [x.get("idle_settle_s") for x in i], "|",
        "load", [r["loadavg_before"].split()[0] for r in runs],
    )
def setup_cpu_ms(run, connect):
    """Relay CPU ms per admitted session: of the measured round where the report has it, else of
    the whole relay process (its start-up included; reports of earlier builds of the tool)."""
    cpu = connect.get("relay_cpu_s")
    if cpu is None:
        cpu = run["bench"]["relay"]["cpu_s"]
    return cpu * 1000 / connect["admitted"]


for case in ["connect", "reconnect", "connect-jwt", "connect-apikey", "connect-pp"]:
    for relay in ["ours", "upstream"]:
        runs = load(f"{relay}-{case}")
        if not runs:
            continue
        c = [r["bench"]["connect"] for r in runs]
        print(
            f"{case:14} {relay:8} n={len(runs)} |",
            show("relay CPU ms/session", [setup_cpu_ms(r, x) for r, x in zip(runs, c)], 3), "|",
            show("admitted", [x["admitted"] for x in c], 0), "|",
            show("sessions/s", [x["sessions_per_s"] for x in c], 0), "|",
            show("set-up p50 ms", [x["latency_ms"]["p50"] for x in c]), "|",
            "load", [r["loadavg_before"].split()[0] for r in runs],
        )
for hops in [0, 1, 2]:
    runs = load(f"hops-{hops}")
    t = [r["bench"]["throughput"] for r in runs]
    print(
        f"hops {hops}           n={len(runs)} |",
        show("p50", [x["latency_ms"]["p50"] for x in t], 2), "|",
        show("p99", [x["latency_ms"]["p99"] for x in t], 2), "|",
        show("delivery%", [x["delivery_pct"] for x in t]), "|",
        "load", [r["loadavg_before"].split()[0] for r in runs],
    )

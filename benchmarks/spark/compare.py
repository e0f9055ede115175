#!/usr/bin/env python3
"""Compares the result files of sluice_spark_compare with those of its peers (spark_agg.py,
benchmarks/flink/flink_agg.py): the aggregates must agree (same (window, event_type) keys,
same counts, averages equal to 1e-9 relative) and every run must have read every row of the
files; then prints events/s of each and the ratios as a Markdown table.

Usage: compare.py SLUICE.json PEER.json [PEER.json ...] [--json OUT.json] [--also SLUICE2.json ...]
--also: more sluice results (other decode_threads or parallelism), checked and printed the
same way; the ratios in the summary are SLUICE.json's.
Exits 1 when the aggregates differ or a run read fewer rows than the files hold: a time is
only reported for equal results.
"""
import argparse
import json
import sys


def keyed(result):
    return {(a["window_start"], a["event_type"]): (a["event_count"], a["avg_value"]) for a in result["aggregates"]}


def peer_label(p):
    if p.get("engine") == "pyflink":
        return f"PyFlink {p.get('version')} {p.get('mode')}, parallelism {p.get('parallelism')}"
    return f"PySpark {p.get('version')} local[{p.get('cores')}]"


def startup_label(p):
    return "JVM + TableEnvironment start-up" if p.get("engine") == "pyflink" else "JVM + session start-up"


def sluice_label(s):
    label = f"sluice ({s.get('json_decoder')}, decode_threads {s.get('decode_threads', '?')}"
    if "parallelism" in s:
        label += f", parallelism {s['parallelism']}"
    return label + ")"


def best(result):
    return max(result["runs"], key=lambda r: r["events_per_s"])


def per_cpu(run):  # events per CPU second: the work done, whatever else the machine runs
    return run["input_rows"] / run["cpu_seconds"] if run.get("cpu_seconds") else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sluice")
    ap.add_argument("peers", nargs="+")
    ap.add_argument("--json", default="")
    ap.add_argument("--also", nargs="*", default=[])
    args = ap.parse_args()
    s = json.load(open(args.sluice))
    peers = [json.load(open(f)) for f in args.peers]
    others = [json.load(open(f)) for f in args.also]

    problems = []
    a = keyed(s)
    for result in [s] + others + peers:
        for i, r in enumerate(result["runs"]):
            if r["input_rows"] != result["events"]:
                problems.append(f"{result.get('engine')} run {i + 1} read {r['input_rows']} rows, "
                                f"the files hold {result['events']}")
    for result in others + peers:
        b, name = keyed(result), result.get("engine")
        if a.keys() != b.keys():
            problems.append(f"different windows: {len(a.keys() - b.keys())} only in sluice, "
                            f"{len(b.keys() - a.keys())} only in {name}")
        for k in sorted(a.keys() & b.keys()):
            (ca, va), (cb, vb) = a[k], b[k]
            if ca != cb or abs(va - vb) > 1e-9 * max(abs(va), abs(vb)):
                problems.append(f"{k}: sluice count {ca} avg {va!r}, {name} count {cb} avg {vb!r}")
    for msg in problems[:10]:
        print(f"compare: {msg}", file=sys.stderr)
    if problems:
        print(f"compare: {len(problems)} differences: no times reported", file=sys.stderr)
        return 1

    sb = best(s)
    s_cpu = max(per_cpu(r) for r in s["runs"])
    summary = {
        "events": s["events"], "files": s["files"], "aggregate_rows": len(a),
        "sluice_events_per_s_best": sb["events_per_s"], "sluice_seconds_best": sb["seconds"],
        "sluice_events_per_cpu_s": s_cpu, "sluice_decoder": s.get("json_decoder"),
        "sluice_decode_threads": s.get("decode_threads"), "sluice_parallelism": s.get("parallelism"),
        "peers": {},
    }
    for p in peers:
        pb, pf = best(p), p["runs"][0]
        p_cpu = max(per_cpu(r) for r in p["runs"])
        summary["peers"][p["engine"]] = {
            "label": peer_label(p),
            "events_per_s_best": pb["events_per_s"], "seconds_best": pb["seconds"],
            "seconds_first_run": pf["seconds"], "startup_s": p["startup_s"], "events_per_cpu_s": p_cpu,
            "ratio_warm": sb["events_per_s"] / pb["events_per_s"],
            "ratio_first_run": sb["events_per_s"] / pf["events_per_s"],
            "ratio_including_startup": (s["events"] / sb["seconds"]) / (p["events"] / (pf["seconds"] + p["startup_s"])),
            "ratio_per_cpu_s": s_cpu / p_cpu,
            "ratio_warm_also": {sluice_label(o): best(o)["events_per_s"] / pb["events_per_s"] for o in others},
        }
    names = " and ".join(["sluice"] + [peer_label(p) for p in peers])
    print(f"{names}: {summary['events']:,} events in {summary['files']} files, every row read, "
          f"{summary['aggregate_rows']} (window, event_type) aggregates, identical (counts exact, averages to 1e-9).\n")
    print("| engine | run | wall s | events/s (wall) | CPU s | events per CPU s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for result in others + [s]:
        for i, r in enumerate(result["runs"]):
            print(f"| {sluice_label(result)} | {i + 1} | {r['seconds']:.2f} | {r['events_per_s'] / 1e6:.2f} M | "
                  f"{r.get('cpu_seconds', float('nan')):.2f} | {per_cpu(r) / 1e6:.2f} M |")
    for p in peers:
        print(f"| {peer_label(p)} | {startup_label(p)} | {p['startup_s']:.2f} | | | |")
        for i, r in enumerate(p["runs"]):
            label = "1 (cold)" if i == 0 else f"{i + 1} (warm JVM)"
            print(f"| {peer_label(p)} | {label} | {r['seconds']:.2f} | {r['events_per_s'] / 1e6:.2f} M | "
                  f"{r.get('cpu_seconds', float('nan')):.2f} | {per_cpu(r) / 1e6:.2f} M |")
    print()
    for p in peers:
        q = summary["peers"][p["engine"]]
        print(f"sluice / {q['label']}, events/s (wall): {q['ratio_warm']:.1f}x against its best (warm) run, "
              f"{q['ratio_first_run']:.1f}x against its first run, "
              f"{q['ratio_including_startup']:.1f}x counting its start-up too; "
              f"events per CPU second: {q['ratio_per_cpu_s']:.1f}x.")
        for label, ratio in q["ratio_warm_also"].items():
            print(f"  {label}: {ratio:.1f}x against its best (warm) run.")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Compares the result files of sluice_spark_compare and spark_agg.py: the aggregates must
agree (same (window, event_type) keys, same counts, averages equal to 1e-9 relative), then
prints events/s of each and the ratio as a Markdown table.

Usage: compare.py SLUICE.json SPARK.json [--json OUT.json] [--also SLUICE2.json ...]
--also: more sluice results (other decode_threads), checked and printed the same way; the
ratios in the summary are SLUICE.json's.
Exits 1 when the aggregates differ.
"""
import argparse
import json
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sluice")
    ap.add_argument("spark")
    ap.add_argument("--json", default="")
    ap.add_argument("--also", nargs="*", default=[])
    args = ap.parse_args()
    s = json.load(open(args.sluice))
    p = json.load(open(args.spark))
    others = [json.load(open(f)) for f in args.also]

    def keyed(result):
        return {(a["window_start"], a["event_type"]): (a["event_count"], a["avg_value"]) for a in result["aggregates"]}

    b = keyed(p)
    problems = []
    for result in [s] + others:
        a = keyed(result)
        if a.keys() != b.keys():
            problems.append(f"different windows: {len(a.keys() - b.keys())} only in sluice, "
                            f"{len(b.keys() - a.keys())} only in Spark")
        for k in sorted(a.keys() & b.keys()):
            (ca, va), (cb, vb) = a[k], b[k]
            if ca != cb or abs(va - vb) > 1e-9 * max(abs(va), abs(vb)):
                problems.append(f"{k}: sluice count {ca} avg {va!r}, Spark count {cb} avg {vb!r}")
    a = keyed(s)
    for msg in problems[:10]:
        print(f"compare: {msg}", file=sys.stderr)
    if problems:
        return 1

    def best(result):
        return max(result["runs"], key=lambda r: r["events_per_s"])

    def per_cpu(run):  # events per CPU second: the work done, whatever else the machine runs
        return run["input_rows"] / run["cpu_seconds"] if run.get("cpu_seconds") else float("nan")

    sb, pb, pf = best(s), best(p), p["runs"][0]
    s_cpu = max(per_cpu(r) for r in s["runs"])
    p_cpu = max(per_cpu(r) for r in p["runs"])
    summary = {
        "events": s["events"], "files": s["files"], "aggregate_rows": len(a),
        "sluice_events_per_s_best": sb["events_per_s"], "sluice_seconds_best": sb["seconds"],
        "spark_events_per_s_best": pb["events_per_s"], "spark_seconds_best": pb["seconds"],
        "spark_seconds_first_run": pf["seconds"], "spark_startup_s": p["startup_s"],
        "sluice_events_per_cpu_s": s_cpu, "spark_events_per_cpu_s": p_cpu,
        "ratio_warm": sb["events_per_s"] / pb["events_per_s"],
        "ratio_first_run": sb["events_per_s"] / pf["events_per_s"],
        "ratio_including_startup": (s["events"] / sb["seconds"]) / (p["events"] / (pf["seconds"] + p["startup_s"])),
        "ratio_per_cpu_s": s_cpu / p_cpu,
        "sluice_decoder": s.get("json_decoder"), "sluice_decode_threads": s.get("decode_threads"),
        "spark_version": p.get("version"), "spark_cores": p.get("cores"),
    }
    for o in others:
        summary[f"ratio_warm_decode_threads_{o.get('decode_threads')}"] = best(o)["events_per_s"] / pb["events_per_s"]
    print(f"Both engines: {summary['events']:,} events in {summary['files']} files, "
          f"{summary['aggregate_rows']} (window, event_type) aggregates, identical (counts exact, averages to 1e-9).\n")
    print("| engine | run | wall s | events/s (wall) | CPU s | events per CPU s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for result in others + [s]:
        label = f"sluice ({result.get('json_decoder')}, decode_threads {result.get('decode_threads', '?')})"
        for i, r in enumerate(result["runs"]):
            print(f"| {label} | {i + 1} | {r['seconds']:.2f} | {r['events_per_s'] / 1e6:.2f} M | "
                  f"{r.get('cpu_seconds', float('nan')):.2f} | {per_cpu(r) / 1e6:.2f} M |")
    spark = f"PySpark {summary['spark_version']} local[{summary['spark_cores']}]"
    print(f"| {spark} | JVM + session start-up | {p['startup_s']:.2f} | | | |")
    for i, r in enumerate(p["runs"]):
        label = "1 (cold)" if i == 0 else f"{i + 1} (warm JVM)"
        print(f"| {spark} | {label} | {r['seconds']:.2f} | {r['events_per_s'] / 1e6:.2f} M | "
              f"{r.get('cpu_seconds', float('nan')):.2f} | {per_cpu(r) / 1e6:.2f} M |")
    print(f"\nsluice / Spark, events/s (wall): {summary['ratio_warm']:.1f}x against Spark's best (warm) run, "
          f"{summary['ratio_first_run']:.1f}x against its first run, "
          f"{summary['ratio_including_startup']:.1f}x counting Spark's start-up too; "
          f"events per CPU second: {summary['ratio_per_cpu_s']:.1f}x.")
    for o in others:
        print(f"With decode_threads {o.get('decode_threads')}: "
              f"{best(o)['events_per_s'] / pb['events_per_s']:.1f}x against Spark's best (warm) run.")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""compare.py reports times only for equal results: it must refuse a peer that dropped rows
(Flink's streaming file source can make whole files late), a peer whose aggregates differ,
and a peer missing a window, and accept equal results. Run by CTest (bench.peers_compare)."""
import json
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))


def result(engine, aggregates, input_rows, **extra):
    events = 30
    return {"engine": engine, "events": events, "files": 3, "startup_s": 1.0, **extra,
            "runs": [{"seconds": 1.0, "cpu_seconds": 1.0, "input_rows": input_rows, "events_per_s": input_rows}],
            "aggregates": aggregates}


def compare(tmp, sluice, peer):
    paths = []
    for name, r in (("sluice", sluice), ("peer", peer)):
        paths.append(os.path.join(tmp, name + ".json"))
        with open(paths[-1], "w") as fh:
            json.dump(r, fh)
    return subprocess.run([sys.executable, os.path.join(here, "compare.py"), *paths],
                          capture_output=True, text=True)


def main() -> int:
    aggs = [{"window_start": 0, "event_type": "click", "event_count": 10, "avg_value": 1.5},
            {"window_start": 300000000, "event_type": "view", "event_count": 20, "avg_value": 2.5}]
    sluice = result("sluice", aggs, 30, json_decoder="simdjson", decode_threads=2, parallelism=2)
    flink = {"version": "2", "mode": "streaming", "parallelism": 2}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("equal", result("pyflink", aggs, 30, **flink), 0),
            ("rows dropped", result("pyflink", aggs, 20, **flink), 1),
            ("a count differs", result("pyflink", [dict(aggs[0], event_count=9), aggs[1]], 30, **flink), 1),
            ("an average differs", result("pyflink", [aggs[0], dict(aggs[1], avg_value=2.6)], 30, **flink), 1),
            ("a window missing", result("pyflink", aggs[:1], 30, **flink), 1),
        ]
        for name, peer, want in cases:
            p = compare(tmp, sluice, peer)
            if p.returncode != want:
                failures.append(f"{name}: exit {p.returncode}, wanted {want}\n{p.stdout}{p.stderr}")
            elif want == 0 and "| PyFlink 2 streaming, parallelism 2 | 1 (cold) |" not in p.stdout:
                failures.append(f"{name}: no Flink row in the table\n{p.stdout}")
            elif want == 1 and "no times reported" not in p.stderr:
                failures.append(f"{name}: refused without saying why\n{p.stderr}")
    for f in failures:
        print(f"test_compare: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

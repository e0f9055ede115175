#!/usr/bin/env python3
"""Seed 004's Example 2 in PyFlink's Table API on a local mini-cluster, the Flink counterpart
of benchmarks/spark/spark_agg.py over the same files: JSON files -> watermark 10 min ->
5-minute tumbling windows per event_type -> count + avg(value). Flink SQL's window
aggregation (TUMBLE table function) emits each window once, when the watermark passes its
end (at the end of the files Flink sends the final watermark, so every window is emitted);
the rows are collected by the driver (they are few) so the final aggregates can be compared
with sluice's and Spark's.

Usage: flink_agg.py INPUT_DIR --out RESULT.json [--parallelism 2] [--runs 2]
                    [--mode streaming|batch] [--checkpoint-interval-ms 1000]
                    [--sources per-file|one]

--mode streaming (the default) is the streaming peer: rows flow with a watermark and late rows
are dropped, as in the other two engines (Flink has no maxFilesPerTrigger: the readers stream
the files through). --mode batch runs the same SQL in Flink's batch execution mode (the
watermark is ignored: nothing is late), Flink's own fastest way through bounded files, for
reference.
--sources per-file (the default): one bounded source per file, their union the input. --sources
one: one source over the directory; with fewer readers than files, a reader may take a file
older than one it has read, whose rows are then late (see below).
--checkpoint-interval-ms: streaming mode's checkpoints (0: none; Spark and sluice write one
per micro-batch, so the default takes one a second, to a fresh directory per run).

Times: the JVM (the gateway PyFlink starts) and TableEnvironment start-up (wall); each run of
the job from its submission to the last result row, in wall seconds and in CPU seconds of the
JVM and the Python driver (run 1 is cold: planning, code generation and the JIT's first pass
happen there; later runs are new jobs in the warm JVM). RESULT.json holds the times, events/s
and the aggregates of the last run.

Exits 1 when a run's windows do not hold every row of the files (the sum of the window counts
is the number of rows the aggregation took): Flink in streaming mode drops rows it judges
late, and a reader that takes a file older than the ones it has read makes that file late.
Such a run is not a comparison, whatever its time.
"""
import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "spark"))
from spark_agg import input_events, print_run, tree_cpu_seconds, write_result  # noqa: E402  (no pyspark needed)

EPOCH = datetime.datetime(1970, 1, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--out", required=True)
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--mode", choices=["streaming", "batch"], default="streaming")
    ap.add_argument("--checkpoint-interval-ms", type=int, default=1000)
    ap.add_argument("--sources", choices=["per-file", "one"], default="per-file")
    args = ap.parse_args()

    input_files, events = input_events(args.input)

    t0 = time.perf_counter()
    from pyflink.table import EnvironmentSettings, TableEnvironment

    settings = (EnvironmentSettings.in_streaming_mode() if args.mode == "streaming"
                else EnvironmentSettings.in_batch_mode())
    t_env = TableEnvironment.create(settings)
    config = t_env.get_config()
    config.set("parallelism.default", str(args.parallelism))
    config.set("table.local-time-zone", "UTC")
    config.set("pipeline.name", "sluice-flink-compare")
    startup_s = time.perf_counter() - t0

    def cpu_now() -> float:  # this Python driver and its children: the JVM PyFlink started
        return tree_cpu_seconds(os.getpid())

    # Only the columns the query reads; the JSON format skips the others. ts: the event time
    # at millisecond precision (Flink's time attributes stop at TIMESTAMP(3)); the cut never
    # moves a row across a 5-minute window boundary.
    def create_source(name: str, path: str, regex: str = "") -> None:
        regex_option = f"'source.path.regex-pattern' = '{regex}'," if regex else ""
        t_env.execute_sql(f"""
            CREATE TEMPORARY TABLE {name} (
                `timestamp` TIMESTAMP(6),
                event_type STRING,
                `value` DOUBLE,
                ts AS CAST(`timestamp` AS TIMESTAMP(3)),
                WATERMARK FOR ts AS ts - INTERVAL '10' MINUTE
            ) WITH (
                'connector' = 'filesystem',
                'path' = 'file://{os.path.abspath(path)}',
                {regex_option}
                'format' = 'json',
                'json.timestamp-format.standard' = 'ISO-8601',
                'json.fail-on-missing-field' = 'true',
                'json.ignore-parse-errors' = 'false'
            )""")

    if args.sources == "one":
        create_source("events", args.input, ".*/batch_[0-9]+\\.json")
    else:
        # One source per file, their union the input: each reader reads one file, so none reads
        # an older file after a newer one, and the window operator's watermark (the least of its
        # inputs') waits for the slowest file, as a micro-batch engine's does for its batch.
        for i, f in enumerate(input_files):
            create_source(f"events_{i}", os.path.join(args.input, f))
        t_env.execute_sql("CREATE TEMPORARY VIEW events AS " +
                          " UNION ALL ".join(f"SELECT * FROM events_{i}" for i in range(len(input_files))))
    query = """
        SELECT window_start, event_type, COUNT(*) AS event_count, AVG(`value`) AS avg_value
        FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '5' MINUTES))
        GROUP BY window_start, window_end, event_type"""

    runs = []
    latest = {}
    for run in range(args.runs):
        latest = {}
        checkpoint = None
        if args.mode == "streaming" and args.checkpoint_interval_ms > 0:
            checkpoint = tempfile.mkdtemp(prefix="sluice-flink-ckpt-")
            config.set("execution.checkpointing.interval", f"{args.checkpoint_interval_ms} ms")
            config.set("execution.checkpointing.dir", "file://" + checkpoint)
            config.set("execution.checkpointing.storage", "filesystem")
        try:
            cpu0 = cpu_now()
            t = time.perf_counter()
            result = t_env.execute_sql(query)
            with result.collect() as rows:
                for r in rows:
                    window_start = (r[0] - EPOCH) // datetime.timedelta(microseconds=1)
                    latest[(window_start, r[1])] = (int(r[2]), float(r[3]))
            seconds = time.perf_counter() - t
            cpu_seconds = cpu_now() - cpu0
        finally:
            if checkpoint:
                shutil.rmtree(checkpoint, ignore_errors=True)
        input_rows = sum(c for c, _ in latest.values())
        runs.append({"seconds": seconds, "cpu_seconds": cpu_seconds, "input_rows": input_rows,
                     "events_per_s": input_rows / seconds if seconds > 0 else None})
        print_run("flink", run, input_rows, seconds, cpu_seconds)

    import pyflink.version
    write_result(args.out, {"engine": "pyflink", "version": pyflink.version.__version__, "mode": args.mode,
                            "parallelism": args.parallelism, "sources": args.sources,
                            "checkpoint_interval_ms": args.checkpoint_interval_ms, "events": events,
                            "files": len(input_files), "startup_s": startup_s, "runs": runs}, latest)
    bad = [r for r in runs if r["input_rows"] != events]
    if bad:
        print(f"flink_agg: a run's windows hold {bad[0]['input_rows']} rows, the files {events}: Flink dropped "
              f"{events - bad[0]['input_rows']} rows as late ({args.mode} mode, parallelism {args.parallelism}, "
              f"{len(input_files)} files, --sources {args.sources}); no comparison on unequal results", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

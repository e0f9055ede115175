#!/usr/bin/env python3
"""Seed 004's Example 2 in PySpark local mode: JSON files -> watermark 10 min -> 5-minute
tumbling windows per event_type -> count + avg(value), output mode update, one file per
trigger (maxFilesPerTrigger 1, as the seed), run with trigger availableNow until the input is
consumed. The sink is foreachBatch keeping the latest row per (window, event_type) on the
driver (the rows are few), so the final aggregates can be compared with sluice's.

Usage: spark_agg.py INPUT_DIR --out RESULT.json [--cores 2] [--runs 2]

Times: the JVM and SparkSession start-up (wall); each run of the query from start() to its
end, in wall seconds and in CPU seconds of the JVM and the Python driver (run 1 is cold: query planning and code generation happen there; later runs reuse
the warm JVM with a fresh checkpoint). RESULT.json holds the times, events/s and the
aggregates of the last run.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) of process `root` and its descendants (the JVM), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                text = fh.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        stats[int(d)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)  # ppid, utime + stime
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
        todo.extend(p for p, (ppid, _) in stats.items() if ppid == pid)
    return total


def process_cpu_seconds() -> float:
    import resource
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def input_events(input_dir: str):
    """The batch_*.json files of input_dir, sorted, and the events (lines) they hold."""
    files = sorted(f for f in os.listdir(input_dir) if f.startswith("batch_") and f.endswith(".json"))
    events = 0
    for f in files:
        with open(os.path.join(input_dir, f), "rb") as fh:
            events += sum(1 for _ in fh)
    return files, events


def print_run(engine: str, run: int, rows: int, seconds: float, cpu_seconds: float) -> None:
    print(f"{engine} run {run + 1}: {rows} rows in {seconds:.2f} s ({cpu_seconds:.2f} s CPU) = "
          f"{rows / seconds / 1e3:.1f} K events/s", file=sys.stderr, flush=True)


def write_result(path: str, result: dict, latest: dict) -> None:
    """Writes RESULT.json: result and the aggregates of latest, {(window_start, event_type): (count, avg)}."""
    result = dict(result, aggregates=[{"window_start": k[0], "event_type": k[1], "event_count": v[0], "avg_value": v[1]}
                                      for k, v in sorted(latest.items())])
    with open(path, "w") as fh:
        json.dump(result, fh, indent=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()

    t0 = time.perf_counter()
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType

    spark = (SparkSession.builder.master(f"local[{args.cores}]").appName("sluice-spark-compare")
             # 200 shuffle partitions (the default) on 2 cores would measure task overhead
             .config("spark.sql.shuffle.partitions", str(args.cores))
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.memory", "2g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    jvm = spark.sparkContext._gateway.proc.pid  # spark-submit's process: the JVM (and its launcher)

    def cpu_now() -> float:  # the JVM's CPU time plus this Python driver's
        return tree_cpu_seconds(jvm) + process_cpu_seconds()

    startup_s = time.perf_counter() - t0

    schema = StructType([
        StructField("event_id", StringType()),
        StructField("timestamp", TimestampType()),
        StructField("user_id", LongType()),
        StructField("event_type", StringType()),
        StructField("value", DoubleType()),
    ])
    input_files, events = input_events(args.input)

    runs = []
    latest = {}
    for run in range(args.runs):
        latest = {}
        input_rows = [0]

        def keep_latest(df, batch_id):
            for r in df.collect():
                latest[(r["window_start"], r["event_type"])] = (r["event_count"], r["avg_value"])

        stream = (spark.readStream.format("json").schema(schema).option("maxFilesPerTrigger", 1)
                  .load(args.input))
        windowed = (stream.withWatermark("timestamp", "10 minutes")
                    .groupBy(F.window(F.col("timestamp"), "5 minutes"), F.col("event_type"))
                    .agg(F.count("*").alias("event_count"), F.avg("value").alias("avg_value"))
                    .select(F.unix_micros(F.col("window.start")).alias("window_start"), "event_type",
                            "event_count", "avg_value"))
        checkpoint = tempfile.mkdtemp(prefix="sluice-spark-ckpt-")
        try:
            cpu0 = cpu_now()
            t = time.perf_counter()
            query = (windowed.writeStream.outputMode("update").foreachBatch(keep_latest)
                     .option("checkpointLocation", checkpoint).trigger(availableNow=True).start())
            query.awaitTermination()
            seconds = time.perf_counter() - t
            cpu_seconds = cpu_now() - cpu0
            batches = 0
            for p in query.recentProgress:
                input_rows[0] += p["numInputRows"]
                batches += 1
        finally:
            shutil.rmtree(checkpoint, ignore_errors=True)
        runs.append({"seconds": seconds, "cpu_seconds": cpu_seconds, "input_rows": input_rows[0], "progress_entries": batches,
                     "events_per_s": input_rows[0] / seconds if seconds > 0 else None})
        print_run("spark", run, input_rows[0], seconds, cpu_seconds)

    spark.stop()
    write_result(args.out, {"engine": "pyspark", "version": __import__("pyspark").__version__, "cores": args.cores,
                            "events": events, "files": len(input_files), "startup_s": startup_s, "runs": runs}, latest)
    bad = [r for r in runs if r["input_rows"] != events]
    if bad:
        print(f"spark_agg: a run read {bad[0]['input_rows']} rows, the files hold {events}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

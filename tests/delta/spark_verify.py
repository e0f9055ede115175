#!/usr/bin/env python3
"""Apache Spark itself (pyspark + delta-spark, local mode) reads a Delta table written by sluice.

    spark_verify.py TABLE --expected ROWS.jsonl --app-id ID --txn N [--ivy DIR]

Checks, with Spark's Delta implementation:
  * the table's rows (spark.read.format("delta")) equal the expected rows (a multiset);
  * the txn version of the app id (DeltaLog.snapshot.transactions, Spark's own log replay,
    which is what makes Spark's DeltaSink skip a batch) equals N;
  * DESCRIBE HISTORY lists every version and the latest operation is STREAMING UPDATE.
Prints one JSON summary line; exit status 0 when every check passed, 1 otherwise.
delta-spark's jars come from Maven Central on first use (cached in --ivy, default
~/.ivy2), so the first run is slower.
"""

import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify_table import multiset_diff  # noqa: E402


def spark_row(v):
    """A Spark Row (or value) as plain Python, timestamps as UTC datetimes."""
    if hasattr(v, "asDict"):
        return {k: spark_row(x) for k, x in v.asDict(recursive=False).items()}
    if isinstance(v, datetime.datetime):
        return v.replace(tzinfo=datetime.timezone.utc) if v.tzinfo is None else v
    if isinstance(v, (list, tuple)):
        return [spark_row(x) for x in v]
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--expected", required=True)
    ap.add_argument("--app-id", required=True)
    ap.add_argument("--txn", type=int, required=True)
    ap.add_argument("--ivy")
    a = ap.parse_args()
    a.table = os.path.abspath(a.table)

    os.environ.setdefault("TZ", "UTC")
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master("local[1]").appName("sluice-delta-verify")
               .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
               .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.databricks.delta.snapshotPartitions", "1")
               .config("spark.sql.shuffle.partitions", "1"))
    if a.ivy:
        builder = builder.config("spark.jars.ivy", a.ivy)
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    problems = []
    try:
        df = spark.read.format("delta").load(a.table)
        rows = [spark_row(r) for r in df.collect()]
        with open(a.expected, encoding="utf-8") as f:
            want = [json.loads(line) for line in f if line.strip()]
        multiset_diff("spark", rows, want, problems)

        jvm = spark._jvm
        delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, a.table)
        snapshot = delta_log.update(False, jvm.scala.Option.empty(), jvm.scala.Option.empty())
        txns = snapshot.transactions()  # scala Map[String, Long]
        got = txns.get(a.app_id)
        txn = int(got.get()) if got.isDefined() else None
        if txn != a.txn:
            problems.append("spark: txn version of %s is %s, expected %s" % (a.app_id, txn, a.txn))
        version = int(snapshot.version())
        history = spark.sql("DESCRIBE HISTORY delta.`%s`" % a.table).select("version", "operation").collect()
        versions = sorted(int(r["version"]) for r in history)
        if versions != list(range(version + 1)):
            problems.append("spark: history versions %s, expected 0..%d" % (versions[:10], version))
        latest_op = max(history, key=lambda r: r["version"])["operation"]
        if latest_op != "STREAMING UPDATE":
            problems.append("spark: the latest operation is %s" % latest_op)
        print(json.dumps({"spark_rows": len(rows), "spark_txn": txn, "spark_version": version, "ok": not problems}))
    finally:
        spark.stop()
    for p in problems:
        print(p, file=sys.stderr)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())

"""A Delta table written by Apache Spark itself (pyspark + delta-spark, local mode), for the test
of sluice's reader against Spark's log: partition directories and paths as Spark escapes and
encodes them, a Spark checkpoint (Spark writes one every 10 commits), and removes.

    python make_spark_table.py <table dir> [--ivy DIR]

Writes 12 appends partitioned by `part` (values that need escaping, and null), then a DELETE
of the rows with id % 10 == 3 (removes and rewritten files), so version 12 follows the
checkpoint at version 10; then deletes the JSON commits before the checkpoint, as log cleanup
does. Prints, as its last line of output (the JVM prints a line of its own first), the
report make_tables.py prints: {"version", "rows" (Spark's read, sorted by id,
timestamps in microseconds), "files", "duckdb": {"count", "sum_id"}}.
"""
import argparse
import datetime as dt
import json
import os
import sys

os.environ.setdefault("TZ", "UTC")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--ivy")
    a = ap.parse_args()
    path = os.path.abspath(a.table)

    import duckdb
    from delta import configure_spark_with_delta_pip
    from delta.tables import DeltaTable
    from pyspark.sql import SparkSession
    from pyspark.sql.types import (ArrayType, BooleanType, DoubleType, IntegerType, LongType, StringType,
                                   StructField, StructType, TimestampType)

    builder = (SparkSession.builder.master("local[1]").appName("sluice-delta-make")
               .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
               .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "1"))
    if a.ivy:
        builder = builder.config("spark.jars.ivy", a.ivy)
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")

    schema = StructType([
        StructField("id", LongType(), False),
        StructField("name", StringType(), False),
        StructField("score", DoubleType(), False),
        StructField("flag", BooleanType(), False),
        StructField("ts", TimestampType(), False),
        StructField("maybe", IntegerType(), True),
        StructField("span", StructType([StructField("start", TimestampType(), False),
                                        StructField("end", TimestampType(), False)]), False),
        StructField("tags", ArrayType(LongType(), False), False),
        StructField("part", StringType(), True),
    ])
    epoch = dt.datetime(2024, 1, 15, 10, 0, 0)  # naive: UTC (the session and the JVM run in UTC)
    parts = ["a b", "x:y/z", "q=1%", "\u00e9t\u00e9", None]

    def rows(first, n):
        out = []
        for i in range(first, first + n):
            start = epoch + dt.timedelta(minutes=5 * (i // 10))
            out.append((i, f"name-{i}", i * 1.5, i % 2 == 0, epoch + dt.timedelta(seconds=i, microseconds=i),
                        None if i % 3 == 0 else i * 10, (start, start + dt.timedelta(minutes=5)),
                        list(range(i % 4)), parts[i % len(parts)]))
        return out

    try:
        for k in range(12):
            (spark.createDataFrame(rows(10 * k, 10), schema).write.format("delta").mode("append")
             .partitionBy("part").save(path))
        DeltaTable.forPath(spark, path).delete("id % 10 = 3")
        log = os.path.join(path, "_delta_log")
        if not os.path.exists(os.path.join(log, f"{10:020d}.checkpoint.parquet")):
            raise SystemExit("Spark wrote no checkpoint at version 10")
        for name in os.listdir(log):
            if name.endswith(".json") and int(name[:20]) < 10:
                os.remove(os.path.join(log, name))

        df = spark.read.format("delta").load(path)
        files = [f[len("file:"):] if f.startswith("file:") else f for f in df.inputFiles()]
        epoch0 = dt.datetime(1970, 1, 1)

        def micros(t):
            return (t - epoch0) // dt.timedelta(microseconds=1)

        data = []
        for r in df.collect():
            d = r.asDict(recursive=True)
            d["ts"] = micros(d["ts"])
            d["span"] = {"start": micros(d["span"]["start"]), "end": micros(d["span"]["end"])}
            data.append(d)
        data.sort(key=lambda r: r["id"])
        con = duckdb.connect()
        count, sum_id = con.execute("SELECT count(*), coalesce(sum(id), 0) FROM read_parquet(?)", [files]).fetchone()
        version = DeltaTable.forPath(spark, path).history(1).collect()[0]["version"]
        print(json.dumps({"version": int(version), "rows": data, "files": len(files),
                          "duckdb": {"count": count, "sum_id": int(sum_id)}}))
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())

"""Delta tables written by delta-rs (the `deltalake` package), for the tests of sluice's
Delta reader and source, and what independent readers see in them.

    python make_tables.py <kind> <table dir> [<app id>]

kinds:
  appends       three appends of 10 rows (versions 0..2)
  overwrite     two appends, an overwrite (removes), an append (versions 0..3)
  partitioned   partitioned by `part`, with values that need escaping and a null
  checkpointed  12 appends, a delete (removes + rewrite), a checkpoint at the latest version,
                two more appends; then the commits before the checkpoint are deleted, as log
                cleanup does, so only the checkpoint knows the early files
  multipart     12 appends and a checkpoint at version 11, split into a two-part checkpoint
                (<v>.checkpoint.0000000001.0000000002.parquet ...) as Spark writes for big logs,
                `_last_checkpoint` saying parts = 2; the commits before it deleted
  delete_first  delete the rows with id < 10 (a commit that only removes a file)
  optimize      compact the table's files (removes and adds with dataChange = false)
  more          one more append of 10 rows to an existing table (for the streaming tests)
  txn           one append committed with a txn (appId from argv, version 7)
  read          write nothing; only report what the readers see

Prints one JSON object: {"version": v, "rows": [...] (delta-rs, sorted by id),
"duckdb": {"count": n, "sum_id": s} (DuckDB over the live Parquet files)}. Timestamps are
microseconds since the epoch.
"""
import datetime as dt
import json
import os
import sys

import duckdb
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    pa.field("name", pa.string(), nullable=False),
    pa.field("score", pa.float64(), nullable=False),
    pa.field("flag", pa.bool_(), nullable=False),
    pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("maybe", pa.int32(), nullable=True),
    pa.field("span", pa.struct([pa.field("start", pa.timestamp("us", tz="UTC"), nullable=False),
                                pa.field("end", pa.timestamp("us", tz="UTC"), nullable=False)]), nullable=False),
    pa.field("tags", pa.list_(pa.field("element", pa.int64(), nullable=False)), nullable=False),
    pa.field("part", pa.string(), nullable=True),
])
EPOCH = dt.datetime(2024, 1, 15, 10, 0, 0, tzinfo=dt.timezone.utc)
PARTS = ["a b", "x:y/z", "q=1%", "\u00e9t\u00e9", None]


def rows(first, n, part=None):
    out = []
    for i in range(first, first + n):
        ts = EPOCH + dt.timedelta(seconds=i, microseconds=i)
        start = EPOCH + dt.timedelta(minutes=5 * (i // 10))
        out.append({
            "id": i,
            "name": f"name-{i}",
            "score": i * 1.5,
            "flag": i % 2 == 0,
            "ts": ts,
            "maybe": None if i % 3 == 0 else i * 10,
            "span": {"start": start, "end": start + dt.timedelta(minutes=5)},
            "tags": list(range(i % 4)),
            "part": part(i) if part else "p",
        })
    return pa.Table.from_pylist(out, schema=SCHEMA)


def micros(t):
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def report(path):
    table = DeltaTable(path)
    data = table.to_pyarrow_table().to_pylist()
    for r in data:
        r["ts"] = micros(r["ts"])
        r["span"] = {"start": micros(r["span"]["start"]), "end": micros(r["span"]["end"])}
    data.sort(key=lambda r: r["id"])
    files = [u[len("file://"):] if u.startswith("file://") else u for u in table.file_uris()]
    con = duckdb.connect()
    if files:
        count, sum_id = con.execute("SELECT count(*), coalesce(sum(id), 0) FROM read_parquet(?)", [files]).fetchone()
    else:
        count, sum_id = 0, 0
    return {"version": table.version(), "rows": data, "files": len(files),
            "duckdb": {"count": count, "sum_id": int(sum_id)}}


def main():
    kind, path = sys.argv[1], sys.argv[2]
    if kind == "appends":
        for k in range(3):
            write_deltalake(path, rows(10 * k, 10), mode="append")
    elif kind == "overwrite":
        write_deltalake(path, rows(0, 10), mode="append")
        write_deltalake(path, rows(10, 10), mode="append")
        write_deltalake(path, rows(100, 5), mode="overwrite")
        write_deltalake(path, rows(105, 5), mode="append")
    elif kind == "partitioned":
        write_deltalake(path, rows(0, 10, lambda i: PARTS[i % len(PARTS)]), mode="append", partition_by=["part"])
        write_deltalake(path, rows(10, 10, lambda i: PARTS[i % len(PARTS)]), mode="append", partition_by=["part"])
    elif kind == "checkpointed":
        for k in range(12):
            write_deltalake(path, rows(10 * k, 10), mode="append")
        DeltaTable(path).delete("id >= 20 AND id < 25")
        table = DeltaTable(path)
        table.create_checkpoint()
        checkpoint_version = table.version()
        for k in range(12, 14):
            write_deltalake(path, rows(10 * k, 10), mode="append")
        log = os.path.join(path, "_delta_log")
        for name in os.listdir(log):
            if name.endswith(".json") and int(name[:20]) < checkpoint_version:
                os.remove(os.path.join(log, name))
    elif kind == "multipart":
        import pyarrow.parquet as pq
        for k in range(12):
            write_deltalake(path, rows(10 * k, 10), mode="append")
        table = DeltaTable(path)
        table.create_checkpoint()
        version = table.version()
        log = os.path.join(path, "_delta_log")
        single = os.path.join(log, f"{version:020d}.checkpoint.parquet")
        actions = pq.read_table(single)
        half = actions.num_rows // 2
        for part, piece in ((1, actions.slice(0, half)), (2, actions.slice(half))):
            pq.write_table(piece, os.path.join(log, f"{version:020d}.checkpoint.{part:010d}.0000000002.parquet"))
        os.remove(single)
        with open(os.path.join(log, "_last_checkpoint")) as f:
            last = json.load(f)
        last["parts"] = 2
        last.pop("checksum", None)
        with open(os.path.join(log, "_last_checkpoint"), "w") as f:
            json.dump(last, f)
        for name in os.listdir(log):
            if name.endswith(".json") and int(name[:20]) < version:
                os.remove(os.path.join(log, name))
    elif kind == "delete_first":
        DeltaTable(path).delete("id < 10")
    elif kind == "optimize":
        DeltaTable(path).optimize.compact()
    elif kind == "more":
        first = DeltaTable(path).to_pyarrow_table().column("id").to_pylist()
        start = max(first) + 1 if first else 0
        write_deltalake(path, rows(start, 10), mode="append")
    elif kind == "txn":
        from deltalake import Transaction
        write_deltalake(path, rows(0, 10), mode="append",
                        commit_properties=__import__("deltalake").CommitProperties(
                            app_transactions=[Transaction(app_id=sys.argv[3], version=7)]))
    elif kind != "read":
        raise SystemExit(f"unknown kind {kind!r}")
    print(json.dumps(report(path)))


if __name__ == "__main__":
    main()

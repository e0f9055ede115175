#!/usr/bin/env python3
"""Reads a Delta table written by sluice with two independent readers and checks it.

    verify_table.py TABLE [--expected ROWS.jsonl] [--app-id ID --txn N] [--version V]
                    [--partition-columns a,b] [--min-checkpoint V] [--ordered]

Readers:
  * delta-rs (the `deltalake` package): snapshot version, rows, txn version of the app id,
    partition columns;
  * DuckDB, with no Delta support at all (its delta extension is not used): the log is read
    with read_ndjson_objects and reconciled in SQL (the newest add/remove of each path wins,
    the newest txn of the app id), then the live files are read with read_parquet and the
    partition values taken from the log. It also checks that every version file 0..latest
    exists and that every line of it is one JSON object with one action.

Rows are compared as multisets of canonical JSON (timestamps as sluice writes them,
"2024-01-15T10:30:00.000Z"). Prints one JSON summary line; exit status 0 when every check
passed, 1 otherwise (the differences on stderr).
"""

import argparse
import datetime
import glob
import json
import os
import re
import sys
import urllib.parse


def canon(v):
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        v = v.astimezone(datetime.timezone.utc)
        base = v.strftime("%Y-%m-%dT%H:%M:%S")
        if v.microsecond % 1000 == 0:
            return base + ".%03dZ" % (v.microsecond // 1000)
        return base + ".%06dZ" % v.microsecond
    if isinstance(v, dict):
        return {k: canon(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [canon(x) for x in v]
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def key(row):
    return json.dumps(canon(row), sort_keys=True, ensure_ascii=False)


def multiset_diff(name, got, want, problems):
    from collections import Counter
    g = Counter(key(r) for r in got)
    w = Counter(key(r) for r in want)
    missing = w - g
    extra = g - w
    if missing or extra:
        problems.append("%s: %d rows, expected %d; missing %s; unexpected %s" % (
            name, sum(g.values()), sum(w.values()), list(missing.items())[:5], list(extra.items())[:5]))


def parse_partition_value(text, spark_type):
    if text is None or text == "":
        return None
    if spark_type in ("long", "integer", "short", "byte"):
        return int(text)
    if spark_type in ("double", "float"):
        return float(text)
    if spark_type == "boolean":
        return text == "true"
    if spark_type == "timestamp":
        t = text.replace(" ", "T")
        if not t.endswith("Z"):
            t += "Z"
        return datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    return text


def read_with_deltars(table, app_id):
    from deltalake import DeltaTable
    dt = DeltaTable(table)
    rows = dt.to_pyarrow_table().to_pylist()
    out = {"version": dt.version(), "rows": rows,
           "partition_columns": list(dt.metadata().partition_columns)}
    if app_id:
        out["txn"] = dt.transaction_version(app_id)
    return out


def read_with_duckdb(table, app_id, problems):
    import duckdb
    log = os.path.join(table, "_delta_log")
    names = sorted(n for n in os.listdir(log) if re.fullmatch(r"\d{20}\.json", n))
    versions = [int(n[:20]) for n in names]
    if versions != list(range(len(versions))):
        problems.append("duckdb: the log's versions are not 0..N: %s" % versions[:20])
    # Every line of every version file is one JSON object holding one action.
    for n in names:
        with open(os.path.join(log, n), encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    problems.append("%s:%d: not JSON (%s)" % (n, i, e))
                    continue
                if not isinstance(obj, dict) or len(obj) != 1:
                    problems.append("%s:%d: not one action" % (n, i))
    con = duckdb.connect()
    con.execute("""
        create table log as
        select cast(regexp_extract(filename, '(\\d{20})\\.json$', 1) as bigint) as v, json
        from read_ndjson_objects(?, filename = true)""", [os.path.join(log, "*.json")])
    version = con.execute("select max(v) from log").fetchone()[0]
    meta = con.execute("""select json->>'$.metaData.schemaString', json->'$.metaData.partitionColumns'
                          from log where (json->'$.metaData') is not null order by v desc limit 1""").fetchone()
    schema = json.loads(meta[0])
    partition_columns = json.loads(meta[1])
    types = {f["name"]: f["type"] for f in schema["fields"]}
    live = con.execute("""
        with actions as (
          select v, 'add' as kind, json->>'$.add.path' as path, json->'$.add.partitionValues' as pv,
                 cast(json->>'$.add.stats' as varchar) as stats
            from log where (json->'$.add') is not null
          union all
          select v, 'remove', json->>'$.remove.path', null, null from log where (json->'$.remove') is not null),
        newest as (select *, row_number() over (partition by path order by v desc, kind = 'add') as rn from actions)
        select path, cast(pv as varchar), stats from newest where rn = 1 and kind = 'add' order by path""").fetchall()
    txn = None
    if app_id:
        r = con.execute("""select cast(json->>'$.txn.version' as bigint) from log
                           where json->>'$.txn.appId' = ? order by v desc limit 1""", [app_id]).fetchone()
        txn = r[0] if r else None
    rows = []
    for path, pv, stats in live:
        full = os.path.join(table, urllib.parse.unquote(path))
        # Through Arrow: DuckDB's own Python conversion of timestamptz would need pytz.
        got = con.execute("select * from read_parquet(?)", [full]).arrow()
        if hasattr(got, "read_all"):
            got = got.read_all()
        values = json.loads(pv) if pv else {}
        file_rows = 0
        for row in got.to_pylist():
            for c in partition_columns:
                row[c] = parse_partition_value(values.get(c), types.get(c))
            rows.append({f["name"]: row.get(f["name"]) for f in schema["fields"]})
            file_rows += 1
        if stats:
            n = json.loads(stats).get("numRecords")
            if n != file_rows:
                problems.append("duckdb: %s holds %d rows, its stats say %s" % (path, file_rows, n))
    return {"version": version, "rows": rows, "txn": txn, "files": len(live),
            "partition_columns": partition_columns}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--expected")
    ap.add_argument("--app-id")
    ap.add_argument("--txn", type=int)
    ap.add_argument("--version", type=int)
    ap.add_argument("--partition-columns")
    ap.add_argument("--min-checkpoint", type=int)
    a = ap.parse_args()
    problems = []
    d = read_with_deltars(a.table, a.app_id)
    k = read_with_duckdb(a.table, a.app_id, problems)
    summary = {"deltars_version": d["version"], "duckdb_version": k["version"], "deltars_rows": len(d["rows"]),
               "duckdb_rows": len(k["rows"]), "deltars_txn": d.get("txn"), "duckdb_txn": k["txn"],
               "files": k["files"]}
    if d["version"] != k["version"]:
        problems.append("versions differ: delta-rs %s, duckdb %s" % (d["version"], k["version"]))
    if a.version is not None and d["version"] != a.version:
        problems.append("version %s, expected %s" % (d["version"], a.version))
    if a.txn is not None:
        for name, got in (("delta-rs", d.get("txn")), ("duckdb", k["txn"])):
            if got != a.txn:
                problems.append("%s: txn version of %s is %s, expected %s" % (name, a.app_id, got, a.txn))
    if a.partition_columns is not None:
        want = [c for c in a.partition_columns.split(",") if c]
        for name, got in (("delta-rs", d["partition_columns"]), ("duckdb", k["partition_columns"])):
            if list(got) != want:
                problems.append("%s: partition columns %s, expected %s" % (name, got, want))
    if a.min_checkpoint is not None:
        last = os.path.join(a.table, "_delta_log", "_last_checkpoint")
        if not os.path.exists(last):
            problems.append("no _last_checkpoint")
        else:
            with open(last) as f:
                lc = json.load(f)
            summary["last_checkpoint"] = lc["version"]
            if lc["version"] < a.min_checkpoint:
                problems.append("_last_checkpoint is at %s, expected >= %s" % (lc["version"], a.min_checkpoint))
            cp = os.path.join(a.table, "_delta_log", "%020d.checkpoint.parquet" % lc["version"])
            if not os.path.exists(cp):
                problems.append("the checkpoint %s is missing" % cp)
            else:
                import pyarrow.parquet as pq
                t = pq.read_table(cp)
                if t.num_rows != lc["size"]:
                    problems.append("the checkpoint has %d actions, _last_checkpoint says %d" % (t.num_rows, lc["size"]))
    if a.expected:
        want = []
        with open(a.expected, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    want.append(json.loads(line))
        multiset_diff("delta-rs", d["rows"], want, problems)
        multiset_diff("duckdb", k["rows"], want, problems)
    summary["ok"] = not problems
    print(json.dumps(summary))
    for p in problems:
        print(p, file=sys.stderr)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())

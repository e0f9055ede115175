"""End-to-end: `sluice checkpoint describe | state` on the checkpoints of stopped queries
(checkpoint_writer: a windowed aggregation, a deduplication, and a file source whose log was
compacted), their rows checked against what the queries' sinks received and the source log
against the files it took, then on damaged copies (every error names the file).

usage: checkpoint_cli_test.py SLUICE_EXECUTABLE CHECKPOINT_WRITER_EXECUTABLE
"""
import json
import os
import shutil
import subprocess
import sys

from admin_support import check, failures


def main():
    cli, writer = sys.argv[1], sys.argv[2]
    work = os.path.abspath("checkpoint_cli")
    subprocess.run([writer, work], check=True, timeout=120)

    def run(*args):
        r = subprocess.run([cli, "checkpoint", *args], capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr

    agg, dedup = os.path.join(work, "agg"), os.path.join(work, "dedup")

    # describe
    code, out, err = run("describe", agg, "--json")
    d = json.loads(out) if code == 0 else {}
    check(code == 0, "describe --json: exit 0")
    check(d.get("commitLog") == [0, 8] and d.get("lastCommittedBatch") == 8, "describe: batches 0..8 committed")
    check(d.get("lastPlannedBatch", {}).get("sources", [{}])[0].get("endOffset") == {"batches": 5},
          "describe: source 0's end offset (5 batches of the memory stream)")
    check(d.get("watermarkUs") == 18_000_000, "describe: the watermark after the last commit (28 s - 10 s)")
    check(len(d.get("fingerprint", "")) == 16 and "operators" in " ".join(d.get("fingerprintCovers", [])),
          "describe: the fingerprint and what it covers")
    ops = d.get("stateOperators", [])
    check(len(ops) == 1 and ops[0]["description"]["operator"] == "aggregate"
          and ops[0]["description"]["keys"][0]["durationUs"] == 10_000_000, "describe: the aggregate and its window")
    parts = ops[0]["partitions"] if ops else []
    check([p.get("partition") for p in parts] == list(range(8)), "describe: the 8 state partitions (the default)")
    # A partition has files only for the batches that changed it (a snapshot every 2nd version
    # once it has deltas since its last).
    check(all(set(p.get("snapshotVersions", [])) <= {1, 3, 5, 7}
              and (p.get("deltaVersions") is None or 0 <= p["deltaVersions"][0] <= p["deltaVersions"][1] <= 8)
              and p.get("directory") == os.path.join(agg, "state", "0", str(p["partition"]))
              for p in parts), "describe: each partition's state files and versions")
    check(all((p.get("bytes", 0) > 0) == (p.get("deltaVersions") is not None) for p in parts)
          and any(p.get("bytes", 0) > 0 for p in parts), "describe: the partitions' sizes (none without files)")
    check(ops and ops[0]["stateSchema"]["format"] == "keyed", "describe: the state schema")
    check([w["column"] for w in d.get("watermarkStages", [])] == ["ts"], "describe: the watermark stage")
    code, out, err = run("describe", agg)
    check(code == 0 and "state operator 0: aggregate" in out and "watermark:    1970-01-01T00:00:18.000Z" in out,
          "describe: human-readable form")

    # state: the aggregation, against its sink
    code, out, err = run("state", agg, "--operator", "0")
    rows = [json.loads(l) for l in out.splitlines()] if code == 0 else []
    expected = [json.loads(l) for l in open(os.path.join(work, "agg_expected.jsonl"))]
    check(code == 0 and len(rows) == len(expected) == 5, f"state: 5 groups ({len(rows)})")
    got = {json.dumps(r["key"], sort_keys=True): r for r in rows}
    for e in expected:
        r = got.get(json.dumps(e["key"], sort_keys=True))
        ok = (r is not None and r["value"]["count"] == e["count"]
              and abs(r["value"]["avg(value)"]["sum"] / r["value"]["avg(value)"]["count"] - e["avg"]) < 1e-9
              and r["value"]["items"]["estimate"] == e["items"] and 0 <= r["partition_id"] < 8)
        check(ok, f"state: group {e['key']} matches the sink (count {e['count']}, avg {e['avg']})")

    # every earlier batch: rebuilt from the snapshot at or before it and the deltas after; as
    # many rows as the query's progress reported in state after that batch
    totals = json.load(open(os.path.join(work, "agg_state_rows.json")))
    for batch, total in sorted(totals.items(), key=lambda kv: int(kv[0])):
        code, out, err = run("state", agg, "--operator", "0", "--batch", batch)
        check(code == 0 and len(out.splitlines()) == total, f"state --batch {batch}: {total} rows (numRowsTotal)")
    check(len(totals) == 9, "progress of 9 batches")

    # dedup
    code, out, err = run("state", dedup, "--operator", "0")
    ids = sorted(json.loads(l)["key"]["id"] for l in out.splitlines()) if code == 0 else []
    sink_ids = sorted(int(l) for l in open(os.path.join(work, "dedup_expected.txt")))
    check(code == 0 and ids == sink_ids == list(range(1, 9)), f"state: dedup keys are the ids the sink got ({ids})")
    code, out, err = run("state", dedup, "--operator", "0", "--batch", "0")
    check(code == 0 and sorted(json.loads(l)["key"]["id"] for l in out.splitlines()) == [1, 2, 3],
          "state --batch 0: dedup keys after the first batch")

    # the sources' own logs: the file source's, 7 input files in batches of 2, compacted every 3
    files_ck = os.path.join(work, "files")
    log_dir = os.path.join(files_ck, "sources", "0")
    code, out, err = run("describe", files_ck, "--json")
    logs = json.loads(out).get("sourceLogs", []) if code == 0 else []
    check(code == 0 and len(logs) == 1 and logs[0]["source"] == 0 and logs[0]["directory"] == log_dir,
          "describe: the file source's log is listed")
    log = logs[0] if logs else {}
    listed = [(f["file"], f["batches"], f.get("filesRecorded")) for f in log.get("files", [])]
    check(listed == [("0", [0, 0], 2), ("1", [1, 1], 2), ("2.compact", [0, 2], 6), ("3", [3, 3], 1)],
          f"describe: log files, the batches each covers and the input files each records ({listed})")
    sizes = {n: os.path.getsize(os.path.join(log_dir, n)) for n in os.listdir(log_dir)}
    check(all(f["bytes"] == sizes.get(f["file"]) for f in log.get("files", []))
          and log.get("bytes") == sum(sizes.values()), "describe: log file sizes as on disk")
    check(log.get("batches") == [0, 3] and log.get("kind") == "file source log" and log.get("filesRecorded") == 7,
          "describe: batches 0..3, 7 input files recorded (the compact file and the batch after it)")
    code, out, err = run("describe", files_ck)
    check(code == 0 and f"source log 0: {log_dir}, 4 files" in out and "7 input files recorded" in out
          and "  2.compact: " in out, "describe: source logs in the human-readable form")
    code, out, err = run("describe", agg, "--json")
    check(code == 0 and json.loads(out)["sourceLogs"] == [], "describe: a memory stream keeps no source log")
    files_broken = os.path.join(work, "files_broken")
    shutil.copytree(files_ck, files_broken)
    damaged = os.path.join(files_broken, "sources", "0", "3")
    data = bytearray(open(damaged, "rb").read())
    data[5] ^= 0x01
    open(damaged, "wb").write(data)
    code, out, err = run("describe", files_broken)
    check(code == 1 and damaged in err, f"corrupt source log entry: named ({err.strip()})")

    # errors
    code, out, err = run("state", agg, "--operator", "3")
    check(code == 1 and os.path.join(agg, "metadata") in err and "no operator 3 (0 to 0)" in err,
          f"state: an unknown operator names the metadata file ({err.strip()})")
    code, out, err = run("state", agg, "--operator", "0", "--batch", "99")
    check(code == 1 and "batch 99 was never committed" in err, f"state: an uncommitted batch ({err.strip()})")
    code, out, err = run("state", agg)
    check(code == 2 and "--operator N is required" in err, "state: --operator is required")

    broken = os.path.join(work, "agg_broken")
    shutil.copytree(agg, broken)
    # A delta some batch's state needs (after that partition's snapshot before it), corrupted:
    # that batch's state names it, the batch of the snapshot before still reads.
    def versions(d, kind):
        return sorted(int(f.split(".")[0]) for f in os.listdir(d) if f.endswith("." + kind) and f[0].isdigit())
    found = None
    for p in range(8):
        d = os.path.join(broken, "state", "0", str(p))
        if not os.path.isdir(d):
            continue
        for v in versions(d, "delta"):
            base = max([s for s in versions(d, "snapshot") if s <= v], default=-1)
            if 0 <= base < v:
                found = (os.path.join(d, f"{v}.delta"), v, base)
    check(found is not None, "a delta after a snapshot")
    delta, version, base = found if found else ("", 0, 0)
    data = bytearray(open(delta, "rb").read())
    data[10] ^= 0x01
    open(delta, "wb").write(data)
    code, out, err = run("state", broken, "--operator", "0", "--batch", str(version))
    check(code == 1 and delta in err and "checksum mismatch" in err, f"corrupt delta: named ({err.strip()})")
    code, out, err = run("state", broken, "--operator", "0", "--batch", str(base))
    check(code == 0 and len(out.splitlines()) > 0, f"corrupt delta {version}: batch {base} (its snapshot) still reads")

    os.remove(os.path.join(broken, "state", "0", "_metadata", "schema"))
    code, out, err = run("state", broken, "--operator", "0", "--batch", str(base))
    check(code == 1 and "_metadata/schema: missing" in err, f"no schema file (older checkpoint): named ({err.strip()})")
    code, out, err = run("describe", broken, "--json")
    check(code == 0 and json.loads(out)["stateOperators"][0]["stateSchema"] is None, "describe: no schema file, null")

    offsets = os.path.join(broken, "offsets", "8")
    with open(offsets, "r+b") as f:
        f.truncate(20)
    code, out, err = run("describe", broken)
    check(code == 1 and offsets in err, f"truncated offsets entry: named ({err.strip()})")
    os.remove(os.path.join(broken, "metadata"))
    code, out, err = run("describe", broken)
    check(code == 1 and os.path.join(broken, "metadata") in err and "missing" in err, f"no metadata: named ({err.strip()})")

    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()

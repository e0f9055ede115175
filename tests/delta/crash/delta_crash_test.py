#!/usr/bin/env python3
"""Crash test of the Delta sink: SIGKILL the writing query again and again, restart it, and
check that the table ends with every input row exactly once and an intact log.

    delta_crash_test.py --worker build/.../sluice_delta_crash_worker --work DIR [--kills 30] [--seed N]

The worker (delta_crash_worker.cpp) runs files::json_lines -> delta::sink(partitioned by key,
a checkpoint every 4 versions) with a checkpoint and trigger available-now. Each round kills
it either at a named crash point (SLUICE_CRASH_AT=<point>:<n>: the engine's after_offsets,
after_sink, after_state, after_commit and the sink's delta_data_written,
delta_commit_temporary_written, delta_committed) or
at a random moment; when a run finishes before it is killed, more input files are added, so
the rounds go on until at least --kills runs died by SIGKILL. After every kill: each version
file 0..N exists and every line is one JSON action (no torn commit), and _last_checkpoint, if
present, names a checkpoint that exists. At the end the query runs to completion and the
table is read by delta-rs and by DuckDB (verify_table.py): every id exactly once, the txn of
the query equal to the last committed batch id of the checkpoint, and no leftovers: no
temporary in _delta_log and no Parquet file that no version added (each start of the sink
deletes what the crash before it left).

Uses the venv's Python (deltalake, duckdb). Exit status 0 on success, 1 on failure.
"""

import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from verify_table import multiset_diff, read_with_deltars, read_with_duckdb  # noqa: E402

POINTS = ["after_offsets", "after_sink", "after_state", "after_commit", "delta_data_written",
          "delta_commit_temporary_written", "delta_committed"]
KEYS = ["alpha", "beta", "gamma/δ", "x:y", "100%", "with space"]
T0 = 1_704_067_200 * 1_000_000


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def ts_text(us):
    d = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(microseconds=us)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Input:
    def __init__(self, directory, staging, rng, per_file):
        self.dir, self.staging, self.rng, self.per_file = directory, staging, rng, per_file
        self.files = 0
        self.events = []
        os.makedirs(directory, exist_ok=True)
        os.makedirs(staging, exist_ok=True)

    def add(self, n):
        """n more files, written elsewhere and renamed in (complete when they appear)."""
        for _ in range(n):
            lines = []
            for _ in range(self.per_file):
                i = len(self.events)
                e = {"id": i, "timestamp": T0 + i * 1_000_003, "key": self.rng.choice(KEYS),
                     "value": self.rng.randint(-10**6, 10**6)}
                self.events.append(e)
                lines.append(json.dumps({**e, "timestamp": ts_text(e["timestamp"])}))
            name = "events-%05d.jsonl" % self.files
            staged = os.path.join(self.staging, name)
            with open(staged, "w") as f:
                f.write("\n".join(lines) + "\n")
            m = time.time_ns() - 86400 * 10**9 + self.files * 10**6  # increasing mtimes
            os.utime(staged, ns=(m, m))
            os.rename(staged, os.path.join(self.dir, name))
            self.files += 1


def check_log(table, where):
    """Every version file 0..N parses (one JSON action per line); _last_checkpoint is sound."""
    log_dir = os.path.join(table, "_delta_log")
    if not os.path.isdir(log_dir):
        return -1
    names = sorted(n for n in os.listdir(log_dir) if re.fullmatch(r"\d{20}\.json", n))
    versions = [int(n[:20]) for n in names]
    if versions != list(range(len(versions))):
        raise Failure("%s: the log's versions are not contiguous from 0: %s" % (where, versions))
    for n in names:
        with open(os.path.join(log_dir, n), encoding="utf-8") as f:
            text = f.read()
        if not text.endswith("\n"):
            raise Failure("%s: %s does not end with a newline (torn write?)" % (where, n))
        for i, line in enumerate(text.splitlines(), 1):
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise Failure("%s: %s:%d is not JSON: %s" % (where, n, i, e))
            if not isinstance(obj, dict) or len(obj) != 1:
                raise Failure("%s: %s:%d is not one action" % (where, n, i))
    last = os.path.join(log_dir, "_last_checkpoint")
    if os.path.exists(last):
        with open(last) as f:
            lc = json.load(f)
        cp = os.path.join(log_dir, "%020d.checkpoint.parquet" % lc["version"])
        if not os.path.exists(cp):
            raise Failure("%s: _last_checkpoint names version %s, whose checkpoint is missing" % (where, lc["version"]))
    return versions[-1] if versions else -1


def leftovers(table):
    """Temporaries in _delta_log, and Parquet files no version of the log ever added."""
    log_dir = os.path.join(table, "_delta_log")
    temps = sorted(n for n in os.listdir(log_dir) if n.endswith(".tmp"))
    added = set()
    for n in os.listdir(log_dir):
        if re.fullmatch(r"\d{20}\.json", n):
            with open(os.path.join(log_dir, n), encoding="utf-8") as f:
                for line in f:
                    add = json.loads(line).get("add")
                    if add:
                        added.add(urllib.parse.unquote(add["path"]))
    orphans = []
    for root, dirs, files in os.walk(table):
        dirs[:] = [d for d in dirs if d != "_delta_log"]
        for n in files:
            rel = os.path.relpath(os.path.join(root, n), table)
            if n.endswith(".parquet") and rel not in added:
                orphans.append(rel)
    return temps, sorted(orphans)


def last_committed_batch(ck):
    d = os.path.join(ck, "commits")
    ids = [int(n) for n in os.listdir(d) if n.isdigit()] if os.path.isdir(d) else []
    return max(ids) if ids else None


def read_query_id(ck):
    """The query id the checkpoint keeps (the sink's txn appId)."""
    with open(os.path.join(ck, "metadata"), encoding="utf-8") as f:
        text = f.read()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            obj = json.loads(line)
            for k in ("id", "query_id", "queryId"):
                if k in obj:
                    return obj[k]
    raise Failure("no query id in %s/metadata: %r" % (ck, text[:200]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--deadline", type=float, default=240.0, help="seconds for the kill rounds")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    log("delta crash test: seed %d" % a.seed)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    inp = Input(os.path.join(a.work, "input"), os.path.join(a.work, "staging"), rng, per_file=40)
    table = os.path.join(a.work, "table")
    ck = os.path.join(a.work, "checkpoint")
    cmd = [a.worker, "--input", inp.dir, "--output", table, "--checkpoint", ck]

    def run(env_point=None, kill_after=None):
        env = dict(os.environ)
        env.pop("SLUICE_CRASH_AT", None)
        if env_point:
            env["SLUICE_CRASH_AT"] = env_point
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kill_after is not None:
            try:
                p.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                p.kill()
        out, err = p.communicate()
        if p.returncode not in (0, -signal.SIGKILL):
            raise Failure("worker failed (status %s): %s" % (p.returncode, err.strip()))
        return p.returncode

    inp.add(6)
    start = time.monotonic()
    kills = 0
    rounds = 0
    by_point = {}
    full = None
    try:
        while kills < a.kills:
            if time.monotonic() - start > a.deadline:
                raise Failure("only %d kills in %.0f s" % (kills, a.deadline))
            rounds += 1
            if rounds % 2 == 1:
                point = POINTS[(rounds // 2) % len(POINTS)]
                spec = "%s:%d" % (point, rng.randint(1, 2))
                t0 = time.monotonic()
                rc = run(env_point=spec)
                took = time.monotonic() - t0
                label = spec
            else:
                limit = full if full else 1.0
                moment = rng.uniform(0.02, max(0.05, limit))
                rc = run(kill_after=moment)
                took = moment
                label = "random %.3fs" % moment
            if rc == -signal.SIGKILL:
                kills += 1
                by_point[label.split(":")[0] if ":" in label else "random"] = \
                    by_point.get(label.split(":")[0] if ":" in label else "random", 0) + 1
            else:
                full = took if full is None else (full + took) / 2
                inp.add(rng.randint(2, 4))  # finished: give it more to do
            version = check_log(table, "after round %d (%s, %s)" % (rounds, label, "killed" if rc else "done"))
            log("round %d: %s -> %s; version %d; %d kills" % (rounds, label, "SIGKILL" if rc else "exit 0", version, kills))
        # Let it finish.
        rc = run()
        if rc != 0:
            raise Failure("the final run did not finish")
        check_log(table, "after the final run")
        problems = []
        last = last_committed_batch(ck)
        query_id = read_query_id(ck)
        d = read_with_deltars(table, query_id)
        k = read_with_duckdb(table, query_id, problems)
        want = inp.events
        for name, got in (("delta-rs", d["rows"]), ("duckdb", k["rows"])):
            ids = [r["id"] for r in got]
            if len(ids) != len(set(ids)):
                problems.append("%s: %d ids appear more than once" % (name, len(ids) - len(set(ids))))
        wanted = [{**e, "timestamp": datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
                   + datetime.timedelta(microseconds=e["timestamp"])} for e in want]
        multiset_diff("delta-rs", d["rows"], wanted, problems)
        multiset_diff("duckdb", k["rows"], wanted, problems)
        # What the crashes left is deleted by the next start of the sink, the final run's included.
        temps, orphans = leftovers(table)
        if temps:
            problems.append("%d temporaries left in _delta_log: %s" % (len(temps), temps[:3]))
        if orphans:
            problems.append("%d Parquet files no version references: %s" % (len(orphans), orphans[:3]))
        if d.get("txn") != last or k["txn"] != last:
            problems.append("txn of the query: delta-rs %s, duckdb %s; the checkpoint's last commit is %s"
                            % (d.get("txn"), k["txn"], last))
        summary = {"kills": kills, "rounds": rounds, "by_point": by_point, "files": inp.files, "rows": len(want),
                   "temporaries_left": len(temps), "orphans_left": len(orphans),
                   "version": d["version"], "last_batch": last, "ok": not problems}
        log(json.dumps(summary))
        if problems:
            for p in problems:
                log("FAIL: " + p)
            return 1
        return 0
    except Failure as e:
        log("FAIL: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Crash test of the Kafka source and the exactly-once Kafka sink (and the Delta sink).

Feeds an input topic in chunks (at least 100,000 events in all by default) with the worker's
`produce`, and after each chunk runs tests/kafka/crash/kafka_crash_worker.cpp (Kafka -> windowed aggregation ->
sink, checkpoint, trigger available-now) again and again, SIGKILLing it at least --kills times:
at the engine's and sinks' crash points (SLUICE_CRASH_AT) and at random moments. Then it runs
the worker to completion and compares the output -- for the Kafka sink, what kcat reads with
isolation.level=read_committed; for Delta, the table's rows -- with a reference computed here
from the input's formula alone. Nothing may be lost and nothing may appear twice.

    kafka_crash_test.py --worker W --broker-dir DIR --sink kafka|delta --work DIR
Exit status 0 when the output equals the reference; 1 otherwise.
"""

import argparse
import collections
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

US = 1_000_000
T0 = 1_704_067_200 * US
KEYS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
WINDOW = 10 * US
DELAY = 10 * US


def log(msg):
    print(msg, flush=True)


def reference(records):
    """Windows closed by the final watermark: (start, key) -> (n, total)."""
    groups = collections.defaultdict(lambda: [0, 0])
    max_ts = 0
    for i in range(records):
        ts = T0 + i * 10_000
        max_ts = max(max_ts, ts)
        start = ts - ts % WINDOW
        g = groups[(start, KEYS[i % 8])]
        g[0] += 1
        g[1] += i % 100
    watermark = max_ts - DELAY
    return {k: tuple(v) for k, v in groups.items() if k[0] + WINDOW <= watermark}


def parse_ts(text):
    d = datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(d.timestamp()) * US + d.microsecond


def output_rows(args, bootstrap):
    if args.sink == "kafka":
        out = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", args.output_name, "-e", "-q", "-X",
                              "isolation.level=read_committed", "-f", "%s\\n"],
                             check=True, capture_output=True, text=True, timeout=120).stdout
    else:
        out = subprocess.run([args.worker, "dump-delta", "--output", os.path.join(args.work, "table")],
                             check=True, capture_output=True, text=True, timeout=120).stdout
    rows = collections.Counter()
    for line in out.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        rows[(parse_ts(r["window"]["start"]), r["key"], r["n"], r["total"])] += 1
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True)
    p.add_argument("--broker-dir", required=True)
    p.add_argument("--sink", choices=["kafka", "delta"], required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--chunk", type=int, default=1250)
    p.add_argument("--kills", type=int, default=50)
    p.add_argument("--seed", type=int, default=14)
    args = p.parse_args()
    rnd = random.Random(args.seed)
    bootstrap = open(os.path.join(args.broker_dir, "bootstrap")).read().strip()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    run_id = str(int(time.time() * 1000))
    input_topic = "crash-in-%s-%s" % (args.sink, run_id)
    args.output_name = "crash-out-%s" % run_id
    output = args.output_name if args.sink == "kafka" else os.path.join(args.work, "table")
    checkpoint = os.path.join(args.work, "checkpoint")
    run_cmd = [args.worker, "run", "--bootstrap", bootstrap, "--input", input_topic, "--sink", args.sink,
               "--output", output, "--checkpoint", checkpoint]
    points = ["after_offsets", "after_sink", "after_state", "after_commit",
              "kafka_txn_committed" if args.sink == "kafka" else "delta_committed"]

    # Each round adds a chunk of input (so a run always has batches to be killed in) and runs
    # the worker once, killed at a crash point or after a random moment, or let finish.
    produced = 0
    kills = completions = rounds = 0
    started = time.time()
    while kills < args.kills or produced < args.records:
        subprocess.run([args.worker, "produce", "--bootstrap", bootstrap, "--topic", input_topic,
                        "--from", str(produced), "--to", str(produced + args.chunk)], check=True, timeout=120)
        produced += args.chunk
        rounds += 1
        env = dict(os.environ)
        use_point = rnd.random() < 0.4
        if use_point:
            env["SLUICE_CRASH_AT"] = "%s:%d" % (rnd.choice(points), rnd.randint(1, 2))
        proc = subprocess.Popen(run_cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=60 if use_point else rnd.uniform(0.05, 0.8))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate()
        if proc.returncode == -signal.SIGKILL:
            kills += 1
        elif proc.returncode == 0:
            completions += 1
        else:
            log("worker failed (exit %s):\n%s" % (proc.returncode, err))
            return 1
        if time.time() - started > 720:
            log("crash test: out of time after %d rounds, %d kills" % (rounds, kills))
            return 1
    proc = subprocess.run(run_cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        log("final run failed:\n%s" % proc.stderr)
        return 1
    log("crash test (%s sink): %d records, %d rounds, %d SIGKILLs, %d runs to the end, %.0f s" %
        (args.sink, produced, rounds, kills, completions + 1, time.time() - started))

    expected = reference(produced)
    got = output_rows(args, bootstrap)
    problems = []
    for (start, key, n, total), count in got.items():
        if count > 1:
            problems.append("written %d times: %s %s" % (count, start, key))
        if expected.get((start, key)) != (n, total):
            problems.append("unexpected row: %s %s n=%d total=%d (reference %s)" %
                            (start, key, n, total, expected.get((start, key))))
    got_keys = {(s, k) for (s, k, _, _) in got}
    for k in expected:
        if k not in got_keys:
            problems.append("missing window: %s %s" % k)
    if problems:
        log("%d problems, the first ones:\n%s" % (len(problems), "\n".join(problems[:20])))
        return 1
    log("output equals the reference: %d windows, each once" % len(expected))
    return 0


if __name__ == "__main__":
    sys.exit(main())

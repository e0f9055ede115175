#!/usr/bin/env python3
"""Scale-out test: one aggregation run as 3 instances (processes) over a 6-partition topic.

tests/kafka/instances/instances_worker.cpp is Kafka -> windowed count/sum per key -> the
exactly-once Kafka sink, with source_options::instance = {index, 3}: instance i reads the
partitions p with p % 3 == i and has a checkpoint of its own. Every key's events are in one
partition, so each instance aggregates its keys alone. The input is fed in chunks; after each
chunk the three instances run side by side (trigger available-now) and instance --victim is
SIGKILLed at a random moment or at one of the engine's and the sink's crash points
(SLUICE_CRASH_AT), then restarted in the next round. At the end every instance runs to
completion, and the union of their outputs (what a read_committed consumer sees in the shared
output topic) must equal

  * the reference computed here from the input's formula alone, and
  * the output of the same query run once as a single instance (count 1, no kills),

each window once: nothing lost, nothing twice.

    instances_test.py --worker W --broker-dir DIR --work DIR [--records N] [--kills K]
Exit status 0 when the outputs agree; 1 otherwise.
"""

import collections
import datetime
import os
import random
import signal
import subprocess
import sys
import time

from instances_support import PARTITIONS, arg_parser, committed_records, create_topic, log, prepare

US = 1_000_000
T0 = 1_704_067_200 * US
KEYS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
WINDOW = 10 * US
INSTANCES = 3


def reference(records):
    """Every window of the events (the seal closes them all): (start, key) -> (n, total)."""
    groups = collections.defaultdict(lambda: [0, 0])
    for i in range(records):
        ts = T0 + i * 10_000
        g = groups[(ts - ts % WINDOW, KEYS[i % 8])]
        g[0] += 1
        g[1] += i % 100
    return {k: tuple(v) for k, v in groups.items()}


def parse_ts(text):
    d = datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(d.timestamp()) * US + d.microsecond


def committed_rows(bootstrap, topic):
    return collections.Counter((parse_ts(r["window"]["start"]), r["key"], r["n"], r["total"])
                               for r in committed_records(bootstrap, topic))


def compare(name, got, expected):
    problems = []
    for (start, key, n, total), count in got.items():
        if count > 1:
            problems.append("%s: written %d times: %s %s" % (name, count, start, key))
        if expected.get((start, key)) != (n, total):
            problems.append("%s: unexpected row %s %s n=%d total=%d (reference %s)" %
                            (name, start, key, n, total, expected.get((start, key))))
    got_keys = {(s, k) for (s, k, _, _) in got}
    problems += ["%s: missing window %s %s" % ((name,) + k) for k in expected if k not in got_keys]
    return problems


def main():
    p = arg_parser(records=30_000)
    p.add_argument("--chunk", type=int, default=1500)
    p.add_argument("--kills", type=int, default=12)
    p.add_argument("--victim", type=int, default=1)
    p.add_argument("--seed", type=int, default=15)
    args = p.parse_args()
    rnd = random.Random(args.seed)
    bootstrap, run_id = prepare(args)
    topic, output, single = "inst-in-" + run_id, "inst-out-" + run_id, "inst-single-" + run_id
    w = args.worker
    create_topic(w, bootstrap, topic, PARTITIONS)

    def run_cmd(index, count, out, checkpoint):
        return [w, "run", "--bootstrap", bootstrap, "--input", topic, "--output", out, "--checkpoint",
                os.path.join(args.work, checkpoint), "--index", str(index), "--count", str(count)]

    points = ["after_offsets", "after_sink", "after_state", "after_commit", "kafka_txn_committed"]
    produced = kills = rounds = 0
    started = time.time()
    while kills < args.kills or produced < args.records:
        subprocess.run([w, "produce", "--bootstrap", bootstrap, "--topic", topic, "--partitions", str(PARTITIONS),
                        "--from", str(produced), "--to", str(produced + args.chunk)], check=True, timeout=120)
        produced += args.chunk
        rounds += 1
        procs = []
        for i in range(INSTANCES):
            env = dict(os.environ)
            if i == args.victim and rnd.random() < 0.4:
                env["SLUICE_CRASH_AT"] = "%s:%d" % (rnd.choice(points), rnd.randint(1, 2))
            procs.append(subprocess.Popen(run_cmd(i, INSTANCES, output, "checkpoint-%d" % i), env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        victim = procs[args.victim]
        try:
            victim.wait(timeout=rnd.uniform(0.3, 2.0))
        except subprocess.TimeoutExpired:
            victim.send_signal(signal.SIGKILL)
        for i, proc in enumerate(procs):
            _, err = proc.communicate(timeout=300)
            if proc.returncode == -signal.SIGKILL and i == args.victim:
                kills += 1
            elif proc.returncode != 0:
                log("instance %d failed (exit %s):\n%s" % (i, proc.returncode, err))
                return 1
        if time.time() - started > 600:
            log("instances test: out of time after %d rounds, %d kills" % (rounds, kills))
            return 1

    subprocess.run([w, "seal", "--bootstrap", bootstrap, "--topic", topic, "--partitions", str(PARTITIONS),
                    "--at", str(produced)], check=True, timeout=60)
    procs = [subprocess.Popen(run_cmd(i, INSTANCES, output, "checkpoint-%d" % i), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(INSTANCES)]
    procs.append(subprocess.Popen(run_cmd(0, 1, single, "checkpoint-single"), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True))
    for i, proc in enumerate(procs):
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            log("final run of %s failed:\n%s" % ("the single instance" if i == INSTANCES else "instance %d" % i, err))
            return 1
    log("instances test: %d records, %d rounds, %d SIGKILLs of instance %d, %.0f s" %
        (produced, rounds, kills, args.victim, time.time() - started))

    expected = reference(produced)
    union = committed_rows(bootstrap, output)
    problems = compare("3 instances", union, expected)
    problems += compare("single instance", committed_rows(bootstrap, single), expected)
    if problems:
        log("%d problems, the first ones:\n%s" % (len(problems), "\n".join(problems[:20])))
        return 1
    log("the union of the 3 instances' outputs equals the reference and the single instance's output: "
        "%d windows, each once" % len(expected))
    return 0


if __name__ == "__main__":
    sys.exit(main())

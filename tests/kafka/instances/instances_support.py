"""What the scale-out scripts (instances_test.py, group_kill_test.py, group_fence_test.py) share:
their common options, a fresh work directory and per-run topic names, topic creation through the
worker, and the committed (read_committed) output of a topic."""

import argparse
import collections
import json
import os
import shutil
import subprocess
import time

PARTITIONS = 6


def log(msg):
    print(msg, flush=True)


def arg_parser(records):
    """The options every script takes: the worker, the broker's directory and a work directory."""
    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True)
    p.add_argument("--broker-dir", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--records", type=int, default=records)
    return p


def prepare(args):
    """Empties the work directory; returns the broker's bootstrap address and a run id that
    keeps this run's topic and group names apart from earlier runs' on the same broker."""
    bootstrap = open(os.path.join(args.broker_dir, "bootstrap")).read().strip()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    return bootstrap, str(int(time.time() * 1000))


def create_topic(worker, bootstrap, topic, partitions):
    subprocess.run([worker, "create-topic", "--bootstrap", bootstrap, "--topic", topic, "--partitions",
                    str(partitions)], check=True, timeout=60)


def committed_records(bootstrap, topic):
    """The JSON values a read_committed consumer sees in the topic, in its order."""
    out = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-X",
                          "isolation.level=read_committed", "-f", "%s\\n"],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def committed_ids(bootstrap, topic):
    """How many times a read_committed consumer sees each event id in the topic."""
    return collections.Counter(r["id"] for r in committed_records(bootstrap, topic))

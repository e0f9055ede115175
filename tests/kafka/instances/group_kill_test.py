#!/usr/bin/env python3
"""Consumer-group kill test: a stateless query run as 3 members of one consumer group.

tests/kafka/instances/instances_worker.cpp run-group is Kafka (source_options::consumer_group)
-> decode_json -> the exactly-once Kafka sink, which commits each batch's input offsets to the
group inside the batch's transaction. Three processes join one group over a 6-partition topic
(each with a checkpoint of its own) while the input is fed in chunks; member --victim is
SIGKILLed --kills times (at a random moment, or at one of the engine's and the sink's crash
points via SLUICE_CRASH_AT) and restarted at once on its checkpoint. Kafka moves the partitions
of a killed member to the others once its session ends, and gives partitions back to it when it
joins again. At the end the union of the committed output (a read_committed consumer of the
output topic) must hold every input event exactly once.

    group_kill_test.py --worker W --broker-dir DIR --work DIR [--records N] [--kills K]
Exit status 0 when the output is the input exactly once; 1 otherwise.
"""

import collections
import os
import random
import signal
import subprocess
import sys
import time

from instances_support import PARTITIONS, arg_parser, committed_ids, create_topic, log, prepare

MEMBERS = 3


def main():
    p = arg_parser(records=24_000)
    p.add_argument("--chunks", type=int, default=12)
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--victim", type=int, default=1)
    p.add_argument("--seed", type=int, default=15)
    args = p.parse_args()
    rnd = random.Random(args.seed)
    bootstrap, run_id = prepare(args)
    topic, output, group = "group-kill-in-" + run_id, "group-kill-out-" + run_id, "group-kill-" + run_id
    stop = os.path.join(args.work, "stop")
    w = args.worker
    create_topic(w, bootstrap, topic, PARTITIONS)
    create_topic(w, bootstrap, output, 1)

    runs = collections.Counter()
    logs = {}

    def start(i, crash=None):
        env = dict(os.environ)
        if crash:
            env["SLUICE_CRASH_AT"] = crash
        runs[i] += 1
        logs[i] = os.path.join(args.work, "member-%d-run-%d.log" % (i, runs[i]))
        with open(logs[i], "w") as out:  # a file, not a pipe: librdkafka's logs must never block it
            return subprocess.Popen([w, "run-group", "--bootstrap", bootstrap, "--input", topic, "--output", output,
                                     "--group", group, "--checkpoint", os.path.join(args.work, "checkpoint-%d" % i),
                                     "--stop", stop], env=env, stdout=out, stderr=subprocess.STDOUT)

    def check_members():
        """False when a member failed; a victim that died at its crash point is restarted."""
        for i, m in enumerate(members):
            if m.poll() is None:
                continue
            if i == args.victim and m.returncode == -signal.SIGKILL:
                log("member %d died at its crash point; restarted" % i)
                members[i] = start(i)
                continue
            log("member %d exited %s:\n%s" % (i, m.returncode, open(logs[i]).read()[-4000:]))
            return False
        return True

    def produce(frm, to):
        subprocess.run([w, "produce", "--bootstrap", bootstrap, "--topic", topic, "--partitions", str(PARTITIONS),
                        "--from", str(frm), "--to", str(to), "--round-robin", "1"], check=True, timeout=120)

    started = time.time()
    members = [start(i) for i in range(MEMBERS)]
    chunk = args.records // args.chunks
    produced = kills = 0
    # Kills spread over the feeding, each one once the group settled after the one before (the
    # members' session is 6 s).
    kill_at = sorted(rnd.sample(range(1, args.chunks), min(args.kills, args.chunks - 1)))
    points = ["after_offsets", "after_sink", "after_commit", "kafka_txn_committed"]
    for c in range(args.chunks):
        produce(produced, produced + chunk)
        produced += chunk
        if c in kill_at:
            victim = members[args.victim]
            if victim.poll() is None:
                victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=60)
            if victim.returncode != -signal.SIGKILL:
                log("member %d exited %s before it was killed:\n%s" % (args.victim, victim.returncode,
                                                                        open(logs[args.victim]).read()[-4000:]))
                return 1
            kills += 1
            # Half the restarts die again at a crash point of their first batches (then
            # check_members restarts them once more).
            crash = "%s:%d" % (rnd.choice(points), rnd.randint(1, 3)) if rnd.random() < 0.5 else None
            members[args.victim] = start(args.victim, crash)
        time.sleep(rnd.uniform(1.0, 3.0))
        if not check_members():
            return 1

    # Every event in the output, then a little longer: a row written twice would show now.
    deadline = time.time() + 60
    got = committed_ids(bootstrap, output)
    while sum(got.values()) < produced and time.time() < deadline:
        if not check_members():
            return 1
        time.sleep(1)
        got = committed_ids(bootstrap, output)
    time.sleep(2)
    open(stop, "w").close()
    for i, m in enumerate(members):
        m.wait(timeout=120)
        if m.returncode != 0 and not (i == args.victim and m.returncode == -signal.SIGKILL):  # a crash point
            log("member %d failed (exit %s):\n%s" % (i, m.returncode, open(logs[i]).read()[-4000:]))
            return 1
    got = committed_ids(bootstrap, output)
    log("group kill test: %d records, %d SIGKILLs of member %d, %.0f s" %
        (produced, kills, args.victim, time.time() - started))
    problems = ["event %d written %d times" % (i, n) for i, n in sorted(got.items()) if n > 1]
    problems += ["event %d missing" % i for i in range(produced) if i not in got]
    problems += ["event %d was never produced" % i for i in got if not 0 <= i < produced]
    if problems:
        log("%d problems, the first ones:\n%s" % (len(problems), "\n".join(problems[:20])))
        return 1
    log("the union of the members' committed output is the input exactly once: %d events" % produced)
    return 0


if __name__ == "__main__":
    sys.exit(main())

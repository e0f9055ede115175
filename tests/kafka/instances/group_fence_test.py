#!/usr/bin/env python3
"""Consumer-group fencing test: a member stalls (SIGSTOP) past its session timeout in the middle
of a batch, another member takes its partitions and reads the same range, then the stalled one
wakes (SIGCONT) and tries to commit its batch.

The query is group_kill_test.py's (instances_worker run-group: Kafka in a consumer group ->
decode_json -> the exactly-once Kafka sink, which adds the batch's offsets to its transaction).
Member 0 starts alone and stops itself at the sink's crash point kafka_txn_offsets (its batch's records produced
in the open transaction, its offsets not yet added) with SLUICE_CRASH_AT/SLUICE_CRASH_SIGNAL=STOP.
Member 1 starts then; member 0's session (6 s) ends and member 1 gets its partitions from the group's committed offsets, which
are before the stalled batch, and writes that range. Then member 0 is resumed: the broker must
refuse its offsets (they carry its old generation and member id), its transaction must be
aborted (sl::kafka::fenced_error) and the engine must run the batch again with the partitions the
group gives it now (the worker reports the source's numBatchesFenced).
At the end a read_committed consumer of the output must see every input event exactly once.
Without fencing the stalled member's transaction commits and the batch's events appear twice.

    group_fence_test.py --worker W --broker-dir DIR --work DIR
Exit status 0 when the output is the input exactly once and the stalled member was fenced.
"""

import os
import signal
import subprocess
import sys
import time

from instances_support import PARTITIONS, arg_parser, committed_ids, create_topic, log, prepare


def process_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def main():
    args = arg_parser(records=6000).parse_args()
    bootstrap, run_id = prepare(args)
    topic, output, group = "group-fence-in-" + run_id, "group-fence-out-" + run_id, "group-fence-" + run_id
    stop = os.path.join(args.work, "stop")
    w = args.worker
    create_topic(w, bootstrap, topic, PARTITIONS)
    create_topic(w, bootstrap, output, 1)
    runs = {0: 0, 1: 0}
    logs = {}

    def start(i, env_extra=None):
        env = dict(os.environ)
        env.update(env_extra or {})
        runs[i] += 1
        logs[i] = os.path.join(args.work, "member-%d-run-%d.log" % (i, runs[i]))
        with open(logs[i], "w") as out:
            return subprocess.Popen([w, "run-group", "--bootstrap", bootstrap, "--input", topic, "--output", output,
                                     "--group", group, "--checkpoint", os.path.join(args.work, "checkpoint-%d" % i),
                                     "--stop", stop], env=env, stdout=out, stderr=subprocess.STDOUT)

    def produce(frm, to):
        subprocess.run([w, "produce", "--bootstrap", bootstrap, "--topic", topic, "--partitions", str(PARTITIONS),
                        "--from", str(frm), "--to", str(to), "--round-robin", "1"], check=True, timeout=120)

    def fail(msg, member=None):
        log(msg)
        if member is not None:
            log(open(logs[member]).read()[-4000:])
        open(stop, "w").close()
        for m in members:
            if m.poll() is None:
                m.send_signal(signal.SIGCONT)
        for m in members:
            try:
                m.wait(timeout=60)
            except subprocess.TimeoutExpired:
                m.kill()
        return 1

    def wait_output(count, timeout):
        deadline = time.time() + timeout
        got = committed_ids(bootstrap, output)
        while sum(got.values()) < count and time.time() < deadline:
            time.sleep(1)
            got = committed_ids(bootstrap, output)
        return got

    started = time.time()
    # Member 0 alone owns every partition and stalls in its third batch's transaction; member 1
    # joins then, and gets the partitions once member 0's session has ended.
    members = [start(0, {"SLUICE_CRASH_AT": "kafka_txn_offsets:3", "SLUICE_CRASH_SIGNAL": "STOP"})]
    half = args.records // 2
    produce(0, half)
    deadline = time.time() + 90
    while process_state(members[0].pid) != "T":
        if members[0].poll() is not None or time.time() > deadline:
            return fail("member 0 never reached its stall point", 0)
        time.sleep(0.2)
    stalled_at = time.time()
    log("member 0 stalled in a batch's transaction")
    members.append(start(1))
    # Its session ends after 6 s; member 1 takes every partition and writes the stalled range.
    got = wait_output(half, 90)
    if sum(got.values()) < half:
        return fail("member 1 did not take over the stalled member's partitions: %d of %d events" %
                    (sum(got.values()), half), 1)
    if any(n > 1 for n in got.values()):
        return fail("events written twice before the stalled member woke")
    log("member 1 wrote all %d events %.0f s after the stall; resuming member 0" % (half, time.time() - stalled_at))
    members[0].send_signal(signal.SIGCONT)
    # Fenced: its batch's transaction aborted (kafka::fenced_error), the engine runs the batch
    # again with the partitions the group gives now; the worker reports numBatchesFenced.
    deadline = time.time() + 40
    fenced = False
    while not fenced and time.time() < deadline and members[0].poll() is None:
        time.sleep(0.5)
        fenced = "batches fenced:" in open(logs[0]).read()
    if members[0].poll() is not None:
        return fail("member 0 exited %s after it was resumed" % members[0].returncode, 0)
    log("member 0 was fenced and ran its batch again" if fenced else "member 0 was not fenced: it goes on running")
    produce(half, args.records)
    got = wait_output(args.records, 90)
    time.sleep(2)  # a row written twice late would show now
    open(stop, "w").close()
    for i, m in enumerate(members):
        m.wait(timeout=120)
        if m.returncode != 0:
            return fail("member %d failed (exit %s)" % (i, m.returncode), i)
    got = committed_ids(bootstrap, output)
    log("group fence test: %d records, %.0f s" % (args.records, time.time() - started))
    problems = ["event %d written %d times" % (i, n) for i, n in sorted(got.items()) if n > 1]
    problems += ["event %d missing" % i for i in range(args.records) if i not in got]
    problems += ["event %d was never produced" % i for i in got if not 0 <= i < args.records]
    if problems:
        log("%d problems, the first ones:\n%s" % (len(problems), "\n".join(problems[:20])))
        return 1
    if not fenced:
        log("the output is right, but the stalled member was not fenced")
        return 1
    log("the stalled member was fenced and the committed output is the input exactly once: %d events" % args.records)
    return 0


if __name__ == "__main__":
    sys.exit(main())

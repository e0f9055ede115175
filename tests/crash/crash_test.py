#!/usr/bin/env python3
"""Crash tests for sluice's checkpoints and exactly-once sinks (Python 3 standard library only).

Runs tests/crash/crash_worker.cpp (sluice_crash_worker: a file source -> watermark ->
windowed aggregation -> sink query with a checkpoint and trigger available-now) as a child
process over a deterministic input, kills it with SIGKILL again and again -- at every named
crash point (SLUICE_CRASH_AT=<point>:<n>) and at random moments -- restarts it each time,
finally lets it run to completion, and then compares the sink's content with a reference
computed here from the input files alone, following Spark's rules. Nothing may be lost and
nothing may appear twice.

    crash_test.py --worker build/tests/sluice_crash_worker --mode append --work /tmp/crash-append

The modes join, join_window, dedup, session, group_state and transform_with_state run the worker's queries of those stateful
operators instead (their input, reference and comparison: stateful_modes.py).

Exit status 0 when the sink equals the reference and every check passed; 1 otherwise (with the
differences listed); 2 for bad arguments.
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

import stateful_modes

US = 1_000_000
WINDOW = 10 * US          # sl::window(timestamp, 10s)
DELAY = 10 * US           # sl::with_watermark(timestamp, 10s)
T0 = 1_704_067_200 * US   # 2024-01-01T00:00:00Z: event times start here
KEYS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "κλειδί"]

POINTS = {
    "append": ["after_offsets", "after_sink", "after_state", "after_commit", "files_sink_data_written"],
    "update": ["after_offsets", "after_sink", "after_state", "after_commit"],
}
for _mode in stateful_modes.MODES:  # the file sink in append mode, as "append"
    POINTS[_mode] = POINTS["append"]


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- timestamps
def format_ts(t, style):
    """Event time t (microseconds since the epoch) as text the source accepts."""
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    if style == "offset":  # the same instant written in UTC+01:00
        d = epoch + datetime.timedelta(microseconds=t + 3600 * US)
        return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+01:00"
    d = epoch + datetime.timedelta(microseconds=t)
    if style == "space":  # Spark's text form, no zone: UTC
        return d.strftime("%Y-%m-%d %H:%M:%S.%f")
    if t % 1000 == 0:
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$")


def parse_ts(text):
    """The sink's timestamps ("2024-01-01T00:00:10.000Z") as microseconds since the epoch."""
    m = _TS.match(text)
    if not m:
        raise Failure("unexpected timestamp text in the output: %r" % (text,))
    y, mo, d, h, mi, s, frac = m.groups()
    dt = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=datetime.timezone.utc)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    whole = (dt - epoch) // datetime.timedelta(seconds=1)
    return whole * US + (int((frac or "0").ljust(6, "0")) if frac else 0)


# ---------------------------------------------------------------- the input
def generate_input(input_dir, staging_dir, files, per_file, seed):
    """Writes `files` JSON-lines files of `per_file` events each; returns their events.

    File i holds event times in [T0 + 10 s * i, + 25 s), shuffled (out of order), so a window
    gets rows from two or three consecutive files; every 7th file ends exactly on a window
    boundary, so that the next batch's watermark equals a window end (the `end <= watermark`
    edge). From the second file on, a few deliberately late events go below the watermark the
    file's batch will run with: some in windows closed by an earlier batch (dropped: rows are
    late against the previous batch's watermark), some in windows this batch closes (kept, and
    emitted at once), some in windows still open; and when a batch's watermark or the previous
    one is on a window end, one event each side of that edge.
    Files are written under a hidden name, given strictly increasing modification times, then
    renamed into the directory, so the source's order (mtime, then name) is this order.
    """
    rng = random.Random(seed)
    os.makedirs(input_dir, exist_ok=True)
    os.makedirs(staging_dir, exist_ok=True)
    mtime0 = (int(time.time()) - 2 * 86400) * 10**9  # within max_file_age (7 days) of each other
    result = []
    max_seen = None
    next_id = 0
    watermark = 0
    for i in range(files):
        previous = watermark  # the watermark the previous batch ran with: rows are late against it
        watermark = 0 if max_seen is None else max(0, max_seen - DELAY)  # the batch's watermark
        late = []
        if i > 0:
            late_count = rng.randint(1, 4)
            for _ in range(late_count):
                late.append(watermark - rng.randrange(1, 40 * US))
            if watermark % WINDOW == 0:
                late.append(watermark - 1)   # window ends exactly at the watermark: kept, closed now
                late.append(watermark)       # the next window: kept, still open
            if i > 1 and previous % WINDOW == 0:
                late.append(previous - 1)    # window ends exactly at the previous watermark: dropped
                late.append(previous)        # the next window: kept, closed now
        base = T0 + i * 10 * US
        boundary = i % 7 == 3
        span = 20 * US if boundary else 25 * US
        normal = per_file - len(late)
        times = [base + rng.randrange(0, span) for _ in range(normal)]
        if boundary:
            times[rng.randrange(normal)] = base + span  # the file's maximum, on a window boundary
        times += late
        rng.shuffle(times)
        events = []
        for t in times:
            events.append({"id": next_id, "timestamp": t, "key": rng.choice(KEYS),
                           "value": rng.randint(-1000, 1000)})
            next_id += 1
        fmax = max(e["timestamp"] for e in events)
        max_seen = fmax if max_seen is None else max(max_seen, fmax)

        lines = []
        for e in events:
            r = rng.random()
            style = "offset" if r < 0.03 else "space" if r < 0.06 else "z"
            obj = {"id": e["id"], "timestamp": format_ts(e["timestamp"], style), "key": e["key"], "value": e["value"]}
            if rng.random() < 0.05:  # fields in another order, and one the row type lacks
                obj = {"value": e["value"], "note": "ignored", "key": e["key"], "timestamp": obj["timestamp"],
                       "id": e["id"]}
            lines.append(json.dumps(obj, ensure_ascii=rng.random() < 0.5))
        name = "events-%06d.jsonl" % i
        staged = os.path.join(staging_dir, "." + name + ".tmp")
        with open(staged, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        m = mtime0 + i * 10**9
        os.utime(staged, ns=(m, m))
        os.rename(staged, os.path.join(input_dir, name))
        result.append((name, os.path.getsize(os.path.join(input_dir, name)), events))
    return result


# ---------------------------------------------------------------- the reference
def reference(inputs, files_per_batch=1):
    """Spark's rules, from the input alone. Batch k reads files k*F .. k*F+F-1 (F: files per
    batch, the worker's --files-per-trigger); then one no-data batch.

    Returns (append: {(window start, key): (n, total, batch)}, update: {batch: {(start, key):
    (n, total)}}, number of batches, dropped rows, rows in windows still open at the end).
    """
    watermark = 0            # the next batch's watermark
    state = {}               # (window start, key) -> [n, total]
    append = {}
    update = {}
    dropped = 0
    last_batch_watermark = None
    batch = 0

    def close(batch_id, wm):
        for g in sorted(state):
            if g[0] + WINDOW <= wm:
                n, total = state.pop(g)
                append[g] = (n, total, batch_id)

    grouped = [[e for _, _, events in inputs[k:k + files_per_batch] for e in events]
               for k in range(0, len(inputs), files_per_batch)]
    for events in grouped:
        wm = watermark
        # Rows are late against the watermark the previous batch ran with (Spark 3.4+), windows
        # close against this batch's: batches run back to back here, with no no-data batch
        # between them, so the two differ.
        late_wm = 0 if last_batch_watermark is None else last_batch_watermark
        touched = set()
        for e in events:
            start = (e["timestamp"] // WINDOW) * WINDOW
            if start + WINDOW <= late_wm:  # a late row: its window closed in an earlier batch
                dropped += 1
                continue
            g = (start, e["key"])
            s = state.setdefault(g, [0, 0])
            s[0] += 1
            s[1] += e["value"]
            touched.add(g)
        update[batch] = {g: tuple(state[g]) for g in touched}
        close(batch, wm)
        last_batch_watermark = wm
        watermark = max(watermark, max(e["timestamp"] for e in events) - DELAY)
        batch += 1
    if watermark > last_batch_watermark:  # the no-data batch that closes the windows
        update[batch] = {}
        close(batch, watermark)
        batch += 1
    still_open = sum(n for n, _ in state.values())
    return append, update, batch, dropped, still_open


# ---------------------------------------------------------------- reading the sink
def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8")
    return [line for line in text.split("\n") if line != ""], len(data)


def output_row(obj, where):
    try:
        start = parse_ts(obj["window"]["start"])
        end = parse_ts(obj["window"]["end"])
        key, n, total = obj["key"], obj["n"], obj["total"]
    except (KeyError, TypeError) as e:
        raise Failure("%s: unexpected row %r (%s)" % (where, obj, e))
    if end - start != WINDOW or start % WINDOW != 0:
        raise Failure("%s: window %r is not a 10 s tumbling window" % (where, obj["window"]))
    if not isinstance(n, int) or not isinstance(total, int):
        raise Failure("%s: n and total must be integers: %r" % (where, obj))
    return (start, key), (n, total)


def digit_entries(d):
    if not os.path.isdir(d):
        return []
    return sorted(int(name) for name in os.listdir(d) if name.isdigit())


def source_log_batches(src):
    """The file source's log, {file batch: [entries]}: the latest N.compact (every entry up to N,
    each with its batchId) and the entries after it, as Spark's FileStreamSourceLog reads it."""
    names = os.listdir(src) if os.path.isdir(src) else []
    compacts = sorted(int(n[:-len(".compact")]) for n in names
                      if n.endswith(".compact") and n[:-len(".compact")].isdigit())
    batches, first = {}, 0
    if compacts:
        with open(os.path.join(src, "%d.compact" % compacts[-1]), "r", encoding="utf-8") as f:
            for line in f:
                if line.strip() and not line.startswith("#"):  # "#sluice-crc32c ..." trailer
                    e = json.loads(line)
                    batches.setdefault(e["batchId"], []).append(e)
        first = compacts[-1] + 1
    for k in sorted(int(n) for n in names if n.isdigit()):
        if k >= first:
            with open(os.path.join(src, str(k)), "r", encoding="utf-8") as f:
                batches[k] = [json.loads(line) for line in f if line.strip() and not line.startswith("#")]
    return batches


def read_append_output(out_dir, parse=output_row):
    """Committed output of the file sink, through its manifests only: {batch: [(group, (n, total))]}
    (or of `parse`'s rows)."""
    meta = os.path.join(out_dir, "_sluice_metadata")
    batches = {}
    listed = set()
    for batch in digit_entries(meta):
        path = os.path.join(meta, str(batch))
        with open(path, "r", encoding="utf-8") as f:
            lines = f.read().split("\n")
        if not lines or lines[0] != "v1":
            raise Failure("%s: first line %r, expected v1" % (path, lines[0] if lines else ""))
        rows = []
        for i, line in enumerate(lines[1:], start=2):
            if not line:
                continue
            try:
                entry = json.loads(line)
                rel, size, count = entry["path"], entry["size"], entry["rows"]
            except (ValueError, KeyError, TypeError) as e:
                raise Failure("%s:%d: malformed manifest line %r (%s)" % (path, i, line, e))
            data = os.path.join(out_dir, rel)
            listed.add(os.path.basename(rel))
            if not os.path.isfile(data):
                raise Failure("%s: lists %s, which does not exist" % (path, rel))
            data_lines, nbytes = read_lines(data)
            if nbytes != size:
                raise Failure("%s: %s has %d bytes, the manifest says %d" % (path, rel, nbytes, size))
            if len(data_lines) != count:
                raise Failure("%s: %s has %d rows, the manifest says %d" % (path, rel, len(data_lines), count))
            for j, text in enumerate(data_lines, start=1):
                rows.append(parse(json.loads(text), "%s:%d" % (data, j)))
        batches[batch] = rows
    orphans = [n for n in os.listdir(out_dir) if n.startswith("part-") and n not in listed]
    return batches, orphans


def read_update_output(out_dir):
    """{batch: [(group, (n, total))]} from <output>/batch-<id>.jsonl (temporaries ignored)."""
    batches = {}
    if not os.path.isdir(out_dir):
        return batches
    for name in os.listdir(out_dir):
        m = re.fullmatch(r"batch-(\d+)\.jsonl", name)
        if not m:
            continue
        path = os.path.join(out_dir, name)
        lines, _ = read_lines(path)
        batches[int(m.group(1))] = [output_row(json.loads(t), "%s:%d" % (path, j)) for j, t in enumerate(lines, 1)]
    return batches


def sink_batches(mode, out_dir):
    """The batch ids the sink holds: committed manifests (append), batch files (update)."""
    if mode != "update":  # the file sink (append and the stateful modes)
        return digit_entries(os.path.join(out_dir, "_sluice_metadata"))
    if not os.path.isdir(out_dir):
        return []
    return sorted(int(m.group(1)) for m in (re.fullmatch(r"batch-(\d+)\.jsonl", n) for n in os.listdir(out_dir)) if m)


# ---------------------------------------------------------------- checkpoint invariants
class CheckpointWatch:
    """Checks after every run: log entries are never rewritten, no commit without its offsets,
    at most one batch planned beyond the last commit, and the sink holds every committed batch
    and nothing beyond the last planned one."""

    def __init__(self, ck_dir, out_dir, mode):
        self.ck, self.out, self.mode = ck_dir, out_dir, mode
        self.seen = {"offsets": {}, "commits": {}}

    def latest_commit(self):
        c = digit_entries(os.path.join(self.ck, "commits"))
        return c[-1] if c else -1

    def check(self, after):
        offsets = digit_entries(os.path.join(self.ck, "offsets"))
        commits = digit_entries(os.path.join(self.ck, "commits"))
        for log_name, ids in (("offsets", offsets), ("commits", commits)):
            for n in ids:
                with open(os.path.join(self.ck, log_name, str(n)), "rb") as f:
                    text = f.read()
                old = self.seen[log_name].get(n)
                if old is not None and old != text:
                    raise Failure("%s: %s/%d was rewritten:\n  before: %r\n  now:    %r" % (after, log_name, n, old, text))
                self.seen[log_name][n] = text
        missing = sorted(set(commits) - set(offsets))
        if missing:
            raise Failure("%s: commits without offsets: %s" % (after, missing))
        last_commit = commits[-1] if commits else -1
        last_offsets = offsets[-1] if offsets else -1
        if last_offsets > last_commit + 1:
            raise Failure("%s: offsets/%d planned while the last commit is %d" % (after, last_offsets, last_commit))
        if offsets and commits and offsets[0] > commits[0] + 1:
            raise Failure("%s: the retained offsets start at %d, the commits at %d" % (after, offsets[0], commits[0]))
        held = sink_batches(self.mode, self.out)
        if held != list(range(len(held))):
            gaps = sorted(set(range(held[-1] + 1)) - set(held)) if held else []
            raise Failure("%s: the sink's batch ids are not 0..N: missing %s" % (after, gaps[:20]))
        top = held[-1] if held else -1
        if top < last_commit:
            raise Failure("%s: commits/%d exists but the sink holds batches up to %d only" % (after, last_commit, top))
        if top > max(last_offsets, last_commit):
            raise Failure("%s: the sink holds batch %d, beyond the last planned batch %d" % (after, top, last_offsets))
        return last_commit


def temporaries(out_dir, ck_dir):
    """Hidden temporary files in the sink's and the checkpoint's directories: ("sink" or "checkpoint", name)."""
    found = set()
    dirs = [("sink", out_dir), ("sink", os.path.join(out_dir, "_sluice_metadata")),
            ("checkpoint", os.path.join(ck_dir, "offsets")), ("checkpoint", os.path.join(ck_dir, "commits")),
            ("checkpoint", os.path.join(ck_dir, "state", "0")),
            ("checkpoint", os.path.join(ck_dir, "sources", "0"))]
    state = os.path.join(ck_dir, "state", "0")
    if os.path.isdir(state):  # the state partitions' directories
        dirs += [("checkpoint", os.path.join(state, n)) for n in sorted(os.listdir(state)) if n.isdigit()]
    for kind, d in dirs:
        if os.path.isdir(d):
            found.update((kind, os.path.join(d, n)) for n in os.listdir(d) if n.startswith(".") and n.endswith(".tmp"))
    return found


def kill_moment(watch, new_temporaries):
    """Where a killed run stopped, judged from what it left on disk."""
    offsets = digit_entries(os.path.join(watch.ck, "offsets"))
    last_commit = watch.latest_commit()
    last_offsets = offsets[-1] if offsets else -1
    held = sink_batches(watch.mode, watch.out)
    if any(kind == "sink" for kind, _ in new_temporaries):
        return "inside a sink write"
    if any(kind == "checkpoint" for kind, _ in new_temporaries):
        return "inside a checkpoint file write"
    if last_offsets <= last_commit:
        logged = sorted(source_log_batches(os.path.join(watch.ck, "sources", "0")))
        planned = -1
        if offsets:
            with open(os.path.join(watch.ck, "offsets", str(last_offsets)), "r", encoding="utf-8") as f:
                planned = json.loads([line for line in f.read().split("\n") if line][2])["batch"]
        if logged and logged[-1] > planned:
            return "file batch logged, batch not planned"
        return "between batches"
    if held and held[-1] == last_offsets:
        return "batch in the sink, not committed"
    return "batch planned, not in the sink"


# ---------------------------------------------------------------- running the worker
class Runner:
    def __init__(self, worker, mode, input_dir, out_dir, ck_dir, log_dir, deadline, parallelism=1, files_per_trigger=1):
        self.worker, self.mode = worker, mode
        self.parallelism, self.files_per_trigger = parallelism, files_per_trigger
        self.input_dir, self.out_dir, self.ck_dir, self.log_dir = input_dir, out_dir, ck_dir, log_dir
        self.deadline = deadline
        self.runs = 0

    def cmd(self, input_dir=None, out_dir=None, ck_dir=None):
        return [self.worker, "--input", input_dir or self.input_dir, "--output", out_dir or self.out_dir,
                "--checkpoint", ck_dir or self.ck_dir, "--mode", self.mode,
                "--parallelism", str(self.parallelism), "--files-per-trigger", str(self.files_per_trigger)]

    def run(self, crash_at=None, kill_after=None, cmd=None, label=None):
        """Runs the worker once. Returns (returncode, stdout, stderr, seconds)."""
        self.runs += 1
        env = dict(os.environ)
        env.pop("SLUICE_CRASH_AT", None)
        if crash_at:
            env["SLUICE_CRASH_AT"] = crash_at
        base = os.path.join(self.log_dir, "run-%03d" % self.runs)
        with open(base + ".out", "wb") as out, open(base + ".err", "wb") as err:
            t0 = time.monotonic()
            p = subprocess.Popen(cmd or self.cmd(), stdout=out, stderr=err, env=env)
            try:
                if kill_after is not None:
                    try:
                        p.wait(timeout=kill_after)
                    except subprocess.TimeoutExpired:
                        p.send_signal(signal.SIGKILL)
                limit = max(1.0, min(120.0, self.deadline - time.monotonic()))
                try:
                    p.wait(timeout=limit)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    raise Failure("run %d (%s) did not finish within %.0f s" % (self.runs, label, limit))
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            seconds = time.monotonic() - t0
        with open(base + ".out", "r", encoding="utf-8", errors="replace") as f:
            stdout = f.read()
        with open(base + ".err", "r", encoding="utf-8", errors="replace") as f:
            stderr = f.read()
        return p.returncode, stdout, stderr, seconds


def calibrate(runner, inputs_dir, scratch):
    """Milliseconds per batch and per start, measured on a copy of the first files."""
    cal_in = os.path.join(scratch, "input")
    os.makedirs(cal_in)
    names = sorted(os.listdir(inputs_dir), key=lambda n: (n.rsplit("-", 1)[-1], n))[:40]  # the first batches' files
    for name in names:
        src = os.path.join(inputs_dir, name)
        dst = os.path.join(cal_in, name)
        shutil.copyfile(src, dst)
        st = os.stat(src)
        os.utime(dst, ns=(st.st_mtime_ns, st.st_mtime_ns))
    cmd = runner.cmd(cal_in, os.path.join(scratch, "output"), os.path.join(scratch, "checkpoint"))
    rc, out, err, full = runner.run(cmd=cmd, label="calibration")
    if rc != 0:
        raise Failure("calibration run failed (exit %s):\n%s" % (rc, err))
    rc, out2, err, idle = runner.run(cmd=cmd, label="calibration restart")
    if rc != 0:
        raise Failure("calibration restart failed (exit %s):\n%s" % (rc, err))
    batches = json.loads(out.strip().splitlines()[-1])["batches"]
    per_batch = max(0.5, (full - idle) * 1000 / max(1, batches))
    return per_batch, idle * 1000


# ---------------------------------------------------------------- the test
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", required=True, help="the sluice_crash_worker executable")
    ap.add_argument("--mode", required=True, choices=["append", "update"] + list(stateful_modes.MODES))
    ap.add_argument("--work", required=True, help="scratch directory (emptied first)")
    ap.add_argument("--files", type=int, default=1000, help="input files (one batch each)")
    ap.add_argument("--events-per-file", type=int, default=110)
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--min-kills", type=int, default=50, help="kills required in all")
    ap.add_argument("--per-point", type=int, default=10, help="kills planned at each named crash point")
    ap.add_argument("--min-per-point", type=int, default=5, help="kills required at each named crash point")
    ap.add_argument("--random", type=int, default=30, help="kills planned at random moments")
    ap.add_argument("--min-random", type=int, default=10, help="kills at random moments required")
    ap.add_argument("--time-limit", type=float, default=360.0, help="seconds for the whole test")
    ap.add_argument("--parallelism", type=int, default=1, help="the worker's query_options::parallelism")
    ap.add_argument("--files-per-trigger", type=int, default=1,
                    help="files per batch (several: partitions the workers read at once)")
    args = ap.parse_args()

    t_start = time.monotonic()
    deadline = t_start + args.time_limit
    mode = args.mode
    work = os.path.abspath(args.work)
    worker = os.path.abspath(args.worker)
    if not os.access(worker, os.X_OK):
        print("crash %s: FAILED: no executable worker at %s" % (mode, worker))
        return 2
    shutil.rmtree(work, ignore_errors=True)
    input_dir, out_dir, ck_dir = (os.path.join(work, d) for d in ("input", "output", "checkpoint"))
    log_dir = os.path.join(work, "logs")
    os.makedirs(log_dir)
    rng = random.Random(args.seed * 7919 + (1 if mode == "update" else 0))

    runner = Runner(worker, mode, input_dir, out_dir, ck_dir, log_dir, deadline, args.parallelism,
                    args.files_per_trigger)
    try:
        if mode in stateful_modes.MODES:
            inputs, sides = stateful_modes.generate(mode, input_dir, os.path.join(work, "staging"), args.files,
                                                    args.events_per_file, args.seed, args.files_per_trigger)
            total_events = sum(len(ev) for _, _, ev in inputs)
            ref_rows, ref_dropped = stateful_modes.reference(mode, sides, args.files_per_trigger)
            ref_batches = len(ref_rows)
            log("crash %s: input %d files per source (%d per batch), %d sources, %d late rows dropped by the reference, "
                "%d output rows; expecting %d batches" % (mode, len(inputs), args.files_per_trigger, len(sides), ref_dropped,
                                                sum(len(r) for r in ref_rows.values()), ref_batches))
        else:
            inputs = generate_input(input_dir, os.path.join(work, "staging"), args.files, args.events_per_file, args.seed)
            total_events = sum(len(ev) for _, _, ev in inputs)
            ref_append, ref_update, ref_batches, ref_dropped, ref_open = reference(inputs, args.files_per_trigger)
            log("crash %s: input %d files, %d events (%d late rows dropped by the reference, %d in windows left open); "
                "expecting %d batches" % (mode, len(inputs), total_events, ref_dropped, ref_open, ref_batches))

        batch_ms, start_ms = calibrate(runner, input_dir, os.path.join(work, "calibration"))
        calibration_runs = runner.runs
        log("crash %s: calibration: %.1f ms per batch, %.1f ms per start" % (mode, batch_ms, start_ms))

        points = POINTS[mode]
        plan = [p for p in points for _ in range(args.per_point)]
        plan += ["random"] * max(args.random, args.min_kills + 10 - len(plan))
        rng.shuffle(plan)
        kills = {p: 0 for p in points + ["random"]}
        finished_early = 0
        moments, random_moments, delays = {}, {}, []
        watch = CheckpointWatch(ck_dir, out_dir, mode)
        final_batch = ref_batches - 1
        last_commit = -1

        while plan:
            if time.monotonic() > deadline:
                raise Failure("over the time limit (%.0f s) after %d kills" % (args.time_limit, sum(kills.values())))
            remaining = final_batch - last_commit
            if remaining <= 0:  # nothing left to interrupt: the checks below say whether enough kills happened
                log("crash %s: the query finished all %d batches with %d kills still planned" %
                    (mode, ref_batches, len(plan)))
                break
            # Leave a few batches for every kill still planned; spread the rest over them.
            allowed = max(0.0, (remaining - 3 * len(plan)) / (len(plan) + 1))
            what = plan.pop()
            crash_at, delay = None, None
            if what == "random":
                hi = min(200.0, max(10.0, start_ms + (2 * allowed + 1) * batch_ms))
                delay = rng.uniform(5.0, hi) / 1000
                label = "SIGKILL after %.0f ms" % (delay * 1000)
            else:
                n = rng.randint(1, 1 + int(2 * allowed))
                crash_at = "%s:%d" % (what, n)
                label = "SLUICE_CRASH_AT=" + crash_at
            tmp_before = temporaries(out_dir, ck_dir)
            rc, out, err, _ = runner.run(crash_at=crash_at, kill_after=delay, label=label)
            before = last_commit
            last_commit = watch.check("after run %d (%s)" % (runner.runs, label))
            progress = last_commit - before
            if rc == -signal.SIGKILL:
                kills[what] += 1
                moment = kill_moment(watch, temporaries(out_dir, ck_dir) - tmp_before)
                moments[moment] = moments.get(moment, 0) + 1
                if what == "random":
                    random_moments[moment] = random_moments.get(moment, 0) + 1
                    delays.append(delay * 1000)
                    if progress > 0:  # follow the machine's speed
                        sample = max(0.5, (delay * 1000 - start_ms) / progress)
                        batch_ms = 0.7 * batch_ms + 0.3 * sample
            elif rc == 0:
                finished_early += 1  # the run ended before its kill: a run, not a kill
                plan.insert(0, what)
            else:
                raise Failure("run %d (%s) failed with exit status %s:\n%s" % (runner.runs, label, rc, err.strip()))
            if rc == 0 and last_commit != final_batch:
                raise Failure("run %d (%s) exited 0 but the last commit is %d, not %d" %
                              (runner.runs, label, last_commit, final_batch))

        # The last run: no crash, to the end.
        rc, out, err, _ = runner.run(label="final run")
        if rc != 0:
            raise Failure("the final run failed with exit status %s:\n%s" % (rc, err.strip()))
        last_commit = watch.check("after the final run")
        if last_commit != final_batch:
            raise Failure("after the final run the last commit is %d, expected %d" % (last_commit, final_batch))
        # A restart of the finished query has nothing to do and writes nothing.
        rc, out2, err, _ = runner.run(label="restart after the end")
        if rc != 0:
            raise Failure("a restart after the end failed with exit status %s:\n%s" % (rc, err.strip()))
        again = json.loads(out2.strip().splitlines()[-1])
        if again["batches"] != 0:
            raise Failure("a restart after the end ran %d batches" % again["batches"])
        watch.check("after the restart after the end")

        problems = []
        check_source_log(ck_dir, inputs, total_events, problems, args.files_per_trigger)
        check_offsets(watch, (len(inputs) + args.files_per_trigger - 1) // args.files_per_trigger, problems)
        if mode in stateful_modes.MODES:
            stateful_modes.check_second_source(ck_dir, sides, source_log_batches, problems, args.files_per_trigger)
            batches, orphans = read_append_output(out_dir, stateful_modes.parse_row(mode))
            stateful_modes.compare(mode, batches, ref_rows, problems)
            if orphans:
                problems.append("%d part files no manifest lists were left behind: %s" % (len(orphans), orphans[:5]))
        elif mode == "append":
            batches, orphans = read_append_output(out_dir)
            compare_append(batches, ref_append, ref_batches, problems)
            if orphans:
                problems.append("%d part files no manifest lists were left behind: %s" % (len(orphans), orphans[:5]))
        else:
            batches = read_update_output(out_dir)
            compare_update(batches, ref_update, problems)
        out_rows = sum(len(rows) for rows in batches.values())

        total_kills = sum(kills.values())
        elapsed = time.monotonic() - t_start
        if total_kills < args.min_kills:
            problems.append("only %d kills (at least %d required)" % (total_kills, args.min_kills))
        for p in points:
            if kills[p] < args.min_per_point:
                problems.append("crash point %s hit %d times (at least %d required)" % (p, kills[p], args.min_per_point))
        if kills["random"] < args.min_random:
            problems.append("%d kills at random moments (at least %d required)" % (kills["random"], args.min_random))
        runs = runner.runs - calibration_runs
        figures = ", ".join("%s %d" % (p, kills[p]) for p in points + ["random"])
        head = "crash %s: %d kills (%s), %d events, %d batches, %d runs (%d ended before their kill), %d output rows, " \
               "%.1f s" % (mode, total_kills, figures, total_events, ref_batches, runs, finished_early, out_rows, elapsed)
        if problems:
            log(head + ": SINK DIFFERS FROM THE REFERENCE OR A CHECK FAILED")
            for p in problems[:60]:
                log("  - " + p)
            if len(problems) > 60:
                log("  ... and %d more" % (len(problems) - 60))
            return 1
        log(head + ": sink equals reference")
        log("crash %s: where the kills stopped the query: %s; random kills after %.0f-%.0f ms: %s" %
            (mode, fmt_counts(moments), min(delays, default=0), max(delays, default=0), fmt_counts(random_moments)))
        return 0
    except (Failure, stateful_modes.ModeFailure) as e:
        log("crash %s: FAILED after %d runs, %.1f s: %s" % (mode, runner.runs, time.monotonic() - t_start, e))
        log("crash %s: logs of every run in %s" % (mode, log_dir))
        return 1


def fmt_counts(d):
    return ", ".join("%s %d" % (k, v) for k, v in sorted(d.items(), key=lambda kv: -kv[1])) or "none"


def check_source_log(ck_dir, inputs, total_events, problems, per_batch=1):
    """The source log: file batch k took input files k*F .. k*F+F-1 (F: per_batch), whole, and
    nothing else: every event read once."""
    logged = source_log_batches(os.path.join(ck_dir, "sources", "0"))
    ids = sorted(logged)
    expected_batches = (len(inputs) + per_batch - 1) // per_batch
    if ids != list(range(expected_batches)):
        problems.append("source log entries %s..%s (%d), expected 0..%d" %
                        (ids[:1], ids[-1:], len(ids), expected_batches - 1))
    read = 0
    for k in ids:
        entries = logged[k]
        if k >= expected_batches:
            continue
        files = inputs[k * per_batch:(k + 1) * per_batch]
        if len(entries) != len(files) or any(os.path.basename(e["path"]) != name or e["size"] != size
                                             for e, (name, size, _) in zip(entries, files)):
            problems.append("source log entry %d is %s, expected only %s" %
                            (k, entries, ", ".join("%s (%d bytes)" % (name, size) for name, size, _ in files)))
            continue
        read += sum(len(events) for _, _, events in files)
    if read != total_events:
        problems.append("the query read %d events, the input holds %d" % (read, total_events))


def check_offsets(watch, files, problems):
    """Every offsets/N seen: batch N read file batch N (the no-data batch: none more); `files`
    is the number of file batches."""
    for n, text in sorted(watch.seen["offsets"].items()):
        lines = [line for line in text.decode("utf-8").split("\n") if line]
        try:
            end = json.loads(lines[2])["batch"]
        except (IndexError, ValueError, KeyError, TypeError):
            problems.append("offsets/%d: unexpected content %r" % (n, text))
            continue
        if end != min(n, files - 1):
            problems.append("offsets/%d: the source's end offset is file batch %d, expected %d" % (n, end, min(n, files - 1)))


def describe(group):
    start, key = group
    return "window %s key %s" % (format_ts(start, "z"), key)


def compare_append(batches, ref, ref_batches, problems):
    got = {}
    for batch, rows in sorted(batches.items()):
        for g, v in rows:
            got.setdefault(g, []).append((v[0], v[1], batch))
    if sorted(batches) != list(range(ref_batches)):
        problems.append("the sink committed batches %d..%d, expected 0..%d" %
                        (min(batches, default=-1), max(batches, default=-1), ref_batches - 1))
    for g in sorted(set(ref) | set(got)):
        want = ref.get(g)
        have = got.get(g, [])
        if want is None:
            problems.append("%s: emitted %s, not in the reference (an open window, or a late row counted)" %
                            (describe(g), have))
        elif not have:
            problems.append("%s: missing (expected n=%d total=%d in batch %d)" % (describe(g), *want))
        elif len(have) > 1:
            problems.append("%s: emitted %d times %s (expected once: n=%d total=%d in batch %d)" %
                            (describe(g), len(have), have, *want))
        elif have[0] != want:
            problems.append("%s: emitted n=%d total=%d in batch %d, expected n=%d total=%d in batch %d" %
                            (describe(g), *have[0], *want))


def compare_update(batches, ref, problems):
    if sorted(batches) != sorted(ref):
        problems.append("the sink holds batches %s..%s (%d), expected 0..%d" %
                        (min(batches, default=None), max(batches, default=None), len(batches), len(ref) - 1))
    got_seq, want_seq = {}, {}
    for batch in sorted(set(batches) | set(ref)):
        seen = set()
        for g, v in batches.get(batch, []):
            if g in seen:
                problems.append("batch %d: %s emitted twice" % (batch, describe(g)))
            seen.add(g)
            got_seq.setdefault(g, []).append((batch, v[0], v[1]))
        for g, v in ref.get(batch, {}).items():
            want_seq.setdefault(g, []).append((batch, v[0], v[1]))
    for g in sorted(set(got_seq) | set(want_seq)):
        have = sorted(got_seq.get(g, []))
        want = sorted(want_seq.get(g, []))
        if have != want:
            missing = [x for x in want if x not in have]
            extra = [x for x in have if x not in want]
            problems.append("%s: emitted (batch, n, total) %s, expected %s (missing %s, unexpected %s)" %
                            (describe(g), have, want, missing, extra))


if __name__ == "__main__":
    sys.exit(main())

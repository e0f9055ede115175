"""The crash test's modes for the stateful operators beyond the aggregation (crash_test.py
--mode join|join_window|dedup|session|group_state|transform_with_state): their input, their
reference computed from the input alone by Spark's rules, and the comparison with what the file
sink committed.

Every mode reads F files per batch (crash_test.py --files-per-trigger, the source's
max_files_per_trigger; the join: F files of each side, left-N.jsonl and right-N.jsonl) and
writes to the file sink in append mode, as tests/crash/crash_worker.cpp's run_stateful_mode.
Batches run back to back (trigger available-now), then one no-data batch when the watermark
moved and the operator asks for one. Batch k runs with the watermark max(event time of
batches < k) - 10 s (0 for batch 0) for eviction and the previous batch's for late rows (Spark
3.4+).

A batch of several files is several input partitions, read at once by the workers. Its rows
are those of its files in the order the source lists them (modification time, then name: file
index order here), each file's in its line order: the order a key's rows reach a stateful
operator in sluice (each state partition takes its rows input partition by input partition,
ops/state_partitions.hpp routed_rows), and so the order the first occurrence of a
deduplication key and transform_with_state's list state follow. (Spark reads small files of a
batch into partitions packed by size and gives no order across them; sluice's is that of one
thread reading the files in turn.)
"""

import datetime
import json
import os
import random
import time

US = 1_000_000
DELAY = 10 * US          # with_watermark(..., 10s)
GAP = 5 * US             # session_window(timestamp, 5s)
JOIN_LOWER, JOIN_UPPER = -5 * US, 5 * US   # time_range(ltime, rtime, -5s, 5s)
CLOSE_AT = 40            # group_state, transform_with_state: the state is removed at 40 rows
TIMEOUT_MS = 5000        # transform_with_state: the timer 5 s after the key's latest event
T0 = 1_704_067_200 * US  # 2024-01-01T00:00:00Z
WINDOW = 10 * US         # join_window: window(ltime, 10s)
MODES = ("join", "join_window", "dedup", "session", "group_state", "transform_with_state")


class ModeFailure(Exception):
    pass


def _ts_text(t):
    d = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(microseconds=t)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(text):
    d = datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (d - epoch) // datetime.timedelta(microseconds=1)


# ---------------------------------------------------------------- the input
def _times(rng, mode, i, per_file, watermark, previous):
    """Event times of file i: mostly in [T0 + 10 s * i, + 25 s), out of order, plus a few below the
    watermark the batch runs with (late against the previous batch's, or not) and on its edges."""
    base = T0 + i * 10 * US
    whole = mode == "dedup"  # whole seconds: (key, time) repeats within and across batches
    late = []
    if i > 0:
        for _ in range(rng.randint(1, 4)):
            late.append(watermark - rng.randrange(1, 30 * US))
        late += [previous, previous + 1, watermark]
        if mode == "session":
            late += [previous - GAP, previous - GAP + 1]  # a session ending exactly at the late watermark
        if mode.startswith("join"):  # a row exactly at its side's state watermark, and one above
            late += [watermark + JOIN_LOWER - 1, watermark + JOIN_LOWER]
        if mode == "transform_with_state":
            # Timers due in this very batch (on each side of the watermark), and no row at or
            # below the late-row watermark: whether transformWithState drops those is not what
            # this mode checks.
            late += [watermark - TIMEOUT_MS * 1000 - 1000, watermark - TIMEOUT_MS * 1000]
            late = [t for t in late if t > previous]
    if whole:
        late = [t - t % US for t in late]
    normal = max(1, per_file - len(late))
    times = [base + (rng.randrange(0, 25) * US if whole else rng.randrange(0, 25 * US)) for _ in range(normal)]
    times += late
    rng.shuffle(times)
    return times


def _write(input_dir, staging_dir, name, objs, mtime_ns):
    staged = os.path.join(staging_dir, "." + name + ".tmp")
    with open(staged, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(o) + "\n" for o in objs))
    os.utime(staged, ns=(mtime_ns, mtime_ns))
    os.rename(staged, os.path.join(input_dir, name))
    return os.path.getsize(os.path.join(input_dir, name))


def _split(rng, events, n):
    """A batch's events over its n files: each event to a random file, keeping their order; no
    file empty."""
    if n == 1:
        return [events]
    files = [[] for _ in range(n)]
    for e in events:
        files[rng.randrange(n)].append(e)
    for f in range(n):  # an empty file takes an event of the fullest (rows in order still)
        if not files[f]:
            big = max(range(n), key=lambda g: len(files[g]))
            files[f].append(files[big].pop())
    return files


def generate(mode, input_dir, staging_dir, files, per_file, seed, per_batch=1):
    """Writes the mode's input files: `files` per source, `per_batch` of them per batch (the
    batch's events, `per_file` per file, spread over its files). Returns (inputs, sides): inputs
    as crash_test.py's [(name, size, events)] of the first (or only) source, in the source's
    order, sides {source index: that list}."""
    rng = random.Random(seed * 31 + MODES.index(mode))
    os.makedirs(input_dir, exist_ok=True)
    os.makedirs(staging_dir, exist_ok=True)
    mtime0 = (int(time.time()) - 2 * 86400) * 10**9
    joins = mode in ("join", "join_window")
    keys = (["a", "b", "c", "d"] if mode == "dedup" else ["k%02d" % n for n in range(24)] if joins
            else ["alpha", "beta", "gamma", "delta", "eps", "zeta"])
    rare = ["r%d" % n for n in range(8)] if mode == "transform_with_state" else []  # keys whose timers fire
    side_names = ("left", "right") if joins else ("events",)
    sides = {s: [] for s in range(len(side_names))}
    batch_events = {s: [] for s in range(len(side_names))}  # per batch, its events in file order
    next_id = 0
    max_seen, watermark = [None] * len(side_names), 0
    for i in range((files + per_batch - 1) // per_batch):
        first = i * per_batch
        n = min(per_batch, files - first)  # the batch's files
        previous = watermark  # the watermarks batch i runs with (the query's: the lowest input's)
        if None not in max_seen:
            watermark = max(watermark, min(m - DELAY for m in max_seen))
        for s, side in enumerate(side_names):
            events = []
            for t in _times(rng, mode, i, per_file * n, watermark, previous):
                key = rng.choice(rare) if rare and rng.random() < 0.15 else rng.choice(keys)
                events.append({"id": next_id, "timestamp": t, "key": key, "value": rng.randint(-100, 100)})
                next_id += 1
            if joins and s == 1:  # right rows exactly on the range's bounds of left rows, and past them
                for l in rng.sample(batch_events[0][i], 2):
                    for t in (l["timestamp"] - JOIN_UPPER, l["timestamp"] - JOIN_LOWER, l["timestamp"] - JOIN_LOWER + 1):
                        events.append({"id": next_id, "timestamp": t, "key": l["key"], "value": 0})
                        next_id += 1
                rng.shuffle(events)
            batch_events[s].append([])
            for j, file_events in enumerate(_split(rng, events, n)):
                if joins:
                    p = "l" if s == 0 else "r"
                    objs = [{p + "id": e["id"], p + "time": _ts_text(e["timestamp"]),
                             ("key" if s == 0 else "rkey"): e["key"], p + "value": e["value"]} for e in file_events]
                else:
                    objs = [{"id": e["id"], "timestamp": _ts_text(e["timestamp"]), "key": e["key"], "value": e["value"]}
                            for e in file_events]
                name = "%s-%06d.jsonl" % (side, first + j)
                size = _write(input_dir, staging_dir, name, objs, mtime0 + (first + j) * 10**9)
                sides[s].append((name, size, file_events))
                batch_events[s][i] += file_events
        if mode != "group_state":
            for s in sides:
                fmax = max(e["timestamp"] for e in batch_events[s][i])
                max_seen[s] = fmax if max_seen[s] is None else max(max_seen[s], fmax)
    return sides[0], sides


# ---------------------------------------------------------------- the references
def _batches(side, per_batch):
    """A source's files [(name, size, events)] as its batches' events: files k*F .. k*F+F-1, in
    the source's order, each file's in line order."""
    return [[e for _, _, events in side[k:k + per_batch] for e in events] for k in range(0, len(side), per_batch)]


def _batch_watermarks(*inputs):
    """[(late, eviction)] per data batch, and the watermark after the last one: the query's is
    the lowest of its inputs' (each max(event time) - 10 s), never decreasing."""
    out, wm, prev = [], 0, 0
    max_seen = [None] * len(inputs)
    for k in range(len(inputs[0])):
        out.append((prev, wm))
        prev = wm
        for i, files in enumerate(inputs):
            m = max(e["timestamp"] for e in files[k])
            max_seen[i] = m if max_seen[i] is None else max(max_seen[i], m)
        wm = max(wm, min(m - DELAY for m in max_seen))
    return out, wm


def _ref_dedup(sides, per_batch):
    files = _batches(sides[0], per_batch)
    wms, final = _batch_watermarks(files)
    state, out, dropped = set(), {}, 0
    for k, events in enumerate(files):
        late, evict = wms[k]
        rows = out.setdefault(k, [])
        for e in events:
            if e["timestamp"] <= late:
                dropped += 1
                continue
            g = (e["key"], e["timestamp"])
            if g not in state:
                state.add(g)
                rows.append((e["id"],))
        state = {g for g in state if g[1] > evict}
    if final > wms[-1][1]:
        out[len(files)] = []  # the no-data batch: it evicts, emits nothing
    return out, dropped


def _ref_session(sides, per_batch):
    files = _batches(sides[0], per_batch)
    wms, final = _batch_watermarks(files)
    open_ = {}  # key -> [[start, end, n, total]]
    out, dropped = {}, 0

    def close(batch, wm):
        rows = out.setdefault(batch, [])
        for key in sorted(open_):
            keep = []
            for s in open_[key]:
                (rows.append((s[0], s[1], key, s[2], s[3])) if s[1] <= wm else keep.append(s))
            open_[key] = keep

    for k, events in enumerate(files):
        late, evict = wms[k]
        for e in events:
            t = e["timestamp"]
            if t + GAP <= late:
                dropped += 1
                continue
            new = [t, t + GAP, 1, e["value"]]
            rest = []
            for s in open_.get(e["key"], []):
                if s[0] <= new[1] and s[1] >= new[0]:  # overlapping or touching: one session
                    new = [min(s[0], new[0]), max(s[1], new[1]), s[2] + new[2], s[3] + new[3]]
                else:
                    rest.append(s)
            open_[e["key"]] = rest + [new]
        close(k, evict)
    if final > wms[-1][1]:
        close(len(files), final)
    return out, dropped


def _ref_group_state(sides, per_batch):
    files = _batches(sides[0], per_batch)
    state, out = {}, {}
    for k, events in enumerate(files):
        rows = out.setdefault(k, [])
        per_key = {}
        for e in events:
            per_key.setdefault(e["key"], []).append(e)
        for key, values in per_key.items():
            n, total = state.get(key, (0, 0))
            n += len(values)
            total += sum(v["value"] for v in values)
            closed = n >= CLOSE_AT
            if closed:
                state.pop(key, None)
            else:
                state[key] = (n, total)
            rows.append((key, len(values), n, total, closed, values[0]["id"]))
    return out, 0


def _ref_transform_with_state(sides, per_batch):
    """Spark's transformWithState in event time with the worker's TallyProcessor: per batch the
    keys with rows (their timer moved to 5 s after their latest event, or the state cleared at
    40 rows), then every timer before the batch's eviction watermark (ms), in time order, each
    clearing its key's state; a no-data batch after the last when the watermark moved."""
    files = _batches(sides[0], per_batch)
    wms, final = _batch_watermarks(files)
    state, out = {}, {}  # key -> [n, total, latest_ms, [ids], timer_ms]

    def row(key, why, rows, st, timer, wm_ms):
        ids = st[3]
        return (key, why, rows, st[0], st[1], len(ids), sum((i + 1) * x for i, x in enumerate(ids)), timer, wm_ms)

    def fire(batch, wm_ms):
        rows = out.setdefault(batch, [])
        for timer, key in sorted((st[4], key) for key, st in state.items()):
            if timer < wm_ms:
                rows.append(row(key, "timer", 0, state.pop(key), timer, wm_ms))

    for k, events in enumerate(files):
        wm_ms = wms[k][1] // 1000
        rows = out.setdefault(k, [])
        per_key = {}
        for e in events:
            per_key.setdefault(e["key"], []).append(e)
        for key, values in per_key.items():
            st = state.get(key, [0, 0, 0, [], None])
            for v in values:
                st[0] += 1
                st[1] += v["value"]
                st[2] = max(st[2], v["timestamp"] // 1000)
                st[3].append(v["id"])
            if st[0] >= CLOSE_AT:
                state.pop(key, None)
                rows.append(row(key, "limit", len(values), st, 0, wm_ms))
            else:
                st[4] = st[2] + TIMEOUT_MS
                state[key] = st
                rows.append(row(key, "rows", len(values), st, st[4], wm_ms))
        fire(k, wm_ms)
    if final > wms[-1][1]:  # the no-data batch: the watermark moved (Spark's shouldRunAnotherBatch)
        fire(len(files), final // 1000)
    return out, 0


def _ref_join(sides, per_batch):
    """Spark's left outer stream-stream join with a time range (StreamingSymmetricHashJoinExec):
    per batch the left rows (joined with the right state, then kept), the right rows (joined with
    the left state, this batch's included), then the eviction with the outer rows."""
    lfiles = _batches(sides[0], per_batch)
    rfiles = _batches(sides[1], per_batch)
    wms, final = _batch_watermarks(lfiles, rfiles)
    lstate, rstate = [], []  # [event, matched]
    out, dropped = {}, 0

    def cond(l, r):
        return r["timestamp"] + JOIN_LOWER <= l["timestamp"] <= r["timestamp"] + JOIN_UPPER

    def evict(batch, wm):
        rows = out.setdefault(batch, [])
        lwm, rwm = wm + JOIN_LOWER - 1, wm - JOIN_UPPER - 1
        kept = []
        for entry in lstate:
            if entry[0]["timestamp"] <= lwm:
                if not entry[1]:
                    rows.append((entry[0]["id"], None))
            else:
                kept.append(entry)
        lstate[:] = kept
        rstate[:] = [entry for entry in rstate if entry[0]["timestamp"] > rwm]

    def side(rows_in, is_left, late, state_wm, out_rows):
        """One side's rows of a batch: late ones dropped, the others joined with the other side's
        state and kept in their own: a left row always (Spark 4, SPARK-49829: it is evicted at
        the batch's end, with its outer row if unmatched), a right row unless already at or below
        its state watermark."""
        own, other = (lstate, rstate) if is_left else (rstate, lstate)
        late_rows = 0
        for x in rows_in:
            if x["timestamp"] <= late:
                late_rows += 1
                continue
            matched = False
            for entry in other:
                l, r = (x, entry[0]) if is_left else (entry[0], x)
                if l["key"] == r["key"] and cond(l, r):
                    matched = True
                    entry[1] = True
                    out_rows.append((l["id"], r["id"]))
            if is_left or x["timestamp"] > state_wm:
                own.append([x, matched])
        return late_rows

    for k in range(len(lfiles)):
        late, wm = wms[k]
        rows = out.setdefault(k, [])
        dropped += side(lfiles[k], True, late, wm + JOIN_LOWER - 1, rows)
        dropped += side(rfiles[k], False, late, wm - JOIN_UPPER - 1, rows)
        evict(k, wm)
    if final > wms[-1][1]:
        evict(len(lfiles), final)
    return out, dropped


def _ref_join_window(sides, per_batch):
    """The join's rows counted by (window(ltime, 10 s), key), with the join's output watermark
    (Spark 3.5: the lowest of its input and state watermarks, W - 5 s - 1 us here), never below
    0, and 0 while the query's is 0: late rows against the previous batch's, eviction this one's."""
    joined, dropped = _ref_join(sides, per_batch)
    left = {e["id"]: e for _, _, events in sides[0] for e in events}
    wms, final = _batch_watermarks(_batches(sides[0], per_batch), _batches(sides[1], per_batch))
    marks = [w for w, _ in wms] + [w for _, w in wms[-1:]] + ([final] if final > wms[-1][1] else [])

    def own(w):  # the aggregation's input watermark for a query watermark w
        return 0 if w == 0 else max(0, min(w, w + JOIN_LOWER - 1, w - JOIN_UPPER - 1))

    state, out = {}, {}
    for batch in sorted(joined):
        late, evict = own(marks[batch]), own(marks[batch + 1])
        for lid, _ in joined[batch]:
            e = left[lid]
            start = e["timestamp"] // WINDOW * WINDOW
            if start + WINDOW <= late:
                dropped += 1
                continue
            state[(start, e["key"])] = state.get((start, e["key"]), 0) + 1
        rows = out.setdefault(batch, [])
        for g in sorted(state):
            if g[0] + WINDOW <= evict:
                rows.append((g[0], g[0] + WINDOW, g[1], state.pop(g)))
    return out, dropped


def reference(mode, sides, per_batch=1):
    """({batch: [row tuple]}, rows dropped as late) by Spark's rules, batches of per_batch files."""
    return {"join": _ref_join, "join_window": _ref_join_window, "dedup": _ref_dedup, "session": _ref_session,
            "group_state": _ref_group_state, "transform_with_state": _ref_transform_with_state}[mode](sides, per_batch)


# ---------------------------------------------------------------- the sink's rows
def parse_row(mode):
    """A function (JSON object, where) -> the row tuple the reference has."""
    def parse(obj, where):
        try:
            if mode == "dedup":
                return (obj["id"],)
            if mode == "session":
                w = obj["session_window"]
                return (_parse_ts(w["start"]), _parse_ts(w["end"]), obj["key"], obj["n"], obj["total"])
            if mode == "group_state":
                return (obj["key"], obj["rows"], obj["n"], obj["total"], obj["closed"], obj["first"])
            if mode == "transform_with_state":
                return tuple(obj[f] for f in ("key", "why", "rows", "n", "total", "ids", "weighted", "timer",
                                              "watermark"))
            if mode == "join_window":
                w = obj["window"]
                return (_parse_ts(w["start"]), _parse_ts(w["end"]), obj["key"], obj["n"])
            return (obj["lid"], obj.get("rid"))
        except (KeyError, TypeError, ValueError) as e:
            raise ModeFailure("%s: unexpected row %r (%s)" % (where, obj, e))
    return parse


def compare(mode, batches, ref, problems):
    """The sink's committed rows, batch by batch, against the reference (as multisets)."""
    if sorted(batches) != sorted(ref):
        problems.append("%s: the sink committed batches %s..%s (%d), expected 0..%d" %
                        (mode, min(batches, default=None), max(batches, default=None), len(batches), len(ref) - 1))
    for batch in sorted(set(batches) | set(ref)):
        have = sorted(batches.get(batch, []), key=repr)
        want = sorted(ref.get(batch, []), key=repr)
        if have != want:
            missing = [r for r in want if r not in have]
            extra = [r for r in have if r not in want]
            if len(have) != len(set(map(repr, have))):
                extra.append("(a row written twice)")
            problems.append("%s: batch %d: %d rows, expected %d; missing %s; unexpected %s" %
                            (mode, batch, len(have), len(want), missing[:5], extra[:5]))


def check_second_source(ck_dir, sides, source_log_batches, problems, per_batch=1):
    """The join's right source (sources/1): file batch k took right files k*F .. k*F+F-1, whole,
    once."""
    if len(sides) < 2:
        return
    logged = source_log_batches(os.path.join(ck_dir, "sources", "1"))
    batches = (len(sides[1]) + per_batch - 1) // per_batch
    if sorted(logged) != list(range(batches)):
        problems.append("sources/1: entries %d, expected 0..%d" % (len(logged), batches - 1))
    for k in range(batches):
        entries = logged.get(k, [])
        want = sides[1][k * per_batch:(k + 1) * per_batch]
        if len(entries) != len(want) or any(os.path.basename(e["path"]) != name or e["size"] != size
                                            for e, (name, size, _) in zip(entries, want)):
            problems.append("sources/1: entry %d is %s, expected only %s" %
                            (k, entries, ", ".join("%s (%d bytes)" % (name, size) for name, size, _ in want)))

#!/usr/bin/env python3
"""Seed 004's data generator, made deterministic and fast to run: writes FILES JSON-lines files
of EVENTS_PER_FILE events each into DIR (batch_<n>.json, as the seed names them).

Each event is the seed's: event_id "<batch>_<i>", timestamp up to 60 s before "now" (isoformat,
no time zone: read as UTC by both engines), user_id 1..1000, event_type click/view/purchase,
value uniform in [10, 1000), written with json.dumps. "now" is a simulated clock,
2024-01-15T10:01:00 + 3 min per file (the seed sleeps between batches), so the files cover
event time the way a live run would. File n is made from random.Random(n): the same arguments
give the same bytes.

Usage: generate.py DIR [--files 20] [--events-per-file 100000]
Skips the work when DIR already holds the same set (a stamp file records the arguments).
"""
import argparse
import json
import random
from datetime import datetime, timedelta
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--events-per-file", type=int, default=100_000)
    args = ap.parse_args()
    out = Path(args.dir)
    stamp = out / "_generated"  # '_' names are skipped by both engines' file sources
    wanted = f"files={args.files} events_per_file={args.events_per_file} v1\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("batch_*.json"):
        old.unlink()
    start = datetime(2024, 1, 15, 10, 1, 0)
    types = ["click", "view", "purchase"]
    for batch in range(args.files):
        rng = random.Random(batch)
        now = start + timedelta(minutes=3 * batch)
        lines = []
        for i in range(args.events_per_file):
            event = {
                "event_id": f"{batch}_{i}",
                "timestamp": (now - timedelta(seconds=rng.randint(0, 60), microseconds=rng.randint(0, 999_999))).isoformat(),
                "user_id": rng.randint(1, 1000),
                "event_type": rng.choice(types),
                "value": rng.uniform(10, 1000),
            }
            lines.append(json.dumps(event))
        tmp = out / f".batch_{batch}.json.tmp"
        tmp.write_text("\n".join(lines) + "\n")
        tmp.rename(out / f"batch_{batch:05d}.json")
    stamp.write_text(wanted)


if __name__ == "__main__":
    main()

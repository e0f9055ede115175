#!/usr/bin/env python3
"""Reads a Delta table whose early JSON commits were removed, so that delta-rs must start from
the checkpoint sluice wrote (found through _delta_log/_last_checkpoint).

    verify_checkpoint.py TABLE --expected ROWS.jsonl --app-id ID --txn N --version V

Prints one JSON summary line; exit status 0 when the rows, the version and the txn match.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify_table import multiset_diff, read_with_deltars  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--expected", required=True)
    ap.add_argument("--app-id", required=True)
    ap.add_argument("--txn", type=int, required=True)
    ap.add_argument("--version", type=int, required=True)
    a = ap.parse_args()
    problems = []
    d = read_with_deltars(a.table, a.app_id)
    if d["version"] != a.version:
        problems.append("delta-rs: version %s, expected %s" % (d["version"], a.version))
    if d.get("txn") != a.txn:
        problems.append("delta-rs: txn %s, expected %s" % (d.get("txn"), a.txn))
    with open(a.expected, encoding="utf-8") as f:
        want = [json.loads(line) for line in f if line.strip()]
    multiset_diff("delta-rs", d["rows"], want, problems)
    print(json.dumps({"deltars_version": d["version"], "deltars_rows": len(d["rows"]), "deltars_txn": d.get("txn"),
                      "ok": not problems}))
    for p in problems:
        print(p, file=sys.stderr)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())

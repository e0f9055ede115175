#!/usr/bin/env python3
"""CTest driver of examples/rest/rest_stream (run under tests/rest/servers.py, which serves
json-server at $SLUICE_REST_JSON_SERVER).

    check_rest_stream.py <rest_stream binary> <examples/rest/json_server_items.json> <workdir>

Adds records to json-server's `growing` collection, points the sample configuration at it,
runs rest_stream with a file sink and a checkpoint (available-now), adds more records, runs
it again from the checkpoint, then the console form; checks that the sink's committed files
(read through its manifests) hold every record exactly once and the console printed them.
"""
import json
import os
import shutil
import subprocess
import sys
import urllib.request

binary, sample, workdir = sys.argv[1:4]
base = os.environ["SLUICE_REST_JSON_SERVER"]
shutil.rmtree(workdir, ignore_errors=True)
os.makedirs(workdir)


def post(n, tag):
    ids = []
    for i in range(n):
        req = urllib.request.Request(f"{base}/growing", data=json.dumps({"name": f"{tag}-{i}"}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req) as r:
            ids.append(json.load(r)["id"])
    return ids


config = json.load(open(sample))
config["url"] = config["url"].replace("http://127.0.0.1:3000/items", f"{base}/growing")
path = os.path.join(workdir, "config.json")
json.dump(config, open(path, "w"))
out, ck = os.path.join(workdir, "out"), os.path.join(workdir, "ck")


def run(*extra):
    p = subprocess.run([binary, path, *extra], capture_output=True, text=True, timeout=60)
    sys.stderr.write(p.stderr)
    if p.returncode != 0:
        sys.exit(f"rest_stream exited with {p.returncode}")
    return p.stdout


def committed_ids():
    meta = os.path.join(out, "_sluice_metadata")
    ids = []
    for name in sorted(os.listdir(meta), key=int):
        lines = open(os.path.join(meta, name)).read().splitlines()
        assert lines[0] == "v1", lines[0]
        for entry in lines[1:]:
            f = json.loads(entry)
            rows = [json.loads(l) for l in open(os.path.join(out, f["path"]))]
            assert len(rows) == f["rows"], (f, len(rows))
            ids += [r["id"] for r in rows]
    return ids


expected = post(45, "first")
run("--sink", out, "--checkpoint", ck)
got = committed_ids()
assert sorted(got) == sorted(expected) and len(set(got)) == len(got), (got, expected)
expected += post(30, "second")
run("--sink", out, "--checkpoint", ck)
got = committed_ids()
assert sorted(got) == sorted(expected) and len(set(got)) == len(got), (got, expected)
batches = len(os.listdir(os.path.join(out, "_sluice_metadata")))
assert batches >= 4, f"batch_size 20 should give at least 4 batches for 75 records, got {batches}"

printed = run("--sink", "console", "--trigger", "once")
lines = [json.loads(l) for l in printed.splitlines() if l.startswith("{")]
assert sorted(r["id"] for r in lines) == sorted(expected), printed[:500]
print(f"rest_stream: {len(expected)} records exactly once in {batches} batches; console printed {len(lines)}")

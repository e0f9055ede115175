"""End-to-end: `test_app run app.yaml`, an application whose two pipelines are bound by a YAML
file at run time, under the query manager with the admin endpoint; then the same stopped by
SIGTERM, and a file with an error.

Checks: both queries run as the file says (paths, trigger, checkpoint, the expectation's drop
policy), status lines on the console (plain lines: not a terminal), the endpoint wants the
token from the environment, the progress has data_quality, the metrics the expectation's
counters, both queries stop through the endpoint and the process exits 0; the secrets given in
the environment appear nowhere: not in the output, any answer of the endpoint (queries,
metrics, the status page) or any file the queries wrote (checkpoints, sink).

usage: app_e2e_test.py TEST_APP_EXECUTABLE
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


TOKEN = "tok-7f3e-SECRET-admin"
PASSWORD = "pw-91c2-SECRET-kafka"

YAML = """connections:
  files:
    type: local
    base_path: ./app-e2e
  bus:                      # not read by any node here: its secret must still stay hidden
    type: kafka
    bootstrap_servers: "127.0.0.1:1"
    sasl_username: app
    sasl_password: "${TEST_APP_KAFKA_PASSWORD}"
admin:
  port: 0
  token: "${TEST_APP_TOKEN}"
nodes:
  - name: copy_readings
    pipeline: copy
    streaming:
      checkpoint_location: ./app-e2e/checkpoints/copy
      trigger: "200 milliseconds"
      output_mode: append
    read: {connection: files, format: json, path: input, options: {max_files_per_trigger: 1}}
    write: {connection: files, format: json, path: out/copy}
    expectations:
      - {name: positive, policy: drop}
  - name: window_counts
    pipeline: counts
    streaming:
      checkpoint_location: ./app-e2e/checkpoints/counts
      processing_time: "300 milliseconds"
      watermark: "ts, 1 second"
    read: {connection: files, format: json, path: input}
    write: {connection: files, format: json, path: out/counts}
  - name: switched_off
    pipeline: copy
    streaming: {enabled: false}
    read: {connection: files, format: json, path: input}
    write: {connection: files, format: json, path: out/off}
"""


def get(base, path, token=TOKEN, method="GET"):
    req = urllib.request.Request(base + path, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def start(app, env):
    out = open("app-e2e-stdout.txt", "w")
    err = open("app-e2e-stderr.txt", "w")
    proc = subprocess.Popen([app, "run", "app.yaml"], stdout=out, stderr=err, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        text = open("app-e2e-stderr.txt").read()
        for line in text.splitlines():
            if "admin endpoint http://" in line:
                return proc, line.split("admin endpoint ")[1].strip()
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit("test_app did not print its admin endpoint:\n" + open("app-e2e-stderr.txt").read())


def main():
    app = sys.argv[1]
    shutil.rmtree("app-e2e", ignore_errors=True)
    os.makedirs("app-e2e/input")
    rows = 0
    for f in range(3):
        with open(f"app-e2e/input/r{f}.jsonl", "w") as out:
            for i in range(10):
                value = -1.0 if i % 5 == 0 else float(i)  # 2 of 10 fail "positive"
                out.write(json.dumps({"id": f * 10 + i, "value": value, "ts": f"2024-01-01T00:00:{f * 10 + i:02d}Z"}) + "\n")
                rows += 1
    open("app.yaml", "w").write(YAML)
    env = {**os.environ, "TEST_APP_TOKEN": TOKEN, "TEST_APP_KAFKA_PASSWORD": PASSWORD}

    proc, base = start(app, env)
    bodies = []
    try:
        status, _ = get(base, "/queries", token=None)
        check(status == 401, f"the endpoint wants the token from the environment ({status})")
        deadline = time.time() + 60
        qs = []
        while time.time() < deadline:
            status, body = get(base, "/queries")
            qs = json.loads(body) if status == 200 else []
            done = {}
            for q in qs:
                _, detail = get(base, "/queries/" + q["id"])
                done[q["name"]] = sum(p["numInputRows"] for p in json.loads(detail)["recentProgress"])
            if done.get("copy_readings") == rows and done.get("window_counts") == rows:
                break
            time.sleep(0.2)
        names = sorted(q["name"] for q in qs)
        check(names == ["copy_readings", "window_counts"], f"the two enabled nodes run, named by the file ({names})")
        ids = {q["name"]: q["id"] for q in qs}
        status, body = get(base, "/queries/" + ids["copy_readings"])
        bodies.append(body)
        detail = json.loads(body)
        batches = detail["recentProgress"]
        check(len([p for p in batches if p["numInputRows"] > 0]) == 3, "copy: one file per batch (max_files_per_trigger: 1)")
        dq = [p["data_quality"] for p in batches if p["numInputRows"] > 0]
        check(all(d["expectations"][0]["policy"] == "drop" for d in dq) and sum(d["dropped_records"] for d in dq) == 6,
              f"copy: the file's drop policy, 6 rows dropped ({dq[:1]})")
        status, metrics = get(base, "/metrics")
        bodies.append(metrics)
        check('sluice_streaming_expectation_failed_records_total{query_id="%s",query_name="copy_readings",'
              'expectation="positive",policy="drop"} 6' % ids["copy_readings"] in metrics, "metrics: the expectation's counter")
        # The Prometheus project's parser reads the families added for expectations and source lag.
        from prometheus_client.parser import text_string_to_metric_families
        fams = {f.name: f for f in text_string_to_metric_families(metrics)}
        samples = {(s.name, s.labels.get("query_name"), s.labels.get("expectation"), s.labels.get("metric")): s.value
                   for f in fams.values() for s in f.samples}
        check(fams["sluice_streaming_expectation_passed_records"].type == "counter"
              and samples[("sluice_streaming_expectation_passed_records_total", "copy_readings", "positive", None)] == 24,
              "metrics parsed: expectation counters")
        check(fams["sluice_streaming_source_files_waiting"].type == "gauge"
              and samples[("sluice_streaming_source_files_waiting", "copy_readings", None, None)] == 0
              and samples[("sluice_streaming_source_metric", "copy_readings", None, "numFilesWaiting")] == 0,
              "metrics parsed: the file source's files waiting")
        for path in ["/queries", "/queries/" + ids["window_counts"], "/"]:
            status, body = get(base, path)
            bodies.append(body)
            check(status == 200, f"GET {path}")
        for name in ["copy_readings", "window_counts"]:
            status, body = get(base, f"/queries/{ids[name]}/stop", method="POST")
            check(status == 200, f"POST /queries/{{id}}/stop for {name}")
        code = proc.wait(timeout=60)
        check(code == 0, f"the application exits 0 once its queries stopped ({code})")
    finally:
        if proc.poll() is None:
            proc.kill()

    stdout = open("app-e2e-stdout.txt").read()
    stderr = open("app-e2e-stderr.txt").read()
    check("[copy_readings] batch 0 | 10 rows |" in stderr and "[window_counts] batch" in stderr,
          "plain status lines per batch on a non-terminal")
    check("| watermark 2024-01-01T00:00:" in stderr and "| lag " in stderr, "status lines: watermark and lag")
    check("\x1b[" not in stderr, "no terminal escapes when not a terminal")
    check("sasl_password=${TEST_APP_KAFKA_PASSWORD}" in stderr, "the file as described: the reference, not the value")
    check("test_app: 2 queries ran, all ended" in stderr, "the run's summary")

    copied = []
    for root, _, files in os.walk("app-e2e/out/copy"):
        for f in files:
            if f.endswith(".jsonl") and not root.endswith("_sluice_metadata"):
                copied += [json.loads(l) for l in open(os.path.join(root, f)) if l.strip()]
    check(len(copied) == rows - 6 and all(r["value"] > 0 for r in copied), f"copy: {rows - 6} rows written ({len(copied)})")
    check(os.path.isdir("app-e2e/checkpoints/copy/commits") and os.path.isdir("app-e2e/checkpoints/counts/state/0"),
          "checkpoints where the file says")
    check(not os.path.exists("app-e2e/out/off"), "a disabled node does not run")

    # The secrets: nowhere.
    leaks = []
    for where, text in [("stdout", stdout), ("stderr", stderr)] + [(f"endpoint answer {i}", b) for i, b in enumerate(bodies)]:
        if TOKEN in text or PASSWORD in text:
            leaks.append(where)
    for root, _, files in os.walk("app-e2e"):
        for f in files:
            data = open(os.path.join(root, f), "rb").read()
            if TOKEN.encode() in data or PASSWORD.encode() in data:
                leaks.append(os.path.join(root, f))
    check(not leaks and len(bodies) >= 5, f"the secrets appear in no output, answer or file ({leaks})")

    # Stopped by SIGTERM: every query stops, the process exits 0; the checkpoints resume.
    proc, base = start(app, env)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    stderr = open("app-e2e-stderr.txt").read()
    check(code == 0 and "signal 15: stopping every query" in stderr, f"SIGTERM stops the queries, exit 0 ({code})")

    # A config error: the file, line, key path and choices; exit status 2.
    open("bad.yaml", "w").write(YAML.replace('trigger: "200 milliseconds"', 'trigger: "200 ms"'))
    r = subprocess.run([app, "check", "bad.yaml"], capture_output=True, text=True, env=env, timeout=60)
    check(r.returncode == 2 and r.stderr.startswith('test_app: bad.yaml:18: nodes[0].streaming.trigger: "200 ms" is not a trigger'),
          f"config error with file and line: {r.stderr.strip()}")
    r = subprocess.run([app, "run", "app.yaml"], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in env.items() if k != "TEST_APP_TOKEN"})
    check(r.returncode == 2 and "app.yaml:12: admin.token: the environment variable TEST_APP_TOKEN is not set" in r.stderr,
          f"a missing environment variable: {r.stderr.strip()}")

    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()

"""End-to-end: configured pipelines (sl::app) reading from and writing to a real Kafka broker.

kafka_app runs one YAML file with two nodes against the broker's SASL_SSL listener
(scripts/kafka.sh; CTest's fixture kafka_broker starts it for the Kafka tests):
  publish: JSON-lines files -> Kafka topic, through a `kafka` connection (SASL PLAIN user
           "sluice", its password from the environment), trigger availableNow;
  relay:   the topic -> JSON-lines files, through an `eventhubs` connection (Event Hubs' user
           "$ConnectionString", the connection string from the environment), every 200 ms.
Checks: every input row went through Kafka and back once (values, topic, offsets), the
checkpoints and offsets are where the file says, and the secrets (the password, the connection
string's key, and a wrong one in a failing run) appear nowhere: not in the output, the admin
endpoint's answers, the checkpoints or the files written. A wrong connection string fails the
node with exit status 1.

usage: app_kafka_test.py KAFKA_APP_EXECUTABLE BROKER_DIR
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


TOKEN = "tok-5d1a-SECRET-admin"

YAML = """connections:
  files: {type: local, base_path: ./app-kafka}
  bus:
    type: kafka
    bootstrap_servers: "@SASL@"
    security_protocol: SASL_SSL
    sasl_mechanism: PLAIN
    sasl_username: sluice
    sasl_password: "${TEST_KAFKA_PASSWORD}"
    options: {ssl.ca.location: "${TEST_KAFKA_CA}"}
  hubs:
    type: eventhubs
    connection_string: "${TEST_EVENTHUBS_CONNECTION}"
    bootstrap_servers: "@SASL@"   # the test broker, not <namespace>.servicebus.windows.net:9093
    consumer_group: app-kafka-test
admin: {port: 0, token: "${TEST_APP_TOKEN}"}
nodes:
  - name: publish_readings
    pipeline: publish
    streaming: {checkpoint_location: ./app-kafka/checkpoints/publish, trigger: availableNow}
    read: {connection: files, format: json, path: input}
    write: {connection: bus, format: kafka, table: "@TOPIC@"}
  - name: relay_readings
    pipeline: relay
    streaming: {checkpoint_location: ./app-kafka/checkpoints/relay, trigger: "200 milliseconds"}
    read:
      connection: hubs
      format: kafka
      options: {subscribe: "@TOPIC@", startingOffsets: earliest, pollTimeoutMs: "@POLL@",
                kafka.ssl.ca.location: "${TEST_KAFKA_CA}"}
    write: {connection: files, format: json, path: out/relay}
"""


def get(base, path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def relayed():
    rows = []
    for root, _, files in os.walk("app-kafka/out/relay"):
        for f in files:
            if f.endswith(".jsonl") and "_sluice_metadata" not in root:
                rows += [json.loads(l) for l in open(os.path.join(root, f)) if l.strip()]
    return rows


def main():
    app, broker = sys.argv[1], sys.argv[2]
    sasl = open(os.path.join(broker, "sasl_bootstrap")).read().strip()
    users = dict(l.split(" ", 1) for l in open(os.path.join(broker, "users.txt")).read().splitlines() if l.strip())
    password, connection = users["sluice"], users["$ConnectionString"]
    key = connection.split("SharedAccessKey=")[1]
    secrets = [password, key]
    topic = f"app-readings-{os.getpid()}-{int(time.time())}"

    shutil.rmtree("app-kafka", ignore_errors=True)
    os.makedirs("app-kafka/input")
    sent = []
    for f in range(2):
        with open(f"app-kafka/input/r{f}.jsonl", "w") as out:
            for i in range(4):
                row = {"id": f * 4 + i, "value": 1.5 * i, "ts": f"2024-01-01T00:00:0{i}Z"}
                sent.append(row)
                out.write(json.dumps(row) + "\n")
    open("app-kafka.yaml", "w").write(YAML.replace("@SASL@", sasl).replace("@TOPIC@", topic).replace("@POLL@", "60000"))
    env = {**os.environ, "TEST_KAFKA_PASSWORD": password, "TEST_KAFKA_CA": os.path.join(broker, "ca.pem"),
           "TEST_EVENTHUBS_CONNECTION": connection, "TEST_APP_TOKEN": TOKEN}

    r = subprocess.run([app, "check", "app-kafka.yaml"], capture_output=True, text=True, env=env, timeout=60)
    check(r.returncode == 0, f"check: the file binds both pipelines ({r.stderr.strip()[-300:]})")
    outputs = [("check stdout", r.stdout), ("check stderr", r.stderr)]

    out = open("app-kafka-stdout.txt", "w")
    err = open("app-kafka-stderr.txt", "w")
    proc = subprocess.Popen([app, "run", "app-kafka.yaml"], stdout=out, stderr=err, env=env)
    base = None
    try:
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            if base is None:
                for line in open("app-kafka-stderr.txt").read().splitlines():
                    if "admin endpoint http://" in line:
                        base = line.split("admin endpoint ")[1].strip()
            if len(relayed()) >= len(sent):
                break
            time.sleep(0.2)
        check(base is not None, "the admin endpoint is up")
        if base:
            status, body = get(base, "/queries")
            qs = {q["name"]: q for q in json.loads(body)} if status == 200 else {}
            check(set(qs) == {"publish_readings", "relay_readings"}, f"both nodes ran ({sorted(qs)})")
            bodies = [body] + [get(base, p)[1] for p in ["/metrics", "/"] + [f"/queries/{q['id']}" for q in qs.values()]]
            outputs += [(f"endpoint answer {i}", b) for i, b in enumerate(bodies)]
            pub = json.loads(get(base, f"/queries/{qs['publish_readings']['id']}")[1]) if qs else {}
            check(pub.get("isActive") is False and pub.get("exception") is None
                  and sum(p["numInputRows"] for p in pub.get("recentProgress", [])) == len(sent),
                  "publish: availableNow took every input row and ended")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        check(code == 0, f"SIGTERM stops the relay; the application exits 0 ({code})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    rows = relayed()
    got = sorted((json.loads(r["value"]) for r in rows), key=lambda r: r["id"])
    check([(r["id"], r["value"]) for r in got] == [(s["id"], s["value"]) for s in sent],
          f"every row went files -> Kafka -> files once ({len(rows)} of {len(sent)})")
    check(all(r["topic"] == topic and r["partition"] == 0 for r in rows)
          and sorted(r["offset"] for r in rows) == list(range(len(sent))), "relayed from the topic, offsets 0..7")
    check(os.path.isdir("app-kafka/checkpoints/publish/commits") and os.path.isdir("app-kafka/checkpoints/relay/offsets"),
          "checkpoints where the file says")
    relay_offsets = "".join(open(os.path.join("app-kafka/checkpoints/relay/offsets", f), errors="replace").read()
                            for f in os.listdir("app-kafka/checkpoints/relay/offsets"))
    check(f'"{topic}"' in relay_offsets, "the relay's checkpoint holds the topic's offsets")
    stderr = open("app-kafka-stderr.txt").read()
    outputs += [("stdout", open("app-kafka-stdout.txt").read()), ("stderr", stderr)]
    check("[relay_readings] batch" in stderr and "sasl_password=${TEST_KAFKA_PASSWORD}" in stderr,
          "status lines, and the file described with the reference, not the value")

    # A wrong connection string: the relay node fails (librdkafka's SASL error), exit 1, and
    # neither the wrong key nor the right secrets show.
    wrong_key = "d3JvbmctU0VDUkVULWtleQ"
    wrong = connection.replace(key, wrong_key)
    open("app-kafka-wrong.yaml", "w").write(
        YAML.replace("@SASL@", sasl).replace("@TOPIC@", topic).replace("@POLL@", "5000")
        .replace("checkpoints/relay", "checkpoints/relay-wrong").replace("out/relay", "out/relay-wrong")
        .replace("trigger: \"200 milliseconds\"", "trigger: availableNow")
        .replace("  - name: publish_readings", "  - name: publish_readings\n    streaming: {enabled: false}", 1)
        .replace("    streaming: {checkpoint_location: ./app-kafka/checkpoints/publish, trigger: availableNow}\n", "", 1))
    r = subprocess.run([app, "run", "app-kafka-wrong.yaml"], capture_output=True, text=True,
                       env={**env, "TEST_EVENTHUBS_CONNECTION": wrong}, timeout=120)
    check(r.returncode == 1 and "relay_readings" in r.stderr, f"a wrong connection string fails the node, exit 1 ({r.returncode})")
    check("SASL authentication error" in r.stderr, "it failed logging in (librdkafka's log)")
    check(wrong_key not in r.stdout + r.stderr, "the wrong key is not shown")
    outputs += [("wrong run stdout", r.stdout), ("wrong run stderr", r.stderr)]

    leaks = [where for where, text in outputs if any(s in text for s in secrets)]
    for root, _, files in os.walk("app-kafka"):
        for f in files:
            data = open(os.path.join(root, f), "rb").read()
            if any(s.encode() in data for s in secrets + [wrong_key]):
                leaks.append(os.path.join(root, f))
    check(not leaks and len(outputs) >= 8, f"the secrets appear in no output, answer or file ({leaks})")

    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()

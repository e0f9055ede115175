"""End-to-end: the `sluice streaming list | status | stop` command against a running process
(serve_queries) with its admin endpoint on loopback, with and without a bearer token.

usage: cli_test.py SLUICE_EXECUTABLE SERVE_QUERIES_EXECUTABLE
"""
import json
import os
import socket
import subprocess
import sys
import time

from admin_support import check, failures, start_server


def main():
    cli, serve = sys.argv[1], sys.argv[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_ADMIN_")}

    def run(*args, extra_env=None):
        r = subprocess.run([cli, *args], capture_output=True, text=True, timeout=90, env={**env, **(extra_env or {})})
        return r.returncode, r.stdout, r.stderr

    proc, base = start_server(serve)
    try:
        # Wait for a few batches.
        deadline = time.time() + 30
        while time.time() < deadline:
            code, out, _ = run("streaming", "list", "--json", "--url", base)
            qs = json.loads(out) if code == 0 else []
            if len(qs) == 2 and all(q["lastProgress"] and q["lastProgress"]["batchId"] >= 2 for q in qs):
                break
            time.sleep(0.2)
        ids = {q["name"]: q["id"] for q in qs}
        check(set(ids) == {"rates", "passing"}, "list --json: both queries")

        code, out, err = run("streaming", "list", "--url", base)
        lines = out.splitlines()
        check(code == 0 and lines[0].split()[:3] == ["ID", "NAME", "ACTIVE"], "list: a table with a header")
        check(any(l.split()[:3] == [ids["rates"], "rates", "yes"] for l in lines), "list: rates, active")

        # URL from the environment, name or id.
        code, out, err = run("streaming", "status", "rates", extra_env={"SLUICE_ADMIN_URL": base})
        check(code == 0 and f"id:        {ids['rates']}" in out and "active:    yes" in out, "status by name via SLUICE_ADMIN_URL")
        check('"stateOperators"' in out and "watermark: 20" in out, "status: last progress and watermark shown")
        code, out, err = run("streaming", "status", ids["passing"], "--json", "--url", base)
        detail = json.loads(out)
        check(code == 0 and detail["name"] == "passing" and len(detail["recentProgress"]) >= 3, "status --json by id")

        code, out, err = run("streaming", "status", "nope", "--url", base)
        check(code == 1 and "404" in err and "'nope'" in err and "/queries/nope" in err, f"status of an unknown query: exit 1, names it ({err.strip()})")

        code, out, err = run("streaming", "stop", "rates", "--url", base)
        check(code == 0 and out.strip() == f"stopped {ids['rates']} (rates)", f"stop rates ({out.strip()})")
        code, out, _ = run("streaming", "list", "--json", "--url", base)
        state = {q["name"]: q["isActive"] for q in json.loads(out)}
        check(state == {"rates": False, "passing": True}, "list after stop: rates inactive, passing active")
        code, out, err = run("streaming", "stop", ids["passing"], "--url", base)
        check(code == 0 and out.startswith("stopped"), "stop passing by id")
        check(proc.wait(timeout=20) == 0, "the process ends once both stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # A token: refused without it, accepted from SLUICE_ADMIN_TOKEN or --token.
    proc, base = start_server(serve, "--token", "tok-123")
    try:
        code, out, err = run("streaming", "list", "--url", base)
        check(code == 1 and "401" in err and "bearer token" in err, "without the token: 401, exit 1")
        code, out, err = run("streaming", "list", "--url", base, extra_env={"SLUICE_ADMIN_TOKEN": "tok-123"})
        check(code == 0 and "rates" in out, "SLUICE_ADMIN_TOKEN accepted")
        code, out, err = run("streaming", "list", "--url", base, "--token", "wrong")
        check(code == 1 and "401" in err, "a wrong token: 401")
        for name in ("rates", "passing"):
            code, _, _ = run("streaming", "stop", name, "--url", base, "--token", "tok-123")
            check(code == 0, f"stop {name} with --token")
        check(proc.wait(timeout=20) == 0, "the second process ends")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # No endpoint: exit 3 naming the URL. Bad usage: exit 2.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = run("streaming", "list", "--url", f"http://127.0.0.1:{port}")
    check(code == 3 and f"http://127.0.0.1:{port}" in err and "cannot connect" in err, "no endpoint: exit 3")
    code, out, err = run("streaming", "status")
    check(code == 2 and "usage:" in err, "status without an id: exit 2 with usage")
    code, out, err = run("streaming", "list", "--url", "ftp://x")
    check(code == 2 and "ftp://x" in err, "a bad URL: exit 2, named")
    code, out, err = run("frobnicate", "x")
    check(code == 2 and "unknown command 'frobnicate'" in err, "unknown command: exit 2")
    code, out, err = run("checkpoint", "describe", "no-such-dir")
    check(code == 1 and "no-such-dir: not a directory" in err, "checkpoint describe of no directory: exit 1, named")

    print("cli: all checks passed" if not failures else f"cli: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

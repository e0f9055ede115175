"""What the admin tests share: checks that collect their failures, HTTP on loopback, and
serve_queries started with the address of its admin endpoint."""
import subprocess
import urllib.error
import urllib.request

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def http(url, method="GET"):
    """(status, content type, body); an HTTP error status is returned, not raised."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def start_server(serve, *extra, stdin=None):
    """serve_queries running, and the base URL it printed ("admin: http://...")."""
    proc = subprocess.Popen([serve, "--max-seconds", "90", *extra], stdin=stdin, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("admin: "), f"serve_queries printed {line!r}"
    return proc, line[len("admin: "):]

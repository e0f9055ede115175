#!/usr/bin/env python3
"""Real servers on loopback for the sluice::rest tests, then the test command.

    servers.py --json-server <json-server binary> [--openssl openssl] -- <command> [args...]

Starts, on free loopback ports:
  * json-server (npm) over a fresh db.json with empty collections (SLUICE_REST_JSON_SERVER);
  * a fault-injecting HTTP/1.1 server with keep-alive (SLUICE_REST_FAULT_SERVER): 429 with
    Retry-After in seconds and as an HTTP date, 500s, stalls (also in the middle of a body),
    truncated bodies, invalid JSON, 401, redirects (loops, to any URL), huge bodies, a body
    cursor API and broken ones that loop, a timestamp API, an echo of the request headers, and
    endpoints that verify OAuth 1.0a HMAC-SHA1 signatures; the same handler on a second port
    (SLUICE_REST_OTHER_SERVER: another origin);
  * the same handler over HTTPS with a certificate of a CA generated now with the openssl
    command (SLUICE_REST_TLS_SERVER, SLUICE_REST_TLS_CA; SLUICE_REST_TLS_OTHER_CA is a CA that
    did not sign it);
and writes OAuth 1.0a test vectors computed here, independently of the C++ code, with hmac,
hashlib and urllib (SLUICE_REST_OAUTH_VECTORS). Runs the command with those variables, and
stops every server whatever happens; exits with the command's status.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from email.utils import formatdate

OAUTH_CONSUMER_KEY = "dpf43f3p2l4k3l03"
OAUTH_CONSUMER_SECRET = "kd94hf93k423kf44"
OAUTH_TOKEN = "nnch734d00sl2jdk"
OAUTH_TOKEN_SECRET = "pfkkdhi9sl3r4s00"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- OAuth 1.0a, independently
def pct(s):
    return urllib.parse.quote(s, safe="~-._")


def oauth_base_string(method, url, body_params, oauth_params):
    parts = urllib.parse.urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    base_uri = f"{scheme}://{netloc}{parts.path or '/'}"
    params = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + list(body_params) + list(oauth_params)
    encoded = sorted((pct(k), pct(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in encoded)
    return "&".join([method.upper(), pct(base_uri), pct(normalized)])


def oauth_signature(base, consumer_secret, token_secret):
    key = f"{pct(consumer_secret)}&{pct(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()


def oauth_vectors():
    cases = [
        # RFC 5849 section 3.4.1's request (its printed signature is not trusted: computed here).
        dict(method="POST", url="http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
             body="c2&a3=2+q", consumer_key="9djdj82h48djs9d2", consumer_secret="j49sk3j29djd",
             token="kkk9d7dh3k39sjv7", token_secret="dh893hdasih9", nonce="7d8f3e4a", timestamp=137131201),
        # RFC 5849 section 1.2's photo request.
        dict(method="GET", url="http://photos.example.net/photos?file=vacation.jpg&size=original", body="",
             consumer_key=OAUTH_CONSUMER_KEY, consumer_secret=OAUTH_CONSUMER_SECRET, token=OAUTH_TOKEN,
             token_secret=OAUTH_TOKEN_SECRET, nonce="chapoH", timestamp=137131202),
        # Reserved and non-ASCII characters, a non-default port, upper-case host, no token.
        dict(method="get", url="HTTPS://API.Example.COM:8443/a%20b/c?q=%E2%98%83+snow&x=1&x=0&empty=",
             body="", consumer_key="key with space", consumer_secret="s3cr&t=!", token="", token_secret="",
             nonce="n0nc3", timestamp=1700000000),
        dict(method="POST", url="http://127.0.0.1:8080/items?since=2024-01-01T00%3A00%3A00Z",
             body="name=Jos%C3%A9&tags=a%2Cb&plus=1+2", consumer_key="ck", consumer_secret="cs~*'()",
             token="tk", token_secret="ts!@#$%^", nonce="abc", timestamp=1234567890),
    ]
    out = []
    for c in cases:
        oauth = [("oauth_consumer_key", c["consumer_key"]), ("oauth_nonce", c["nonce"]),
                 ("oauth_signature_method", "HMAC-SHA1"), ("oauth_timestamp", str(c["timestamp"])),
                 ("oauth_version", "1.0")]
        if c["token"]:
            oauth.append(("oauth_token", c["token"]))
        body_params = urllib.parse.parse_qsl(c["body"], keep_blank_values=True)
        base = oauth_base_string(c["method"], c["url"], body_params, oauth)
        c = dict(c, base_string=base, signature=oauth_signature(base, c["consumer_secret"], c["token_secret"]))
        out.append(c)
    return out


def oauth_verify(method, url, body, content_type, header):
    """Returns None when the request's signature is valid, else the reason."""
    if not header or not header.startswith("OAuth "):
        return "no OAuth Authorization header"
    params = {}
    for item in header[len("OAuth "):].split(","):
        k, _, v = item.strip().partition("=")
        params[urllib.parse.unquote(k)] = urllib.parse.unquote(v.strip('"'))
    signature = params.pop("oauth_signature", None)
    params.pop("realm", None)
    if params.get("oauth_consumer_key") != OAUTH_CONSUMER_KEY or params.get("oauth_token") != OAUTH_TOKEN:
        return "unknown consumer or token"
    if abs(int(params.get("oauth_timestamp", "0")) - time.time()) > 300:
        return "stale timestamp"
    body_params = urllib.parse.parse_qsl(body, keep_blank_values=True) \
        if content_type.startswith("application/x-www-form-urlencoded") else []
    base = oauth_base_string(method, url, body_params, params.items())
    expected = oauth_signature(base, OAUTH_CONSUMER_SECRET, OAUTH_TOKEN_SECRET)
    if not hmac.compare_digest(expected, signature or ""):
        return "invalid signature"
    return None


# ---------------------------------------------------------------- the fault-injecting server
class State:
    lock = threading.Lock()
    hits = {}
    nonces = set()


def hit(key):
    with State.lock:
        State.hits[key] = State.hits.get(key, 0) + 1
        return State.hits[key]


def records(first, count, **extra):
    return [dict({"id": i, "name": f"item-{i}"}, **extra) for i in range(first, first + count)]


class FaultHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connection
    scheme = "http"

    def log_message(self, *args):
        pass

    def send_json(self, status, value, headers=()):
        body = json.dumps(value).encode()
        self.send_raw(status, body, headers)

    def send_raw(self, status, body, headers=(), content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_part(self, value, fraction):
        """Headers announcing the whole JSON body, then only its first 1/fraction."""
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // fraction])
        self.wfile.flush()

    def do_POST(self):
        self.do_GET()

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length).decode() if length else ""
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        key = q.get("run", "") + url.path
        path = url.path
        n = hit(key)
        if path == "/hits":  # how many requests a key received
            return self.send_json(200, {"hits": State.hits.get(q["of"], 0)})
        if path == "/records":
            return self.send_json(200, records(1, int(q.get("n", "3"))))
        if path == "/nested":
            return self.send_json(200, {"data": {"items": records(1, 3)}, "meta": {"count": 3}})
        if path == "/echo":  # the request as records: headers, method, body, the request line's target
            return self.send_json(200, [{"id": 10**6, "method": self.command, "body": self.body, "target": self.path,
                                         "headers": {k.lower(): v for k, v in self.headers.items()}}])
        if path == "/redirect-to":  # a redirect to any URL (another origin: the other server)
            return self.send_raw(int(q.get("status", "302")), b"", [("Location", q["to"])])
        if path == "/cursor-loop":
            # A broken cursor API over 2 records: `same` hands back the cursor it was given,
            # `cycle` goes a -> b -> a, `ignore` returns the same page under ever new cursors.
            # Pages of `same` and `cycle` differ (ids by cursor), so only the cursor gives them away.
            mode, cursor = q.get("mode", "same"), q.get("cursor", "")
            nxt = {"same": cursor or "a", "cycle": {"": "a", "a": "b", "b": "a"}.get(cursor, "a"),
                   "ignore": f"c{n}"}[mode]
            first = 1 if mode == "ignore" else {"": 1, "a": 3, "b": 5}.get(cursor, 7)
            return self.send_json(200, {"data": records(first, 2), "next": nxt})
        if path == "/stall-body":
            # Incremental ids 1..5 (`after` = the last id): the first request past id 3 gets its
            # headers and half its body, then nothing for `seconds`.
            after = int(q.get("after", "0"))
            items = records(after + 1, max(0, min(3, 5 - after)))
            if after >= 3 and hit(key + "/late") == 1:
                self.send_part(items, 2)
                time.sleep(float(q.get("seconds", "60")))
                self.close_connection = True
                return
            return self.send_json(200, items)
        if path == "/429-seconds":
            if n == 1:
                return self.send_json(429, {"error": "slow down"}, [("Retry-After", q.get("after", "1"))])
            return self.send_json(200, records(1, 2))
        if path == "/429-date":
            if n == 1:
                when = formatdate(time.time() + float(q.get("after", "2")), usegmt=True)
                return self.send_json(429, {"error": "slow down"}, [("Retry-After", when)])
            return self.send_json(200, records(1, 2))
        if path == "/500":
            if n <= int(q.get("fail", "1000000")):
                return self.send_json(500, {"error": "internal"})
            return self.send_json(200, records(1, 2))
        if path == "/stall":
            if n <= int(q.get("times", "1000000")):
                time.sleep(float(q.get("seconds", "2")))
            return self.send_json(200, records(1, 2))
        if path == "/truncated":
            if n <= int(q.get("times", "1000000")):
                self.send_part(records(1, 50), 3)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            return self.send_json(200, records(1, 2))
        if path == "/invalid-json":
            if n <= int(q.get("times", "1000000")):
                return self.send_raw(200, b'[{"id": 1, "name": "a"}, {"id": 2, "name": ')
            return self.send_json(200, records(1, 2))
        if path == "/unauthorized":
            return self.send_json(401, {"error": "invalid credentials for this resource"})
        if path == "/forbidden":
            return self.send_json(403, {"error": "forbidden"})
        if path == "/redirect-loop":
            return self.send_raw(302, b"", [("Location", "/redirect-loop-b?run=" + q.get("run", ""))])
        if path == "/redirect-loop-b":
            return self.send_raw(302, b"", [("Location", "/redirect-loop?run=" + q.get("run", ""))])
        if path == "/see-other":
            return self.send_raw(303, b"", [("Location", "/echo")])
        if path == "/redirect":
            return self.send_raw(301, b"", [("Location", "/records?n=4")])
        if path == "/huge":
            item = {"id": 1, "name": "x" * 1000}
            return self.send_json(200, [dict(item, id=i) for i in range(1, int(q.get("n", "5000")) + 1)])
        if path == "/cursor-pages":
            # Body cursor: 3 records per page over `total` records; next is null on the last page.
            total = int(q.get("total", "10"))
            page = int(q.get("cursor") or "0")
            first = page * 3 + 1
            items = records(first, max(0, min(3, total - first + 1)))
            nxt = str(page + 1) if first + 3 <= total else None
            return self.send_json(200, {"data": items, "next_cursor": nxt})
        if path == "/timestamps":
            # Records with ts in (since, now_ts]; `latest` is the newest ts returned.
            total = int(q.get("total", "7"))
            since = int(q.get("since") or "0")
            items = [{"id": i, "name": f"item-{i}", "ts": 1000 + i} for i in range(1, total + 1) if 1000 + i > since]
            latest = items[-1]["ts"] if items else None
            return self.send_json(200, {"data": items, "latest": latest})
        if path == "/oauth/items":
            full = f"{self.scheme}://{self.headers.get('Host')}{self.path}"
            why = oauth_verify(self.command, full, self.body, self.headers.get("Content-Type", ""),
                               self.headers.get("Authorization"))
            if why:
                return self.send_json(401, {"error": why})
            nonce = self.headers.get("Authorization")
            with State.lock:
                if nonce in State.nonces:
                    return self.send_json(401, {"error": "replayed nonce"})
                State.nonces.add(nonce)
            return self.send_json(200, records(1, 3))
        if path == "/oauth/echo":  # a verified request's parameters, as the server decoded them
            full = f"{self.scheme}://{self.headers.get('Host')}{self.path}"
            content_type = self.headers.get("Content-Type", "")
            why = oauth_verify(self.command, full, self.body, content_type, self.headers.get("Authorization"))
            if why:
                return self.send_json(401, {"error": why})
            form = urllib.parse.parse_qsl(self.body, keep_blank_values=True) \
                if content_type.startswith("application/x-www-form-urlencoded") else []
            query = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
            return self.send_json(200, {"data": [{"id": 1, "form": form, "query": query, "target": self.path}],
                                        "next": None})
        if path == "/bench":
            # Pages of `per_page` records by id for the incremental strategy's benchmark.
            start = int(q.get("after", "0")) + 1
            total = int(q.get("total", "100000"))
            count = max(0, min(int(q.get("per_page", "1000")), total - start + 1))
            items = [{"id": i, "name": "bench", "value": i * 0.5} for i in range(start, start + count)]
            return self.send_json(200, {"items": items})
        return self.send_json(404, {"error": "no route " + path})


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # Clients that time out on a stall or drop a connection are part of the tests.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


def serve(handler, port, context=None):
    server = QuietServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def make_ca(openssl, workdir, name):
    key, crt = os.path.join(workdir, f"{name}.key"), os.path.join(workdir, f"{name}.crt")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", f"/CN=sluice test {name}",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                   check=True, capture_output=True)
    return key, crt


def make_server_cert(openssl, workdir, ca_key, ca_crt):
    key, csr, crt = (os.path.join(workdir, f) for f in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(workdir, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    subprocess.run([openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    subprocess.run([openssl, "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
                    "-out", crt, "-days", "2", "-extfile", ext], check=True, capture_output=True)
    return key, crt


def wait_http(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                r.read()
                return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not come up within {timeout} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json-server", help="json-server executable (npm)")
    ap.add_argument("--openssl", default="openssl")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command and args.command[0] == "--" else args.command
    if not command:
        ap.error("no command to run")

    workdir = tempfile.mkdtemp(prefix="sluice-rest-")
    procs, servers = [], []
    env = dict(os.environ)
    try:
        fault_port = free_port()
        servers.append(serve(FaultHandler, fault_port))
        env["SLUICE_REST_FAULT_SERVER"] = f"http://127.0.0.1:{fault_port}"
        # The same handler on another port: another origin, for redirects.
        other_port = free_port()
        servers.append(serve(FaultHandler, other_port))
        env["SLUICE_REST_OTHER_SERVER"] = f"http://127.0.0.1:{other_port}"

        openssl = shutil.which(args.openssl)
        if openssl:
            ca_key, ca_crt = make_ca(openssl, workdir, "ca")
            _, other_crt = make_ca(openssl, workdir, "other-ca")
            key, crt = make_server_cert(openssl, workdir, ca_key, ca_crt)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(crt, key)

            class TlsHandler(FaultHandler):
                scheme = "https"
            tls_port = free_port()
            servers.append(serve(TlsHandler, tls_port, ctx))
            env["SLUICE_REST_TLS_SERVER"] = f"https://127.0.0.1:{tls_port}"
            env["SLUICE_REST_TLS_CA"] = ca_crt
            env["SLUICE_REST_TLS_OTHER_CA"] = other_crt

        vectors = os.path.join(workdir, "oauth_vectors.json")
        with open(vectors, "w") as f:
            json.dump(oauth_vectors(), f, indent=1)
        env["SLUICE_REST_OAUTH_VECTORS"] = vectors

        if args.json_server:
            db = os.path.join(workdir, "db.json")
            collections = ["incremental", "max_field", "link_pages", "restart", "replay", "growing", "crash_offsets",
                           "crash_sink"]
            with open(db, "w") as f:
                json.dump({c: [] for c in collections}, f)
            js_port = free_port()
            procs.append(subprocess.Popen([args.json_server, "--port", str(js_port), "--host", "127.0.0.1",
                                           "--quiet", db], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
            wait_http(f"http://127.0.0.1:{js_port}/incremental")
            env["SLUICE_REST_JSON_SERVER"] = f"http://127.0.0.1:{js_port}"

        wait_http(f"http://127.0.0.1:{fault_port}/records")
        return subprocess.run(command, env=env).returncode
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=10)
            except Exception:
                p.kill()
        for s in servers:
            s.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

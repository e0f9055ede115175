#!/usr/bin/env python3
"""A time-range events API on Python's http.server, for examples/time_range_source.cpp.

GET /events?from=<us>&to=<us> returns, as a JSON array, the synthetic events with
from <= ts <= to (microseconds since the epoch, both ends included): the same events as the
example's embedded server (one every 1.25 s over ten minutes from 2024-01-15T00:00:00Z, plus
two at every 15 s boundary: its last microsecond before, and the boundary itself).

  time_range_server.py --run <example_time_range_source>   serve on an ephemeral port, run the
                                                           example against it, exit with its code
  time_range_server.py [--port N]                          serve until interrupted
"""
import json
import subprocess
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

T0 = int(datetime(2024, 1, 15, tzinfo=timezone.utc).timestamp()) * 1_000_000
T_END = T0 + 600_000_000
KINDS = ["click", "view", "purchase"]


def iso(us):
    secs, frac = divmod(us, 1_000_000)
    return datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % frac


def make_events():
    out = []
    k = 0
    while T0 + k * 1_250_000 <= T_END:
        out.append((k, T0 + k * 1_250_000))
        k += 1
    j = 1
    while T0 + j * 15_000_000 <= T_END:
        out.append((1000 + j, T0 + j * 15_000_000 - 1))
        out.append((2000 + j, T0 + j * 15_000_000))
        j += 1
    return [(ts, {"id": i, "ts": iso(ts), "kind": KINDS[i % 3], "value": i * 0.5}) for i, ts in out]


EVENTS = make_events()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        params = parse_qs(url.query)
        if url.path != "/events" or "from" not in params or "to" not in params:
            self.send_error(404, "expected /events?from=<us>&to=<us>")
            return
        lo, hi = int(params["from"][0]), int(params["to"][0])
        body = json.dumps([e for ts, e in EVENTS if lo <= ts <= hi]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main(argv):
    if len(argv) == 3 and argv[1] == "--run":
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = "http://127.0.0.1:%d" % server.server_address[1]
        code = subprocess.call([argv[2], "--base", base])
        server.shutdown()
        return code
    port = int(argv[2]) if len(argv) == 3 and argv[1] == "--port" else 8000
    print("serving http://127.0.0.1:%d/events" % port)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

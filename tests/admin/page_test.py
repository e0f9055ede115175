"""End-to-end: the admin endpoint's status page in a real browser.

Headless Chromium (Debian's chromium) loads GET / from a running process (serve_queries)
once both queries were stopped (serve_queries --linger keeps serving them), so their numbers
are fixed; the page's tables and charts are checked against the queries' progress JSON
(GET /queries/{id}): "rates" for rates, durations, state and watermark, "passing" for its
expectations' data quality (sl::expect: per expectation its policy, the last batch's
data_quality counts and the totals). A screenshot is saved as status_page.png in the
working directory.

usage: page_test.py SERVE_QUERIES_EXECUTABLE
"""
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from html.parser import HTMLParser

from admin_support import check, failures, http, start_server


class PageParser(HTMLParser):
    """Collects the table cells (data-query, data-field) and the charts' series."""

    def __init__(self):
        super().__init__()
        self.cells = {}  # (query id, field) or (query id, expectation, field) -> text
        self.series = {}  # (query id, chart title, series name) -> number of points
        self.loaded = None
        self._cell = None
        self._query = None
        self._chart = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.loaded = a.get("data-loaded")
        if tag == "section" and "data-query-id" in a:
            self._query = a["data-query-id"]
        if tag in ("td", "span") and "data-field" in a:
            self._cell = ((a["data-query"], a["data-expectation"], a["data-field"]) if "data-expectation" in a
                          else (a["data-query"], a["data-field"]))
            self.cells[self._cell] = ""
        if tag == "svg":
            self._chart = a.get("data-title")
        if tag == "polyline":
            self.series[(self._query, self._chart, a["data-series"])] = int(a["data-points"])

    def handle_endtag(self, tag):
        if tag in ("td", "span"):
            self._cell = None

    def handle_data(self, data):
        if self._cell:
            self.cells[self._cell] += data


def chromium(*args):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise SystemExit("FAIL chromium is not installed (Debian package chromium; scripts/install-deps.sh)")
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
           "--virtual-time-budget=4000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def main():
    proc, base = start_server(sys.argv[1], "--linger", stdin=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            qs = json.loads(http(base + "/queries")[2])
            if all(q["lastProgress"] and q["lastProgress"]["batchId"] >= 6 for q in qs):
                break
            time.sleep(0.2)
        ids = {q["name"]: q["id"] for q in qs}
        for name in ("rates", "passing"):
            status, _, _ = http(f"{base}/queries/{ids[name]}/stop", "POST")
            check(status == 200, f"{name} stopped: its numbers are fixed")
        check(proc.stdout.readline().startswith("all queries stopped"), "serve_queries lingers, serving")
        detail = json.loads(http(f"{base}/queries/{ids['rates']}")[2])
        passing = json.loads(http(f"{base}/queries/{ids['passing']}")[2])
        status, ctype, html = http(base + "/")
        check(status == 200 and ctype.startswith("text/html"), "GET / is an HTML page")

        r = chromium("--dump-dom", base + "/")
        check(r.returncode == 0, "chromium --dump-dom exits 0" + ("" if r.returncode == 0 else ": " + r.stderr[-500:]))
        page = PageParser()
        page.feed(r.stdout)
        check(page.loaded == "true", "the page's script loaded the queries")
        rid = ids["rates"]
        p = detail["lastProgress"]
        cell = lambda f: page.cells.get((rid, f))
        check(cell("batchId") == str(p["batchId"]), f"batch id {cell('batchId')} == {p['batchId']}")
        check(cell("numInputRows") == str(p["numInputRows"]), "input rows")
        for f in ("inputRowsPerSecond", "processedRowsPerSecond"):
            shown = cell(f)
            check(shown is not None and abs(float(shown) - p[f]) <= 0.05 + 1e-9, f"{f}: {shown} is {p[f]} to 0.1")
        check(cell("triggerExecution") == str(p["durationMs"]["triggerExecution"]), "batch duration ms")
        check(cell("stateRows") == str(sum(s["numRowsTotal"] for s in p["stateOperators"])), "state rows")
        check(cell("watermark") == p["eventTime"]["watermark"], f"watermark {cell('watermark')}")
        check(cell("recordsProcessed") == str(detail["recordsProcessed"]), "records processed")
        n = len(detail["recentProgress"])
        for chart, series in (("Input vs processing rate (rows/s)", "inputRowsPerSecond"),
                              ("Input vs processing rate (rows/s)", "processedRowsPerSecond"),
                              ("Batch duration (ms)", "triggerExecution"),
                              ("Batch duration (ms)", "addBatch"),
                              ("State rows", "numRowsTotal")):
            got = page.series.get((rid, chart, series))
            check(got == n, f"chart '{chart}' / {series}: {got} points, one per batch ({n})")
        marks = sum(1 for x in detail["recentProgress"]
                    if x["eventTime"].get("watermark") and not x["eventTime"]["watermark"].startswith("1970-01-01T00:00:00"))
        check(page.series.get((rid, "Watermark (UTC)", "watermark")) == marks, f"watermark chart: {marks} points")
        check((ids["passing"], "Batch duration (ms)", "triggerExecution") in page.series, "the other query is drawn too")
        check((ids["passing"], "State rows", "numRowsTotal") not in page.series, "no state chart without state")

        # passing's expectations: the last batch's data_quality and the totals over its batches.
        pid = ids["passing"]
        dq = passing["lastProgress"].get("data_quality")
        check(dq is not None and [e["name"] for e in dq["expectations"]] == ["even_value", "not_multiple_of_5"],
              "passing's progress has data_quality for both expectations")
        recent = passing["recentProgress"]
        check(len(recent) == passing["numBatches"], "passing: every batch's progress retained (totals are sums)")
        ecell = lambda name, f: page.cells.get((pid, name, f))
        for e in (dq["expectations"] if dq else []):
            n = e["name"]
            check(ecell(n, "name") == n, f"expectation {n} listed")
            check(ecell(n, "policy") == e["policy"], f"{n}: policy {ecell(n, 'policy')} == {e['policy']}")
            for f in ("passed_records", "failed_records"):
                check(ecell(n, f) == str(e[f]), f"{n}: last batch {f} {ecell(n, f)} == {e[f]}")
                total = sum(y[f] for r in recent if r.get("data_quality")
                            for y in r["data_quality"]["expectations"] if y["name"] == n)
                endpoint = [t[f] for t in passing.get("expectations", []) if t["name"] == n]
                check(endpoint == [total], f"{n}: GET /queries/{{id}} total {f} {endpoint} == {total}")
                check(ecell(n, "total_" + f) == str(total), f"{n}: total {f} {ecell(n, 'total_' + f)} == {total}")
            check(int(ecell(n, "total_failed_records") or 0) > 0, f"{n}: some rows failed it (the data has them)")
        check(dq is not None and page.cells.get((pid, "dropped_records")) == str(dq["dropped_records"]),
              f"dropped records (last batch) {page.cells.get((pid, 'dropped_records'))}")
        with_dq = sum(1 for r in recent if r.get("data_quality"))
        for n in ("even_value", "not_multiple_of_5"):
            got = page.series.get((pid, "Failed records per batch", n))
            check(got == with_dq, f"chart 'Failed records per batch' / {n}: {got} points ({with_dq})")
        check(not any(k[0] == rid and len(k) == 3 for k in page.cells), "rates has no expectations table")

        shot = os.path.abspath("status_page.png")
        if os.path.exists(shot):
            os.remove(shot)
        r = chromium("--window-size=1300,1100", f"--screenshot={shot}", base + "/")
        ok = os.path.exists(shot) and open(shot, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(shot) > 20000
        check(ok, f"screenshot saved: {shot}")

        proc.stdin.close()
        check(proc.wait(timeout=20) == 0, "the process ends once both stopped and its input closed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print("page: all checks passed" if not failures else f"page: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

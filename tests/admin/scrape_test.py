"""End-to-end: a running sluice process (serve_queries) scraped over HTTP on loopback.

GET /metrics is parsed by the Prometheus project's own text-format parser (prometheus_client),
and its numbers are checked against the queries' progress JSON from GET /queries/{id}, after
each query was stopped through POST /queries/{id}/stop (so the two cannot drift apart).

usage: scrape_test.py SERVE_QUERIES_EXECUTABLE
"""
import json
import sys
import time
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

from admin_support import check, failures, http, start_server


def ts_seconds(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    proc, base = start_server(sys.argv[1])
    try:
        # Wait for a few batches of each query.
        deadline = time.time() + 30
        while time.time() < deadline:
            _, _, body = http(base + "/queries")
            qs = json.loads(body)
            if all(q["lastProgress"] and q["lastProgress"]["batchId"] >= 3 for q in qs):
                break
            time.sleep(0.2)
        check(len(qs) == 2, "two queries listed")

        # A scrape while they run parses, with the families and types expected.
        status, ctype, text = http(base + "/metrics")
        check(status == 200 and ctype.startswith("text/plain; version=0.0.4"), "GET /metrics is Prometheus text")
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        expected = {
            "sluice_streaming_records_processed": "counter",
            "sluice_streaming_batch_duration_ms": "histogram",
            "sluice_streaming_batches": "counter",
            "sluice_streaming_rows_dropped_by_watermark": "counter",
            "sluice_streaming_input_rows_per_second": "gauge",
            "sluice_streaming_processed_rows_per_second": "gauge",
            "sluice_streaming_duration_ms": "gauge",
            "sluice_streaming_state_rows": "gauge",
            "sluice_streaming_state_memory_bytes": "gauge",
            "sluice_streaming_watermark_lag_seconds": "gauge",
            "sluice_streaming_query_active": "gauge",
        }
        for name, kind in expected.items():
            check(name in fams and fams[name].type == kind, f"family {name} of type {kind}")

        # Stop both through the endpoint, then compare metrics and progress exactly.
        ids = {q["name"]: q["id"] for q in qs}
        for name, qid in ids.items():
            status, _, body = http(f"{base}/queries/{qid}/stop", "POST")
            check(status == 200 and json.loads(body)["isActive"] is False, f"POST stop {name}: 200, inactive")
        details = {name: json.loads(http(f"{base}/queries/{qid}")[2]) for name, qid in ids.items()}
        _, _, text = http(base + "/metrics")
        samples = {}
        for f in text_string_to_metric_families(text):
            for s in f.samples:
                samples.setdefault(s.name, []).append(s)

        def same_label(key, got, want):
            # le is a number written either way ("5" or "5.0"): compare values.
            if key == "le" and got is not None:
                return float(got) == float(want)
            return got == want

        def value(name, query, **labels):
            for s in samples.get(name, []):
                if s.labels.get("query_id") == ids[query] and all(same_label(k, s.labels.get(k), v) for k, v in labels.items()):
                    return s.value
            return None

        for name in ids:
            d = details[name]
            recent = d["recentProgress"]
            last = d["lastProgress"]
            check(len(recent) == d["numBatches"] < 100, f"{name}: every batch's progress retained")
            rows = sum(p["numInputRows"] for p in recent)
            check(rows > 0, f"{name}: rows were processed")
            check(value("sluice_streaming_records_processed_total", name) == rows,
                  f"{name}: records_processed_total == sum of numInputRows ({rows})")
            check(value("sluice_streaming_batches_total", name) == len(recent), f"{name}: batches_total")
            check(value("sluice_streaming_batch_duration_ms_count", name) == len(recent), f"{name}: histogram count")
            durations = [p["durationMs"]["triggerExecution"] for p in recent]
            check(value("sluice_streaming_batch_duration_ms_sum", name) == sum(durations), f"{name}: histogram sum")
            for le in ("5.0", "100.0", "+Inf"):
                bound = float(le)
                want = sum(1 for x in durations if x <= bound)
                check(value("sluice_streaming_batch_duration_ms_bucket", name, le=le) == want,
                      f"{name}: bucket le={le} == {want}")
            check(value("sluice_streaming_batch_id", name) == last["batchId"], f"{name}: batch_id gauge")
            check(value("sluice_streaming_input_rows", name) == last["numInputRows"], f"{name}: input_rows gauge")
            check(abs(value("sluice_streaming_input_rows_per_second", name) - last["inputRowsPerSecond"]) < 1e-9,
                  f"{name}: input rate gauge")
            check(abs(value("sluice_streaming_processed_rows_per_second", name) - last["processedRowsPerSecond"]) < 1e-9,
                  f"{name}: processing rate gauge")
            for phase, ms in last["durationMs"].items():
                check(value("sluice_streaming_duration_ms", name, phase=phase) == ms, f"{name}: durationMs.{phase}")
            check(value("sluice_streaming_query_active", name) == 0, f"{name}: inactive after stop")
            check(value("sluice_streaming_query_failed", name) == 0, f"{name}: not failed")

        rates = details["rates"]["lastProgress"]
        op = rates["stateOperators"][0]
        check(value("sluice_streaming_state_rows", "rates", operator="0") == op["numRowsTotal"], "rates: state rows")
        check(value("sluice_streaming_state_memory_bytes", "rates", operator="0") == op["memoryUsedBytes"],
              "rates: state memory")
        wm = ts_seconds(rates["eventTime"]["watermark"])
        got_wm = value("sluice_streaming_watermark_seconds", "rates")
        check(got_wm is not None and abs(got_wm - wm) < 1e-6, "rates: watermark seconds")
        lag = value("sluice_streaming_watermark_lag_seconds", "rates")
        check(lag is not None and 2 <= lag < 60, f"rates: watermark lag {lag} s (watermark 2 s behind event time)")
        check(value("sluice_streaming_watermark_seconds", "passing") is None, "passing: no watermark, no sample")

        code = proc.wait(timeout=20)
        check(code == 0, "serve_queries exits 0 once both queries were stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"{len(failures) == 0 and 'scrape: all checks passed' or 'scrape: ' + str(len(failures)) + ' failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

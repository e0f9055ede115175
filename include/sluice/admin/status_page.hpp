// The status page served at GET / by the admin endpoint: like Spark UI's Structured Streaming
// tab, each query with its numbers and charts over its recent batches (input vs processing
// rate, batch duration and its phases, state rows, watermark), and its expectations'
// data quality (sl::expect: the last batch's data_quality and the running totals). One static page, inline SVG
// charts drawn by a few lines of script: nothing to build, nothing vendored. It reads
// GET /queries and GET /queries/{id} every 2 s; a bearer token is taken from the page's
// fragment (http://host:port/#token=...), which browsers never send to the server.
#pragma once
#include <string_view>

namespace sluice::detail::admin {

inline constexpr std::string_view status_page_html = R"sluicehtml(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sluice: streaming queries</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
  h1 { font-size: 1.4em; margin: 0 0 .2em; }
  #updated, .muted { color: #777; font-size: .9em; }
  #error { color: #b00020; }
  section.query { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 1em; margin: 1em 0; }
  section.query h2 { font-size: 1.15em; margin: 0 0 .5em; }
  .state { font-size: .8em; padding: .1em .5em; border-radius: 3px; color: #fff; background: #2e7d32; }
  .state.stopped { background: #757575; } .state.failed { background: #b00020; }
  table.numbers { border-collapse: collapse; margin-bottom: .8em; }
  table.numbers th, table.numbers td { padding: .25em .8em; border-bottom: 1px solid #eee; text-align: right; }
  table.numbers th { font-weight: 600; color: #555; }
  table.numbers td.name { text-align: left; }
  table.numbers td.failing { color: #b00020; }
  .charts { display: flex; flex-wrap: wrap; gap: 1em; }
  .chart { background: #fff; } .chart text { font-size: 10px; fill: #555; }
  .chart .title { font-size: 12px; font-weight: 600; fill: #222; }
  .exception { color: #b00020; white-space: pre-wrap; font-family: monospace; }
</style>
</head>
<body data-loaded="false">
<h1>sluice: streaming queries</h1>
<div id="updated">loading...</div>
<div id="error"></div>
<div id="queries"></div>
<script>
"use strict";
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};

async function getJSON(path) {
  const r = await fetch(path, { headers, cache: "no-store" });
  const text = await r.text();
  if (!r.ok) throw new Error(path + ": " + r.status + " " + text);
  return JSON.parse(text);
}
const esc = s => String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fixed = (x, d) => (x === null || x === undefined) ? "-" : Number(x).toFixed(d);
const stateRows = p => p.stateOperators.reduce((a, s) => a + s.numRowsTotal, 0);
const timeOf = t => t ? t.replace("T", " ").replace(/\.\d+Z$/, "Z") : "-";

// A line chart of series [{name, color, points: [[x, y], ...]}] as an SVG string.
function chart(title, series, yFormat, fromZero = true) {
  const W = 380, H = 170, L = 62, R = 10, T = 22, B = 34;
  const all = series.flatMap(s => s.points);
  let x0 = Math.min(...all.map(p => p[0])), x1 = Math.max(...all.map(p => p[0]));
  let y0 = Math.min(...(fromZero ? [0] : []), ...all.map(p => p[1])), y1 = Math.max(...all.map(p => p[1]));
  if (!all.length) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const sx = x => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = y => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  let svg = `<svg class="chart" width="${W}" height="${H}" data-title="${esc(title)}">`;
  svg += `<text class="title" x="${L}" y="14">${esc(title)}</text>`;
  svg += `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#bbb"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#bbb"/>`;
  svg += `<text x="${L - 4}" y="${sy(y1) + 4}" text-anchor="end">${esc(yFormat(y1))}</text>`;
  svg += `<text x="${L - 4}" y="${sy(y0) + 4}" text-anchor="end">${esc(yFormat(y0))}</text>`;
  svg += `<text x="${L}" y="${H - B + 14}">batch ${x0}</text><text x="${W - R}" y="${H - B + 14}" text-anchor="end">${x1}</text>`;
  let lx = L;
  for (const s of series) {
    const pts = s.points.map(p => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" ");
    svg += `<polyline fill="none" stroke="${s.color}" stroke-width="1.6" points="${pts}" data-series="${esc(s.name)}" data-points="${s.points.length}"/>`;
    svg += `<rect x="${lx}" y="${H - 12}" width="10" height="3" fill="${s.color}"/><text x="${lx + 13}" y="${H - 8}">${esc(s.name)}</text>`;
    lx += 16 + 6.2 * s.name.length;
  }
  return svg + "</svg>";
}

// The sl::expect stages: per expectation its policy, the last batch's passed and failed
// records (progress "data_quality", DLT's fields) and the totals since the query started.
function expectations(q, p) {
  const totals = q.expectations || [];
  if (!totals.length) return "";
  const id = esc(q.id), last = p && p.data_quality ? p.data_quality.expectations : [];
  const cell = (name, field, value, cls = "") =>
    `<td class="${cls}" data-query="${id}" data-expectation="${esc(name)}" data-field="${field}">${esc(value)}</td>`;
  let h = `<table class="numbers expectations"><tr><th>expectation</th><th>policy</th>`;
  h += `<th>passed (last batch)</th><th>failed (last batch)</th><th>passed (total)</th><th>failed (total)</th></tr>`;
  for (const t of totals) {
    const b = last.find(e => e.name === t.name);
    h += "<tr>" + cell(t.name, "name", t.name, "name") + cell(t.name, "policy", t.policy);
    h += cell(t.name, "passed_records", b ? b.passed_records : "-");
    h += cell(t.name, "failed_records", b ? b.failed_records : "-", b && b.failed_records ? "failing" : "");
    h += cell(t.name, "total_passed_records", t.passed_records);
    h += cell(t.name, "total_failed_records", t.failed_records, t.failed_records ? "failing" : "") + "</tr>";
  }
  h += `</table>`;
  if (p && p.data_quality)
    h += `<div class="muted">dropped records (last batch): <span data-query="${id}" data-field="dropped_records">${esc(p.data_quality.dropped_records)}</span></div>`;
  return h;
}

function render(q) {
  const p = q.lastProgress, recent = q.recentProgress || [];
  const state = q.exception ? "failed" : q.isActive ? "active" : "stopped";
  const id = esc(q.id);
  const cell = (field, value) => `<td data-query="${id}" data-field="${field}">${esc(value)}</td>`;
  let h = `<section class="query" data-query-id="${id}">`;
  h += `<h2>${esc(q.name === null ? "(unnamed)" : q.name)} <span class="state ${state}">${state}</span></h2>`;
  h += `<div class="muted">id ${id} &middot; run ${esc(q.runId)} &middot; started ${esc(timeOf(q.started))} &middot; ${esc(q.status ? q.status.message : "")}</div>`;
  if (q.exception) h += `<div class="exception">${esc(q.exception)}</div>`;
  h += `<table class="numbers"><tr><th>batch</th><th>input rows</th><th>input rows/s</th><th>processed rows/s</th>`;
  h += `<th>batch ms</th><th>state rows</th><th>watermark</th><th>records processed</th></tr><tr>`;
  h += cell("batchId", p ? p.batchId : "-");
  h += cell("numInputRows", p ? p.numInputRows : "-");
  h += cell("inputRowsPerSecond", p ? fixed(p.inputRowsPerSecond, 1) : "-");
  h += cell("processedRowsPerSecond", p ? fixed(p.processedRowsPerSecond, 1) : "-");
  h += cell("triggerExecution", p ? p.durationMs.triggerExecution : "-");
  h += cell("stateRows", p && p.stateOperators.length ? stateRows(p) : "-");
  h += cell("watermark", p && p.eventTime.watermark ? p.eventTime.watermark : "-");
  h += cell("recordsProcessed", q.recordsProcessed);
  h += `</tr></table>`;
  h += expectations(q, p);
  h += `<div class="charts">`;
  const pts = f => recent.map(r => [r.batchId, f(r)]);
  h += chart("Input vs processing rate (rows/s)", [
    { name: "inputRowsPerSecond", color: "#1565c0", points: pts(r => r.inputRowsPerSecond) },
    { name: "processedRowsPerSecond", color: "#ef6c00", points: pts(r => r.processedRowsPerSecond) }], y => y.toFixed(0));
  const phases = [["triggerExecution", "#6a1b9a"], ["addBatch", "#2e7d32"], ["latestOffset", "#c62828"]];
  h += chart("Batch duration (ms)", phases.map(([n, c]) => ({ name: n, color: c, points: pts(r => r.durationMs[n] || 0) })), y => y.toFixed(0));
  if (recent.some(r => r.data_quality))
    h += chart("Failed records per batch", (recent.find(r => r.data_quality) || {}).data_quality.expectations.map((e, i) => ({
      name: e.name, color: ["#b00020", "#ef6c00", "#6a1b9a", "#00838f"][i % 4],
      points: recent.filter(r => r.data_quality).map(r => [r.batchId,
        (r.data_quality.expectations.find(x => x.name === e.name) || { failed_records: 0 }).failed_records])
    })), y => y.toFixed(0));
  if (recent.some(r => r.stateOperators.length))
    h += chart("State rows", [{ name: "numRowsTotal", color: "#00838f", points: pts(stateRows) }], y => y.toFixed(0));
  // The first batches' watermark is the epoch (none yet): left out, as it would flatten the rest.
  const marks = recent.filter(r => r.eventTime.watermark && Date.parse(r.eventTime.watermark) > 0);
  if (marks.length)
    h += chart("Watermark (UTC)", [{ name: "watermark", color: "#4e342e",
      points: marks.map(r => [r.batchId, Date.parse(r.eventTime.watermark) / 1000]) }],
      y => new Date(y * 1000).toISOString().slice(11, 19), false);
  return h + "</div></section>";
}

async function refresh() {
  try {
    const list = await getJSON("/queries");
    const details = await Promise.all(list.map(q => getJSON("/queries/" + encodeURIComponent(q.id))));
    document.getElementById("queries").innerHTML = details.length ? details.map(render).join("") : "<p>No queries.</p>";
    document.getElementById("updated").textContent = "updated " + new Date().toISOString() + " (every 2 s)";
    document.getElementById("error").textContent = "";
    document.body.dataset.loaded = "true";
  } catch (e) {
    document.getElementById("error").textContent = String(e);
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)sluicehtml";

}  // namespace sluice::detail::admin

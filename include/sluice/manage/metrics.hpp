// The metrics of a query_manager's queries in the Prometheus text exposition format (0.0.4):
// every progress field of each query's last batch as a gauge, running totals as counters,
// and seed 001's names (records_processed, batch_duration_ms) among them. The reference
// table is in docs/operations.md. Not in <sluice/sluice.hpp>: it would add about 0.3 s to
// every translation unit, and only the program that exposes metrics needs it.
#pragma once
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "manager.hpp"

namespace sluice {
namespace detail {

// A label value as the text format wants it: backslash, double quote and newline escaped.
inline void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

inline void append_number(std::string& out, double v) {
  if (std::isnan(v)) { out += "NaN"; return; }
  if (std::isinf(v)) { out += v > 0 ? "+Inf" : "-Inf"; return; }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// A source metric's text as a number (they are strings in progress, as in Spark).
inline bool parse_metric(const std::string& text, double& out) {
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc{} && r.ptr == text.data() + text.size();
}

class prometheus_writer {
 public:
  using labels = std::vector<std::pair<std::string_view, std::string>>;
  // Starts a family; its samples must follow before the next one (the format wants a family's
  // samples together).
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP "; out_ += name; out_ += ' '; out_ += help; out_ += '\n';
    out_ += "# TYPE "; out_ += name; out_ += ' '; out_ += type; out_ += '\n';
  }
  void sample(std::string_view name, const labels& ls, double value) {
    out_ += name;
    if (!ls.empty()) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : ls) {
        if (!first) out_ += ',';
        first = false;
        out_ += k; out_ += "=\""; append_label_value(out_, v); out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    append_number(out_, value);
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace detail

// The text of GET /metrics. `now` is the wall clock the watermark lag is measured against.
inline std::string prometheus_text(const std::vector<managed_query>& queries, timestamp now = timestamp::now()) {
  detail::prometheus_writer w;
  using labels = detail::prometheus_writer::labels;
  auto base = [](const managed_query& q) { return labels{{"query_id", q.id}, {"query_name", q.name}}; };
  auto with = [&](const managed_query& q, std::string_view k, std::string v) {
    auto ls = base(q);
    ls.emplace_back(k, std::move(v));
    return ls;
  };
  // One gauge family from each query's last progress (queries without one have no sample).
  auto gauge = [&](std::string_view name, std::string_view help, auto value_of) {
    w.family(name, "gauge", help);
    for (const auto& q : queries)
      if (q.last_progress) w.sample(name, base(q), static_cast<double>(value_of(*q.last_progress)));
  };
  auto counter = [&](std::string_view name, std::string_view help, auto value_of) {
    w.family(name, "counter", help);
    for (const auto& q : queries) w.sample(name, base(q), static_cast<double>(value_of(q)));
  };

  w.family("sluice_streaming_query_active", "gauge", "1 while the query runs, 0 once it stopped or failed");
  for (const auto& q : queries) w.sample("sluice_streaming_query_active", base(q), q.active ? 1 : 0);
  w.family("sluice_streaming_query_failed", "gauge", "1 when the query terminated with an exception");
  for (const auto& q : queries) w.sample("sluice_streaming_query_failed", base(q), q.exception ? 1 : 0);

  counter("sluice_streaming_records_processed_total", "Input rows of all batches (seed 001: records_processed)",
          [](const managed_query& q) { return q.records_processed; });
  counter("sluice_streaming_batches_total", "Batches run", [](const managed_query& q) { return q.batches; });
  counter("sluice_streaming_output_rows_total", "Rows given to the sink",
          [](const managed_query& q) { return q.output_rows; });
  counter("sluice_streaming_rows_dropped_by_watermark_total", "Late rows dropped by the watermark in stateful operators",
          [](const managed_query& q) { return q.rows_dropped_by_watermark; });

  auto expectation_counter = [&](std::string_view name, std::string_view help, auto value_of) {
    w.family(name, "counter", help);
    for (const auto& q : queries)
      for (const auto& e : q.expectations) {
        auto ls = with(q, "expectation", e.name);
        ls.emplace_back("policy", e.policy);
        w.sample(name, ls, static_cast<double>(value_of(e)));
      }
  };
  expectation_counter("sluice_streaming_expectation_passed_records_total", "Rows that met the expectation (sl::expect)",
                      [](const expectation_metrics& e) { return e.passed_records; });
  expectation_counter("sluice_streaming_expectation_failed_records_total",
                      "Rows that failed the expectation (kept, dropped or failing the batch, by its policy)",
                      [](const expectation_metrics& e) { return e.failed_records; });

  w.family("sluice_streaming_batch_duration_ms", "histogram",
           "Duration of each micro-batch, triggerExecution in ms (seed 001: batch_duration_ms)");
  for (const auto& q : queries) {
    std::int64_t cumulative = 0;
    for (std::size_t b = 0; b < q.batch_duration_counts.size(); ++b) {
      cumulative += q.batch_duration_counts[b];
      std::string le = "+Inf";
      if (b < std::size(batch_duration_buckets_ms)) {
        le.clear();
        detail::append_number(le, batch_duration_buckets_ms[b]);
      }
      w.sample("sluice_streaming_batch_duration_ms_bucket", with(q, "le", le), static_cast<double>(cumulative));
    }
    w.sample("sluice_streaming_batch_duration_ms_sum", base(q), q.batch_duration_sum_ms);
    w.sample("sluice_streaming_batch_duration_ms_count", base(q), static_cast<double>(q.batches));
  }

  gauge("sluice_streaming_batch_id", "The last batch's id", [](const query_progress& p) { return p.batch_id; });
  gauge("sluice_streaming_input_rows", "The last batch's input rows (numInputRows)",
        [](const query_progress& p) { return p.num_input_rows; });
  gauge("sluice_streaming_input_rows_per_second", "Input rate of the last batch (inputRowsPerSecond)",
        [](const query_progress& p) { return p.input_rows_per_second; });
  gauge("sluice_streaming_processed_rows_per_second", "Processing rate of the last batch (processedRowsPerSecond)",
        [](const query_progress& p) { return p.processed_rows_per_second; });
  gauge("sluice_streaming_output_rows", "The last batch's rows given to the sink (sink.numOutputRows)",
        [](const query_progress& p) { return p.sink.num_output_rows; });

  w.family("sluice_streaming_duration_ms", "gauge", "The last batch's phases in ms (durationMs), by phase");
  for (const auto& q : queries)
    if (q.last_progress)
      for (const auto& [phase, ms] : q.last_progress->duration_ms)
        w.sample("sluice_streaming_duration_ms", with(q, "phase", phase), static_cast<double>(ms));

  auto state_gauge = [&](std::string_view name, std::string_view help, auto value_of) {
    w.family(name, "gauge", help);
    for (const auto& q : queries) {
      if (!q.last_progress) continue;
      const auto& ops = q.last_progress->state_operators;
      for (std::size_t i = 0; i < ops.size(); ++i) {
        auto ls = with(q, "operator", std::to_string(i));
        ls.emplace_back("operator_name", ops[i].operator_name);
        w.sample(name, ls, static_cast<double>(value_of(ops[i])));
      }
    }
  };
  state_gauge("sluice_streaming_state_rows", "Rows in the operator's state after the last batch (numRowsTotal)",
              [](const state_operator_metrics& s) { return s.num_rows_total; });
  state_gauge("sluice_streaming_state_rows_updated", "State rows the last batch updated (numRowsUpdated)",
              [](const state_operator_metrics& s) { return s.num_rows_updated; });
  state_gauge("sluice_streaming_state_rows_removed", "State rows the last batch removed (numRowsRemoved)",
              [](const state_operator_metrics& s) { return s.num_rows_removed; });
  state_gauge("sluice_streaming_state_memory_bytes", "Memory of the operator's state (memoryUsedBytes)",
              [](const state_operator_metrics& s) { return s.memory_used_bytes; });
  state_gauge("sluice_streaming_state_rows_dropped_by_watermark",
              "Late rows the last batch dropped (numRowsDroppedByWatermark)",
              [](const state_operator_metrics& s) { return s.num_rows_dropped_by_watermark; });

  w.family("sluice_streaming_watermark_seconds", "gauge", "The last batch's event-time watermark, Unix seconds");
  for (const auto& q : queries)
    if (q.last_progress && q.last_progress->event_time.watermark)
      w.sample("sluice_streaming_watermark_seconds", base(q),
               static_cast<double>(q.last_progress->event_time.watermark->micros) / 1e6);
  w.family("sluice_streaming_watermark_lag_seconds", "gauge", "Wall-clock time at the scrape minus the watermark");
  for (const auto& q : queries)
    if (q.last_progress && q.last_progress->event_time.watermark)
      w.sample("sluice_streaming_watermark_lag_seconds", base(q),
               static_cast<double>(now.micros - q.last_progress->event_time.watermark->micros) / 1e6);

  auto source_gauge = [&](std::string_view name, std::string_view help, auto value_of) {
    w.family(name, "gauge", help);
    for (const auto& q : queries) {
      if (!q.last_progress) continue;
      const auto& srcs = q.last_progress->sources;
      for (std::size_t i = 0; i < srcs.size(); ++i) {
        auto ls = with(q, "source", std::to_string(i));
        ls.emplace_back("source_description", srcs[i].description);
        w.sample(name, ls, static_cast<double>(value_of(srcs[i])));
      }
    }
  };
  source_gauge("sluice_streaming_source_input_rows", "The last batch's input rows from the source",
               [](const source_progress& s) { return s.num_input_rows; });
  source_gauge("sluice_streaming_source_input_rows_per_second", "Input rate from the source in the last batch",
               [](const source_progress& s) { return s.input_rows_per_second; });
  source_gauge("sluice_streaming_source_processed_rows_per_second", "Processing rate of the source's rows",
               [](const source_progress& s) { return s.processed_rows_per_second; });

  // Source lag, where a source knows it (its progress metrics): Kafka's offsets behind the
  // latest, the file source's files waiting. Sources without it have no sample.
  auto source_metric_gauge = [&](std::string_view name, std::string_view help, std::string_view metric) {
    w.family(name, "gauge", help);
    for (const auto& q : queries) {
      if (!q.last_progress) continue;
      const auto& srcs = q.last_progress->sources;
      for (std::size_t i = 0; i < srcs.size(); ++i) {
        const auto it = srcs[i].metrics.find(std::string(metric));
        double v = 0;
        if (it == srcs[i].metrics.end() || !detail::parse_metric(it->second, v)) continue;
        auto ls = with(q, "source", std::to_string(i));
        ls.emplace_back("source_description", srcs[i].description);
        w.sample(name, ls, v);
      }
    }
  };
  source_metric_gauge("sluice_streaming_source_offsets_behind_latest",
                      "Kafka: offsets the source is behind the latest, the largest over its partitions "
                      "(maxOffsetsBehindLatest)",
                      "maxOffsetsBehindLatest");
  source_metric_gauge("sluice_streaming_source_avg_offsets_behind_latest",
                      "Kafka: offsets behind the latest, the average over its partitions (avgOffsetsBehindLatest)",
                      "avgOffsetsBehindLatest");
  source_metric_gauge("sluice_streaming_source_files_waiting",
                      "File source: new files the last batch left for later batches (numFilesWaiting)", "numFilesWaiting");
  // Every numeric metric a source reports, by its name (numOffsetsLost, numFilesChangedAfterRead...).
  w.family("sluice_streaming_source_metric", "gauge", "A source's own progress metrics (sources[].metrics), by name");
  for (const auto& q : queries) {
    if (!q.last_progress) continue;
    const auto& srcs = q.last_progress->sources;
    for (std::size_t i = 0; i < srcs.size(); ++i)
      for (const auto& [k, text] : srcs[i].metrics) {
        double v = 0;
        if (!detail::parse_metric(text, v)) continue;
        auto ls = with(q, "source", std::to_string(i));
        ls.emplace_back("source_description", srcs[i].description);
        ls.emplace_back("metric", k);
        w.sample("sluice_streaming_source_metric", ls, v);
      }
  }
  return w.take();
}

inline std::string prometheus_text(const query_manager& manager, timestamp now = timestamp::now()) {
  return prometheus_text(manager.queries(), now);
}

}  // namespace sluice

// Definitions of engine/progress.hpp's functions (see impl/config.hpp).
#pragma once
#include "../engine/progress.hpp"

namespace sluice {

boost::json::object query_progress::to_json() const {
  boost::json::object o;
  o["id"] = id;
  o["runId"] = run_id;
  o["name"] = name.empty() ? boost::json::value(nullptr) : boost::json::value(name);
  o["timestamp"] = format_timestamp(timestamp);
  o["batchId"] = batch_id;
  o["numInputRows"] = num_input_rows;
  o["inputRowsPerSecond"] = input_rows_per_second;
  o["processedRowsPerSecond"] = processed_rows_per_second;
  boost::json::object d;
  for (const auto& [k, v] : duration_ms) d[k] = v;
  o["durationMs"] = std::move(d);
  boost::json::object et;
  if (event_time.avg) et["avg"] = format_timestamp(*event_time.avg);
  if (event_time.max) et["max"] = format_timestamp(*event_time.max);
  if (event_time.min) et["min"] = format_timestamp(*event_time.min);
  if (event_time.watermark) et["watermark"] = format_timestamp(*event_time.watermark);
  o["eventTime"] = std::move(et);
  boost::json::array ops;
  for (const auto& s : state_operators) {
    boost::json::object so{{"operatorName", s.operator_name},
                           {"numRowsTotal", s.num_rows_total},
                           {"numRowsUpdated", s.num_rows_updated},
                           {"numRowsRemoved", s.num_rows_removed},
                           {"numRowsDroppedByWatermark", s.num_rows_dropped_by_watermark},
                           {"memoryUsedBytes", s.memory_used_bytes}};
    if (!s.custom_metrics.empty()) {
      boost::json::object m;
      for (const auto& [k, v] : s.custom_metrics) m[k] = v;
      so["customMetrics"] = std::move(m);
    }
    ops.push_back(std::move(so));
  }
  o["stateOperators"] = std::move(ops);
  boost::json::array srcs;
  for (const auto& s : sources) {
    boost::json::object so{{"description", s.description},
                           {"startOffset", s.start_offset},
                           {"endOffset", s.end_offset},
                           {"numInputRows", s.num_input_rows},
                           {"inputRowsPerSecond", s.input_rows_per_second},
                           {"processedRowsPerSecond", s.processed_rows_per_second}};
    if (!s.metrics.empty()) {  // Spark leaves an empty map out
      boost::json::object m;
      for (const auto& [k, v] : s.metrics) m[k] = v;
      so["metrics"] = std::move(m);
    }
    srcs.push_back(std::move(so));
  }
  o["sources"] = std::move(srcs);
  o["sink"] = boost::json::object{{"description", sink.description}, {"numOutputRows", sink.num_output_rows}};
  if (!expectations.empty()) {  // as Delta Live Tables' flow_progress event: its field names
    boost::json::array es;
    std::int64_t dropped = 0;
    for (const auto& e : expectations) {
      es.push_back(boost::json::object{{"name", e.name},
                                       {"policy", e.policy},
                                       {"passed_records", e.passed_records},
                                       {"failed_records", e.failed_records}});
      if (e.policy == "drop") dropped += e.failed_records;
    }
    o["data_quality"] = boost::json::object{{"dropped_records", dropped}, {"expectations", std::move(es)}};
  }
  return o;
}

std::string query_progress::json() const { return json_text(to_json()); }

boost::json::object query_status::to_json() const {
  return {{"message", message}, {"isDataAvailable", is_data_available}, {"isTriggerActive", is_trigger_active}};
}

std::string query_status::json() const { return json_text(to_json()); }

}  // namespace sluice

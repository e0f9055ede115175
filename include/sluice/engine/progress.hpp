// Progress and status, with Spark's StreamingQueryProgress / StreamingQueryStatus field names
// in their JSON form.
#pragma once
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../json.hpp"
#include "../pipeline.hpp"
#include "../time.hpp"

namespace sluice {

struct source_progress {
  std::string description;
  boost::json::value start_offset;
  boost::json::value end_offset;
  std::int64_t num_input_rows = 0;
  double input_rows_per_second = 0;
  double processed_rows_per_second = 0;
};

struct sink_progress {
  std::string description;
  std::int64_t num_output_rows = 0;
};

struct event_time_progress {
  std::optional<timestamp> min, max, avg;
  std::optional<timestamp> watermark;
};

struct query_progress {
  std::string id;
  std::string run_id;
  std::string name;
  sluice::timestamp timestamp;
  std::int64_t batch_id = 0;
  std::int64_t num_input_rows = 0;
  double input_rows_per_second = 0;
  double processed_rows_per_second = 0;
  std::map<std::string, std::int64_t> duration_ms;
  event_time_progress event_time;
  std::vector<state_operator_metrics> state_operators;
  std::vector<source_progress> sources;
  sink_progress sink;

  boost::json::object to_json() const {
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
      ops.push_back(boost::json::object{{"operatorName", s.operator_name},
                                        {"numRowsTotal", s.num_rows_total},
                                        {"numRowsUpdated", s.num_rows_updated},
                                        {"numRowsRemoved", s.num_rows_removed},
                                        {"numRowsDroppedByWatermark", s.num_rows_dropped_by_watermark},
                                        {"memoryUsedBytes", s.memory_used_bytes}});
    }
    o["stateOperators"] = std::move(ops);
    boost::json::array srcs;
    for (const auto& s : sources) {
      srcs.push_back(boost::json::object{{"description", s.description},
                                         {"startOffset", s.start_offset},
                                         {"endOffset", s.end_offset},
                                         {"numInputRows", s.num_input_rows},
                                         {"inputRowsPerSecond", s.input_rows_per_second},
                                         {"processedRowsPerSecond", s.processed_rows_per_second}});
    }
    o["sources"] = std::move(srcs);
    o["sink"] = boost::json::object{{"description", sink.description}, {"numOutputRows", sink.num_output_rows}};
    return o;
  }
  std::string json() const { return json_text(to_json()); }
};

struct query_status {
  std::string message = "Initializing sources";
  bool is_data_available = false;
  bool is_trigger_active = false;

  boost::json::object to_json() const {
    return {{"message", message}, {"isDataAvailable", is_data_available}, {"isTriggerActive", is_trigger_active}};
  }
  std::string json() const { return json_text(to_json()); }
};

}  // namespace sluice

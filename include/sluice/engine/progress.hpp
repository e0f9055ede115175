// Progress and status, with Spark's StreamingQueryProgress / StreamingQueryStatus field names
// in their JSON form.
#pragma once
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../impl/config.hpp"
#include "../codec/json.hpp"
#include "../time.hpp"
#include "control.hpp"

namespace sluice {

struct source_progress {
  std::string description;
  boost::json::value start_offset;
  boost::json::value end_offset;
  std::int64_t num_input_rows = 0;
  double input_rows_per_second = 0;
  double processed_rows_per_second = 0;
  std::map<std::string, std::string> metrics;  // the source's own (e.g. numFilesChangedAfterRead)
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
  std::vector<expectation_metrics> expectations;  // sl::expect stages: "data_quality" in JSON

  // Spark's StreamingQueryProgress JSON.
  SLUICE_DECL boost::json::object to_json() const;
  SLUICE_DECL std::string json() const;
};

struct query_status {
  std::string message = "Initializing sources";
  bool is_data_available = false;
  bool is_trigger_active = false;

  SLUICE_DECL boost::json::object to_json() const;
  SLUICE_DECL std::string json() const;
};

}  // namespace sluice

#if SLUICE_HEADER_ONLY
#include "../impl/progress.ipp"
#endif

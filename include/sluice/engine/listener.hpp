// Query lifecycle events (Spark's StreamingQueryListener): started, progress, idle and
// terminated, with Spark's event field names in their JSON form. Listeners are given to a
// query in query_options::listeners (or to a query_manager, which passes them on).
#pragma once
#include <boost/json.hpp>
#include <optional>
#include <string>

#include "../time.hpp"
#include "progress.hpp"

namespace sluice {

struct query_started_event {
  std::string id, run_id, name;
  sluice::timestamp timestamp;  // wall clock at start
  boost::json::object to_json() const {
    return {{"id", id},
            {"runId", run_id},
            {"name", name.empty() ? boost::json::value(nullptr) : boost::json::value(name)},
            {"timestamp", format_timestamp(timestamp)}};
  }
};

struct query_progress_event {
  query_progress progress;
  boost::json::object to_json() const { return {{"progress", progress.to_json()}}; }
};

// A trigger found no data, and no progress or idle event was sent for
// query_options::no_data_progress_event_interval (Spark's noDataProgressEventInterval).
struct query_idle_event {
  std::string id, run_id;
  sluice::timestamp timestamp;  // the trigger's start
  boost::json::object to_json() const {
    return {{"id", id}, {"runId", run_id}, {"timestamp", format_timestamp(timestamp)}};
  }
};

struct query_terminated_event {
  std::string id, run_id;
  std::optional<std::string> exception;  // the error's message; none when stopped
  boost::json::object to_json() const {
    return {{"id", id},
            {"runId", run_id},
            {"exception", exception ? boost::json::value(*exception) : boost::json::value(nullptr)}};
  }
};

// Called on the query's thread (started: on the thread calling start, before it returns),
// so a listener must not block. One that throws is ignored: the query goes on.
class query_listener {
 public:
  virtual ~query_listener() = default;
  virtual void on_query_started(const query_started_event&) {}
  virtual void on_query_progress(const query_progress_event&) {}
  virtual void on_query_idle(const query_idle_event&) {}
  virtual void on_query_terminated(const query_terminated_event&) {}
};

}  // namespace sluice

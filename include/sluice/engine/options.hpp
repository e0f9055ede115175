// Output modes (as types, so sl::start can check them at compile time), triggers and
// query options.
#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../time.hpp"
#include "control.hpp"
#include "listener.hpp"

namespace sluice {

template <output_mode_kind K>
struct output_mode_tag {
  static constexpr output_mode_kind value = K;
};

namespace output_mode {
inline constexpr output_mode_tag<output_mode_kind::append> append{};
inline constexpr output_mode_tag<output_mode_kind::update> update{};
inline constexpr output_mode_tag<output_mode_kind::complete> complete{};
}  // namespace output_mode

enum class trigger_kind {
  micro_batch,      // default: the next batch as soon as the previous one ends
  processing_time,  // a batch every interval (at once when the previous one overran)
  once,             // one batch with everything available, then stop
  available_now,    // everything available at start, in batches within source limits, then stop
};

struct trigger_spec {
  trigger_kind kind = trigger_kind::micro_batch;
  duration interval{0};
};

namespace trigger {
inline constexpr trigger_spec micro_batch() { return {}; }
template <class Rep, class Period>
constexpr trigger_spec processing_time(std::chrono::duration<Rep, Period> interval) {
  return {trigger_kind::processing_time, std::chrono::duration_cast<duration>(interval)};
}
inline constexpr trigger_spec once() { return {trigger_kind::once, {}}; }
inline constexpr trigger_spec available_now() { return {trigger_kind::available_now, {}}; }
}  // namespace trigger

// How the query's watermark is chosen when several inputs carry one
// (spark.sql.streaming.multipleWatermarkPolicy).
enum class watermark_policy { min, max };

// query_options::shuffle_partitions of a new query left at 0: a state file per partition is
// written (and synced) each batch, so few; enough for 8 workers (docs/checkpoints.md).
inline constexpr std::size_t default_shuffle_partitions = 8;

struct query_options {
  std::string name{};  // {}: designated initializers may leave it out without a -Wextra warning
  trigger_spec trigger{};
  watermark_policy multiple_watermark_policy = watermark_policy::min;
  // After a batch that moved the watermark, run a batch without data so windows close
  // (spark.sql.streaming.noDataMicroBatches.enabled).
  bool no_data_micro_batches = true;
  // A directory for the offset and commit logs and the state: a query started on an existing
  // checkpoint resumes where it stopped (see docs/checkpoints.md). Empty: no checkpoint.
  std::string checkpoint{};
  std::int64_t min_batches_to_retain = 100;       // log entries and state versions kept
  std::int64_t state_snapshot_interval = 10;      // a full state snapshot every N batches
  std::size_t progress_retention = 100;           // recent_progress() length
  std::chrono::milliseconds polling_delay{10};    // idle wait of the default trigger
  // Where batch timestamps come from (Spark's trigger clock): empty, the system clock. Tests
  // give a manual one (sl::testing::manual_clock) to drive processing-time timeouts.
  std::function<timestamp()> clock{};
  // Told of the query's start, progress, idleness and end (Spark's StreamingQueryListener).
  std::vector<std::shared_ptr<query_listener>> listeners{};
  // The least time between two idle events (spark.sql.streaming.noDataProgressEventInterval).
  std::chrono::milliseconds no_data_progress_event_interval{10000};
  // Threads a batch runs on (0: one per core). Results do not depend on it.
  std::size_t parallelism = 0;
  // State partitions of each stateful operator (spark.sql.shuffle.partitions). 0: the
  // checkpoint's value, or for a new query default_shuffle_partitions (docs/checkpoints.md). A
  // checkpoint keeps the value it was created with; a different explicit value is refused at
  // start.
  std::size_t shuffle_partitions = 0;
};

}  // namespace sluice

// The engine's runtime control interfaces: per-batch hooks the engine calls through a
// virtual interface, once per batch, never per row. Sources (through source_node), watermark
// stages and stateful stages implement them and register in visit(graph_controls&). Kept out
// of the graph core (graph/) so stateless operators do not pay for std::filesystem and
// Boost.JSON.
#pragma once
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include "../checkpoint/stored_state.hpp"
#include "../graph/protocol.hpp"
#include "../time.hpp"

namespace sluice {

struct read_limit {
  // Upper bounds a source may apply to one batch; a source with its own limits
  // (max_files_per_trigger...) uses them unless `all` asks for everything available.
  bool all = false;
  static constexpr read_limit all_available() { return {true}; }
  static constexpr read_limit source_default() { return {false}; }
};

// What a source learns when its query starts (the optional `open(const source_context&)`).
struct source_context {
  std::string query_id;
  std::size_t index = 0;  // position among the query's sources, in graph order
  // `<checkpoint>/sources/<index>`: where a source keeps logs of its own (the files a file
  // source took per batch). Empty without a checkpoint: keep them in memory.
  std::filesystem::path checkpoint_dir;
  // query_options::min_batches_to_retain: how much of its own log a source must keep.
  std::int64_t min_batches_to_retain = 100;
};

// A base (beside std::exception) of an error after which a batch can simply run again in the
// same query, as Spark retries a failed task: nothing of the batch was committed anywhere, and
// its sources read it again from where they are now (kafka::fenced_error: a consumer-group
// member whose partitions the group moved while its batch was open). The engine reloads the
// state and runs the logged batch again, at most max_batch_retries times in a row.
struct retriable_batch_error {
  static constexpr int max_batch_retries = 3;
  virtual ~retriable_batch_error() = default;
};

// Thrown by a source whose blocking call (a wait, a network read) gave up because its stop
// token (source_control::set_stop_token) was requested: the query ends as stopped, not failed.
class source_interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class source_control {
 public:
  virtual ~source_control() = default;
  virtual std::string description() const = 0;
  virtual void open(const source_context& ctx) = 0;
  // False for a source declaring `replayable = false` (it cannot read a batch again): such a
  // source refuses a checkpoint in open().
  virtual bool replayable() const { return true; }
  // Restart: the next batch starts after `committed_end` (an offset from the offset log).
  virtual void restore(const boost::json::value& committed_end) = 0;
  // Restart: batch N had offsets logged but no commit; it runs again up to exactly `end`.
  // Returns true when the batch holds data.
  virtual bool plan_logged_batch(const boost::json::value& end) = 0;
  // Decides the end offset of the next batch; returns true when it holds new data.
  virtual bool plan_batch(read_limit limit) = 0;
  // Next batch reads nothing (a no-data batch).
  virtual void plan_empty_batch() = 0;
  // Available-now: remember what is available now; later batches never go past it.
  virtual void prepare_available_now() = 0;
  virtual void commit_batch() = 0;
  // The offset type's schema: part of the checkpoint fingerprint.
  virtual std::string offset_signature() const = 0;
  virtual boost::json::value start_offset_json() const = 0;
  virtual boost::json::value end_offset_json() const = 0;
  virtual std::int64_t rows_in_batch() const = 0;
  // How many rows the planned batch will read, when the source can tell (its optional
  // planned_rows): the engine reserves its batch buffer for them. A hint, never trusted for
  // correctness; none by default.
  virtual std::optional<std::size_t> planned_rows() { return std::nullopt; }
  // The source's own metrics for progress (Spark's SourceProgress.metrics); none by default.
  virtual std::map<std::string, std::string> progress_metrics() const { return {}; }
  virtual void stop() = 0;
  // At the start of each run of the query, on its thread: the token that stop() requests, from
  // the thread calling stop(). A source that may block for long (a Retry-After wait, a slow
  // server) watches it and then throws source_interrupted. Default: ignored.
  virtual void set_stop_token(std::stop_token) {}
};

// Event times a watermark stage saw in a batch; min and max are meaningful when count > 0.
// Per row: branch-free, in registers (no first-row test, no x87 long double).
struct event_time_stats {
  std::int64_t count = 0;
  std::int64_t min = std::numeric_limits<std::int64_t>::max();
  std::int64_t max = std::numeric_limits<std::int64_t>::min();
  // The exact sum is sum_high + sum_low: rows add to the 64-bit sum_low, which moves into
  // sum_high only when it would overflow (with epoch timestamps, about every 5,000 rows). A
  // 128-bit add per row held two more registers in the row loop and made the compiler spill.
  std::int64_t sum_low = 0;
  __int128 sum_high = 0;
  void add(std::int64_t t) {
    min = t < min ? t : min;
    max = t > max ? t : max;
    std::int64_t s;
    if (__builtin_add_overflow(sum_low, t, &s)) [[unlikely]] {
      sum_high += sum_low;
      s = t;
    }
    sum_low = s;
    ++count;
  }
  __int128 sum() const { return sum_high + sum_low; }
  void merge(const event_time_stats& o) {
    min = o.min < min ? o.min : min;
    max = o.max > max ? o.max : max;
    sum_high += o.sum();
    count += o.count;
  }
};

class watermark_control {
 public:
  virtual ~watermark_control() = default;
  virtual std::string column_description() const = 0;
  virtual duration delay() const = 0;
  virtual event_time_stats take_batch_stats() = 0;  // and reset for the next batch
  // with_watermark(...).with_idleness(t): after t of batch time without rows, the input stops
  // holding back the query's watermark (beyond Spark; none by default).
  virtual std::optional<duration> idle_timeout() const { return std::nullopt; }
};

struct state_operator_metrics {
  std::string operator_name;
  std::int64_t num_rows_total = 0;
  std::int64_t num_rows_updated = 0;
  std::int64_t num_rows_removed = 0;
  std::int64_t num_rows_dropped_by_watermark = 0;
  std::int64_t memory_used_bytes = 0;
  // Spark's StateOperatorProgress.customMetrics: the operator's own counters, by name (in the
  // progress JSON in name order, left out when empty, as Spark does).
  std::map<std::string, std::int64_t> custom_metrics{};
};

// rule: data-quality stages (sl::expect, ops/expect.hpp) register here; the engine starts them
// with the sink, calls begin_batch before a run of a batch and end_batch after the sink took
// it (before state and commit), and puts metrics() in the batch's progress.
struct sink_context;
struct expectation_metrics {
  std::string name;
  std::string policy;  // "warn", "drop" or "fail"
  std::int64_t passed_records = 0;
  std::int64_t failed_records = 0;
};
class expectation_control {
 public:
  virtual ~expectation_control() = default;
  virtual void start(const sink_context& ctx) = 0;
  virtual void begin_batch(const batch_context& ctx) = 0;
  virtual void end_batch(const batch_context& ctx) = 0;
  virtual expectation_metrics metrics() const = 0;  // of the last batch
};

class stateful_control : public stored_state {
 public:
  virtual ~stateful_control() = default;
  // The operator's position in graph_controls::stateful, given by visit(): the index of its
  // watermarks in batch_context::operator_watermarks.
  std::size_t operator_index = 0;
  // The stateful operators upstream of this one are graph_controls::stateful[upstream_from,
  // operator_index) (given by visit(), as the graph is visited upstream first): their output
  // watermarks make this one's input watermark (Spark's watermark propagation).
  std::size_t upstream_from = 0;
  // Spark's produceOutputWatermark: the watermark of the rows this operator emits, given its
  // input (eviction) watermark; none when its output carries none. Most pass it on.
  virtual std::optional<std::int64_t> output_watermark(std::int64_t input_watermark) const { return input_watermark; }
  // Spark's shouldRunAnotherBatch: would a batch with this new watermark emit or evict?
  virtual bool needs_no_data_batch(output_mode_kind mode, std::int64_t new_watermark) const = 0;
  // Processing-time timers: would a batch with this timestamp fire one? (A no-data batch
  // runs when one does; the timestamp is the one the batch will get.)
  virtual bool needs_no_data_batch_at(timestamp batch_timestamp) const {
    (void)batch_timestamp;
    return false;
  }
  virtual state_operator_metrics metrics() const = 0;  // of the last batch
  // Called before every run of a batch. (After a failed run the engine has reloaded the
  // state of the last committed batch first, as Spark reloads its state store's version.)
  virtual void begin_batch(const batch_context& ctx) { (void)ctx; }
  // The run of the query ends (stopped, finished or failed): once, after its last batch.
  virtual void stop() {}

  // ---- checkpoints: the state after a batch, as a delta (what the batch changed) or a
  // snapshot (everything), in the binary form generated from the state types.
  // The state's binary layout as JSON text (codec/state_layout.hpp): part of the checkpoint
  // fingerprint, and compared on restart.
  virtual std::string state_signature() const = 0;
  // write_delta / write_snapshot / load_snapshot / apply_delta: checkpoint/stored_state.hpp.
  // Restart: the watermark the last committed batch ran with (for no-data batch decisions).
  virtual void restore_last_batch_watermark(std::int64_t watermark) = 0;
};

// A stage a checkpoint depends on (stateful and watermark stages): what its state means,
// recorded in the checkpoint's metadata and compared on restart (checkpoint_dir::open), e.g.
// {"operator":"aggregate","keys":[{"key":"window","durationUs":10000000,...}],...}.
class described_stage {
 public:
  virtual ~described_stage() = default;
  virtual boost::json::object checkpoint_description() const = 0;
};

// A sink inside the graph besides the query's own (sl::late_rows_to): started with it, as a
// sink in append mode; it gets each batch's rows under the batch's id before the commit.
class side_sink_control {
 public:
  virtual ~side_sink_control() = default;
  virtual void start_side_sink(const std::string& query_id, const std::string& query_name) = 0;
};

struct graph_controls {
  std::vector<source_control*> sources;
  std::vector<side_sink_control*> side_sinks;
  std::vector<watermark_control*> watermarks;
  std::vector<stateful_control*> stateful;
  std::vector<const described_stage*> described;  // in graph order
  std::vector<expectation_control*> expectations;  // in graph order
  // Where the stateful operators upstream of the stage being visited begin in `stateful` (set
  // by a stage's node before the stage's visit(); a node with several inputs sets it itself).
  std::size_t upstream_from = 0;

  // A stateful operator's visit(): its index (that of its watermarks in
  // batch_context::operator_watermarks), its state, and its description in the checkpoint.
  template <class Stage>
  void add_stateful(Stage* stage) {
    stage->operator_index = stateful.size();
    stage->upstream_from = upstream_from < stateful.size() ? upstream_from : stateful.size();
    stateful.push_back(stage);
    described.push_back(stage);
  }
};

}  // namespace sluice

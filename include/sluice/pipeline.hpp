// The typed graph. `source | stage | ... | sink` builds one type: each `|` binds a stage
// descriptor (what the user wrote, e.g. sl::map(f)) to the row type flowing into it, yielding
// a bound stage that knows its output row type and how it changes the graph's compile-time
// properties. Stateless stages run fused in the producer's loop (nested lambdas the compiler
// inlines); stateful stages split a batch into an accept phase and a finish phase.
#pragma once
#include <boost/json/value.hpp>
#include <concepts>
#include <cstdint>
#include <limits>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "schema.hpp"
#include "time.hpp"

namespace sluice {

enum class output_mode_kind { append, update, complete };

inline constexpr std::string_view to_string(output_mode_kind m) {
  switch (m) {
    case output_mode_kind::append: return "append";
    case output_mode_kind::update: return "update";
    case output_mode_kind::complete: return "complete";
  }
  return "?";
}

// The two watermarks a stateful operator runs a batch with (Spark 3.4+): rows are late against
// the one the previous batch ran with, state is evicted and emitted against this batch's. Both
// are the operator's input watermark: with chained operators, what the ones before it pass on
// (Spark's watermark propagation), the query's for every operator here.
struct input_watermarks {
  std::int64_t for_late_events = 0;
  std::int64_t for_eviction = 0;
};

// What one micro-batch runs with. The watermark is the one computed at the end of the
// previous batch (Spark's rule), in microseconds of event time.
struct batch_context {
  std::int64_t batch_id = 0;
  std::int64_t watermark = 0;  // the query's (eviction) watermark, as in progress
  bool has_watermark = false;
  // Per stateful operator, in graph_controls::stateful order.
  std::vector<input_watermarks> operator_watermarks;
  timestamp batch_timestamp{};
  output_mode_kind mode = output_mode_kind::append;
  bool no_data = false;
  // Distinct for every run of a batch: a batch that failed runs again, after a restart, with
  // the same batch_id and a new attempt, and stages first undo what the failed run did.
  std::uint64_t attempt = 0;

  // Operator `op`'s watermarks; a context without them (a graph driven by hand) uses the
  // batch's watermark for both.
  input_watermarks watermarks_of(std::size_t op) const {
    return op < operator_watermarks.size() ? operator_watermarks[op] : input_watermarks{watermark, watermark};
  }
};

// The watermark stateful operator `op` drops late rows against (Spark's
// eventTimeWatermarkForLateEvents: the previous batch's), and the one it evicts state with
// (eventTimeWatermarkForEviction: this batch's).
inline std::int64_t late_events_watermark(const batch_context& ctx, std::size_t op) {
  return ctx.watermarks_of(op).for_late_events;
}
inline std::int64_t eviction_watermark(const batch_context& ctx, std::size_t op) {
  return ctx.watermarks_of(op).for_eviction;
}

// Compile-time facts about a graph, used by the rules checked in sl::start and by stages.
struct graph_props {
  bool has_watermark = false;
  // Name of the column the nearest upstream with_watermark is on; empty when unknown
  // (a member pointer or a function) or lost behind an opaque map.
  std::string_view watermark_column{};
  bool aggregated = false;
  bool aggregation_watermarked = false;  // grouped on a window/event time that carries a watermark
  bool session_window = false;  // an aggregation grouped by sl::session_window
  int stateful_stages = 0;        // aggregations (deduplication does not count: it may precede one)
  bool sort_or_limit_on_stream = false;  // a sort or limit with no aggregation before it
  bool sort_or_limit_after_aggregation = false;
  // [flat_]map_groups_with_state (ops/map_groups_with_state.hpp): how many, which kinds and
  // operator output modes, after an aggregation, an event-time timeout without a watermark.
  int group_state_stages = 0;
  bool map_groups_with_state = false;
  bool group_state_update_mode = false;  // a flat_map_groups_with_state in update mode
  bool group_state_append_mode = false;  // a flat_map_groups_with_state in append mode
  bool group_state_after_aggregation = false;
  bool group_state_event_time_without_watermark = false;
  // rule: chained stateful operators (Spark 3.4+, UnsupportedOperationChecker's
  // checkStreamingQueryGlobalWatermarkLimit): a stateful operator (Spark's list: an aggregation,
  // a session window, a deduplication on event time, a group state) downstream of an
  // aggregation (allowed in append mode only), or of a group state with an event-time timeout
  // (never allowed). Set by note_stateful_operator in those operators' transform.
  bool group_state_event_time = false;
  bool stateful_after_aggregation = false;
  bool stateful_after_event_time_group_state = false;
  // rule: stream-stream join (ops/stream_join.hpp): append mode only, nothing stateful after it.
  bool stream_join = false;
};

// rule: chained stateful operators -- called by each stateful operator's transform, before it
// adds itself to the props.
constexpr void note_stateful_operator(graph_props& p) {
  p.stateful_after_aggregation = p.stateful_after_aggregation || p.aggregated;
  p.stateful_after_event_time_group_state = p.stateful_after_event_time_group_state || p.group_state_event_time;
}

class binary_writer;
class binary_reader;

// ---------------------------------------------------------------- runtime controls
// Per-batch hooks the engine calls through a virtual interface: once per batch, never per row.

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

class stateful_control {
 public:
  virtual ~stateful_control() = default;
  // The operator's position in graph_controls::stateful, given by visit(): the index of its
  // watermarks in batch_context::operator_watermarks.
  std::size_t operator_index = 0;
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

  // ---- checkpoints: the state after a batch, as a delta (what the batch changed) or a
  // snapshot (everything), in the binary form generated from the state types.
  // Names the state's types; part of the checkpoint fingerprint.
  virtual std::string state_signature() const = 0;
  // After finish(): the groups the batch changed (updated or removed).
  virtual void write_delta(binary_writer& out) const = 0;
  virtual void write_snapshot(binary_writer& out) const = 0;
  virtual void load_snapshot(binary_reader& in) = 0;
  virtual void apply_delta(binary_reader& in) = 0;
  // Restart: the watermark the last committed batch ran with (for no-data batch decisions).
  virtual void restore_last_batch_watermark(std::int64_t watermark) = 0;
  // The binary form of the state files as JSON (checkpoint/state_layout.hpp), for tools that
  // read a checkpoint without the query's types; empty: not described.
  virtual boost::json::object state_layout() const { return {}; }
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

  // A stateful operator's visit(): its index (that of its watermarks in
  // batch_context::operator_watermarks), its state, and its description in the checkpoint.
  template <class Stage>
  void add_stateful(Stage* stage) {
    stage->operator_index = stateful.size();
    stateful.push_back(stage);
    described.push_back(stage);
  }
};

// ---------------------------------------------------------------- stage protocol
enum class stage_kind {
  stateless,  // push(row, down): fused into the producer's loop
  stateful,   // accept(ctx, row) for every row, then finish(ctx, down) once per batch
};

// A stage descriptor binds to its input row type: d.template bind<In>() yields a bound stage.
template <class D, class In>
concept stage_descriptor_for = requires(D&& d) { std::forward<D>(d).template bind<In>(); };

template <class D>
concept stage_descriptor = requires { typename std::remove_cvref_t<D>::is_stage_descriptor; };

// ---------------------------------------------------------------- nodes
template <class N>
concept stream_node = requires {
  typename std::remove_cvref_t<N>::row_type;
  { std::remove_cvref_t<N>::props } -> std::convertible_to<graph_props>;
};

// A source, as the leaf of a graph. Sources are objects meeting sluice::source (sources/source.hpp);
// the node adapts them to the engine's per-batch protocol.
template <class Source>
struct source_node;

template <class Up, class Stage>
struct stage_node {
  using row_type = typename Stage::output_row;
  static constexpr graph_props props = Stage::transform(Up::props);

  Up up;
  Stage stage;

  void visit(graph_controls& c) {
    up.visit(c);
    if constexpr (requires { stage.visit(c); }) stage.visit(c);
  }

  // A stage with open_batch(ctx) keeps what it counts per row in a local of this frame, which
  // the compiler can hold in registers; a member written per row could alias the stores of
  // the stages after it and would be reloaded and stored every row.
  template <class Down>
  void run(batch_context& ctx, Down& down) {
    if constexpr (Stage::kind == stage_kind::stateless) {
      if constexpr (requires { stage.open_batch(ctx); }) {
        auto local = stage.open_batch(ctx);
        auto fused = [this, &down, &local](auto&& r) { stage.push(std::forward<decltype(r)>(r), down, local); };
        up.run(ctx, fused);
        stage.close_batch(local);
      } else {
        auto fused = [this, &down](auto&& r) { stage.push(std::forward<decltype(r)>(r), down); };
        up.run(ctx, fused);
      }
    } else {
      if constexpr (requires { stage.open_batch(ctx); }) {
        auto local = stage.open_batch(ctx);
        auto into_state = [this, &ctx, &local](auto&& r) { stage.accept(ctx, std::forward<decltype(r)>(r), local); };
        up.run(ctx, into_state);
        stage.close_batch(local);
      } else {
        auto into_state = [this, &ctx](auto&& r) { stage.accept(ctx, std::forward<decltype(r)>(r)); };
        up.run(ctx, into_state);
      }
      stage.finish(ctx, down);
    }
  }
};

namespace detail {
template <class T>
struct is_source_node : std::false_type {};
template <class S>
struct is_source_node<source_node<S>> : std::true_type {};
}  // namespace detail

}  // namespace sluice

// The public source interface (after Spark's DataSource V2 streaming reader, seed 002):
// offsets are described structs, ordered field by field and serialised by reflection.
//
//   struct my_source {
//     using row_type = Event;
//     using offset_type = my_offset;        // BOOST_DESCRIBE_STRUCT'd, fields compared in order
//     using partition_type = my_partition;  // a non-overlapping slice of (start, end]
//     my_offset initial_offset();
//     my_offset latest_offset(const my_offset& start, sl::read_limit limit);
//     std::vector<my_partition> partitions(const my_offset& start, const my_offset& end);
//     template <class Emit> void read(const my_partition& p, Emit&& emit);  // emit(row) per row
//     void commit(const my_offset& end);    // end is durable: data before it may be released
//     std::string description() const;
//     void open(const sluice::source_context&);  // optional: query id, checkpoint dir
//     void prepare_for_available_now();     // optional: snapshot what is available now
//     void stop();                          // optional
//     void set_stop_token(std::stop_token); // optional: stop() of the query requests it; a
//                                           // blocking call then throws sluice::source_interrupted
//     std::map<std::string, std::string> progress_metrics() const;  // optional: progress `metrics`
//     static constexpr bool replayable = false;  // optional, default true: see below
//     static constexpr bool parallel_read = true;  // optional, default false: see below
//     std::optional<std::size_t> planned_rows(const my_offset& start, const my_offset& end);
//                                           // optional: about how many rows (start, end] holds
//   };
//
// planned_rows is a hint, not a promise: when the rows of the sources reach the sink one for
// one (no stage between them), the engine reserves its batch buffer for that many rows before
// the batch runs, instead of growing it from empty (the cost of a large first batch). A wrong
// count costs memory or a reallocation, never rows. Keep it bounded (the engine caps the
// reservation too): a range of offsets may hold far fewer rows than its width.
//
// A source is replayable when read() of a partition gives the same rows every time, also after
// a restart: the offsets of a batch are logged before it runs, and a batch re-run after a
// failure reads exactly that range again. A source that cannot (sl::socket_text keeps lines
// only in memory until they are committed) declares `replayable = false`; a query with a
// checkpoint refuses it when it starts (exactly-once needs a replayable source).
//
// With workers (query_options::parallelism), the partitions of a batch are read at once, each on
// a worker, by a source that declares `parallel_read = true`: read() of different partitions
// may then run concurrently on different threads (with the same source object). A source
// without it is read as today, its partitions one after another on one thread.
//
// Helpers for partitions: sources/slices.hpp (split_time_range, split_id_range).
//
// The leaf of the graph: source_node adapts a source to the engine's per-batch protocol
// (engine/control.hpp's source_control), with offsets in the JSON form generated from their
// struct.
#pragma once
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../engine/control.hpp"
#include "../codec/json.hpp"
#include "../schema.hpp"
#include "../codec/spark_schema.hpp"
#include "node.hpp"

namespace sluice {

// ---------------------------------------------------------------- offsets
template <class O>
concept offset_struct = described_struct<O> && std::is_default_constructible_v<O> && std::is_copy_constructible_v<O>;

namespace detail {
template <class T>
int compare_values(const T& a, const T& b) {
  // An offset whose order is not its fields' (Kafka's: partitions come and go) says it itself:
  // negative when a is before b, zero when equal, positive otherwise.
  if constexpr (requires { { a.compare_offset(b) } -> std::convertible_to<int>; }) {
    return a.compare_offset(b);
  } else if constexpr (described_struct<T>) {
    int result = 0;
    boost::mp11::mp_for_each<columns_of<T>>([&](auto c) {
      using C = decltype(c);
      if (result == 0) result = compare_values(get<C::name>(a), get<C::name>(b));
    });
    return result;
  } else {
    return a < b ? -1 : (b < a ? 1 : 0);
  }
}
}  // namespace detail

// Offsets compare field by field in declaration order (a multi-field offset's defined order),
// or by the offset's own `int compare_offset(const O&) const`; an offset may also have a JSON
// form of its own (sluice::custom_json) for the offset log.
template <offset_struct O>
bool offset_less(const O& a, const O& b) { return detail::compare_values(a, b) < 0; }
template <offset_struct O>
bool offset_equal(const O& a, const O& b) { return detail::compare_values(a, b) == 0; }

// ---------------------------------------------------------------- replayable sources
// `static constexpr bool replayable = false;` on a source that cannot read a range again.
template <class S>
constexpr bool source_replayable() {
  if constexpr (requires { S::replayable; }) return static_cast<bool>(S::replayable);
  else return true;
}

// `static constexpr bool parallel_read = true;` on a source whose partitions may be read at once.
template <class S>
constexpr bool source_parallel_read() {
  if constexpr (requires { S::parallel_read; }) return static_cast<bool>(S::parallel_read);
  else return false;
}

// ---------------------------------------------------------------- the concept
namespace detail {
template <class Row>
struct emit_probe {
  void operator()(const Row&) const {}
  void operator()(Row&&) const {}
};
}  // namespace detail

template <class S>
concept source = requires(S& s, const typename S::offset_type& o, const typename S::partition_type& p, read_limit lim) {
  typename S::row_type;
  typename S::offset_type;
  typename S::partition_type;
  { s.initial_offset() } -> std::same_as<typename S::offset_type>;
  { s.latest_offset(o, lim) } -> std::same_as<typename S::offset_type>;
  { s.partitions(o, o) } -> std::same_as<std::vector<typename S::partition_type>>;
  s.read(p, detail::emit_probe<typename S::row_type>{});
  s.commit(o);
  { s.description() } -> std::convertible_to<std::string>;
} && offset_struct<typename S::offset_type>;

// Names what a would-be source lacks, one static_assert per member, so the first error says it.
template <class S>
constexpr bool check_source() {
  static_assert(requires { typename S::row_type; },
                "sluice source: missing `using row_type = ...;` (the type of the rows it produces)");
  static_assert(requires { typename S::offset_type; },
                "sluice source: missing `using offset_type = ...;` (a BOOST_DESCRIBE_STRUCT'd offset struct)");
  static_assert(requires { typename S::partition_type; },
                "sluice source: missing `using partition_type = ...;` (one slice of an offset range)");
  if constexpr (requires { typename S::offset_type; typename S::partition_type; typename S::row_type; }) {
    using O = typename S::offset_type;
    static_assert(offset_struct<O>, "sluice source: offset_type must be a default-constructible struct described "
                                    "with BOOST_DESCRIBE_STRUCT (it is serialised into the offset log)");
    static_assert(requires(S& s) { { s.initial_offset() } -> std::same_as<O>; },
                  "sluice source: missing `offset_type initial_offset()`");
    static_assert(requires(S& s, const O& o, read_limit l) { { s.latest_offset(o, l) } -> std::same_as<O>; },
                  "sluice source: missing `offset_type latest_offset(const offset_type& start, sluice::read_limit)`");
    static_assert(requires(S& s, const O& o) {
                    { s.partitions(o, o) } -> std::same_as<std::vector<typename S::partition_type>>;
                  },
                  "sluice source: missing `std::vector<partition_type> partitions(const offset_type& start, const "
                  "offset_type& end)`");
    static_assert(requires(S& s, const typename S::partition_type& p) {
                    s.read(p, detail::emit_probe<typename S::row_type>{});
                  },
                  "sluice source: missing `template <class Emit> void read(const partition_type&, Emit&& emit)` "
                  "calling emit(row) for each row");
    static_assert(requires(S& s, const O& o) { s.commit(o); },
                  "sluice source: missing `void commit(const offset_type& end)`");
    static_assert(requires(const S& s) { { s.description() } -> std::convertible_to<std::string>; },
                  "sluice source: missing `std::string description() const`");
    if constexpr (requires { &S::planned_rows; })
      static_assert(requires(S& s, const O& o) { { s.planned_rows(o, o) } -> std::same_as<std::optional<std::size_t>>; },
                    "sluice source: `planned_rows` must be `std::optional<std::size_t> planned_rows(const "
                    "offset_type& start, const offset_type& end)`");
    if constexpr (requires { S::replayable; })
      static_assert(std::is_same_v<std::remove_cv_t<decltype(S::replayable)>, bool>,
                    "sluice source: `replayable` must be declared `static constexpr bool replayable = false;`");
  }
  return true;
}

// ---------------------------------------------------------------- the leaf node
template <class Source>
struct source_node : source_control {
  using row_type = typename Source::row_type;
  using offset_type = typename Source::offset_type;
  static constexpr graph_props props{};
  using stages = boost::mp11::mp_list<>;

  Source src;
  std::optional<offset_type> start_, end_, available_now_end_;
  std::int64_t rows_ = 0;

  explicit source_node(Source s) : src(std::move(s)) {}

  void visit(graph_controls& c) { c.sources.push_back(this); }

  std::string description() const override { return src.description(); }

  void open(const source_context& ctx) override {
    if constexpr (requires { src.open(ctx); }) src.open(ctx);
    // The source's own open may refuse with a message of its own; this is the generic refusal.
    if constexpr (!source_replayable<Source>()) {
      if (!ctx.checkpoint_dir.empty())
        throw std::invalid_argument(src.description() +
                                    " is not replayable (replayable = false) and cannot be used with a checkpoint: "
                                    "a batch re-run after a restart could not read its rows again; remove "
                                    "query_options::checkpoint");
    }
  }
  bool replayable() const override { return source_replayable<Source>(); }
  void restore(const boost::json::value& committed_end) override {
    start_ = from_json<offset_type>(committed_end);
    end_.reset();
  }
  bool plan_logged_batch(const boost::json::value& end) override {
    if (!start_) start_ = src.initial_offset();
    end_ = from_json<offset_type>(end);
    rows_ = 0;
    return !offset_equal(*end_, *start_);
  }

  bool plan_batch(read_limit limit) override {
    if (!start_) start_ = src.initial_offset();
    offset_type latest = src.latest_offset(*start_, limit);
    if (available_now_end_ && offset_less(*available_now_end_, latest)) latest = *available_now_end_;
    if (offset_less(latest, *start_)) latest = *start_;  // a source never moves backwards
    end_ = latest;
    rows_ = 0;
    return !offset_equal(*end_, *start_);
  }
  void plan_empty_batch() override {
    if (!start_) start_ = src.initial_offset();
    end_ = start_;
    rows_ = 0;
  }
  // Spark's SupportsTriggerAvailableNow: a source that can snapshot what is available
  // (prepare_for_available_now) bounds its own later offsets; for others, the engine caps
  // every batch at the latest offset seen now.
  void prepare_available_now() override {
    if (!start_) start_ = src.initial_offset();
    if constexpr (requires { src.prepare_for_available_now(); }) {
      src.prepare_for_available_now();
    } else {
      available_now_end_ = src.latest_offset(*start_, read_limit::all_available());
    }
  }
  void commit_batch() override {
    if (!end_) return;
    src.commit(*end_);
    start_ = end_;
  }
  std::string offset_signature() const override { return boost::json::serialize(spark_struct_type<offset_type>()); }
  boost::json::value start_offset_json() const override { return start_ ? to_json(*start_) : boost::json::value(nullptr); }
  boost::json::value end_offset_json() const override { return end_ ? to_json(*end_) : boost::json::value(nullptr); }
  std::int64_t rows_in_batch() const override { return rows_; }
  std::optional<std::size_t> planned_rows() override {
    if constexpr (requires { { src.planned_rows(*start_, *end_) } -> std::same_as<std::optional<std::size_t>>; }) {
      if (start_ && end_) return offset_equal(*start_, *end_) ? std::optional<std::size_t>(0) : src.planned_rows(*start_, *end_);
    }
    return std::nullopt;
  }
  std::map<std::string, std::string> progress_metrics() const override {
    if constexpr (requires { src.progress_metrics(); }) return src.progress_metrics();
    else return {};
  }
  void stop() override {
    if constexpr (requires { src.stop(); }) src.stop();
  }
  void set_stop_token(std::stop_token token) override {
    if constexpr (requires { src.set_stop_token(token); }) src.set_stop_token(std::move(token));
  }

  template <class Down>
  void run(batch_context&, Down& down) {
    if (!start_ || !end_ || offset_equal(*start_, *end_)) return;
    for (const auto& part : src.partitions(*start_, *end_)) read_into(part, rows_, down);
  }

  // Partitioned execution (graph/node.hpp): one partition per partition of the source when it
  // can read them at once (parallel_read), else one for all.
  std::size_t open_partitions(batch_context&) {
    parts_.clear();
    part_rows_.clear();
    if (!start_ || !end_ || offset_equal(*start_, *end_)) return 0;
    if constexpr (!source_parallel_read<Source>()) {
      part_rows_.assign(1, 0);
      return 1;
    } else {
      parts_ = src.partitions(*start_, *end_);
      part_rows_.assign(parts_.size(), 0);
      return parts_.size();
    }
  }
  template <class Down>
  void run_partition(batch_context&, std::size_t i, Down& down) {
    if constexpr (!source_parallel_read<Source>()) {
      for (const auto& part : src.partitions(*start_, *end_)) read_into(part, part_rows_[i], down);
    } else {
      read_into(parts_[i], part_rows_[i], down);
    }
  }
  void close_partitions(batch_context&) {
    for (const auto n : part_rows_) rows_ += n;
    part_rows_.clear();
    parts_.clear();
  }

 private:
  using partition_type = typename Source::partition_type;
  std::vector<partition_type> parts_;  // this batch's, while its partitions run
  std::vector<std::int64_t> part_rows_;

  template <class Down>
  void read_into(const partition_type& part, std::int64_t& count, Down& down) {
    // Count in a local: a store per row to the counter would alias the sink buffer's writes and
    // keep the counter out of a register.
    std::int64_t rows = 0;
    src.read(part, [&rows, &down](auto&& r) {
      ++rows;
      down(std::forward<decltype(r)>(r));
    });
    count += rows;
  }
};

}  // namespace sluice

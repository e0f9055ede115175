// sluice::testing: a harness for testing streaming queries, after Spark's StreamTest.
//
//   namespace st = sl::testing;
//   auto in = sl::memory_stream<Event>();
//   auto q = in | sl::with_watermark(sl::col<"timestamp">, 10s)
//               | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) | sl::aggregate(sl::count());
//   using R = decltype(q)::row_type;
//   st::test_stream(q, sl::output_mode::append,
//       st::add_data(in, {ev(10s), ev(11s), ev(12s)}),
//       st::check_new_answer(),                              // nothing closed yet
//       st::add_data(in, {ev(25s)}),                         // watermark -> 15s
//       st::check_new_answer(R{{st::win(10s, 15s)}, {3}}),
//       st::assert_watermark(15s), st::assert_state_rows(1),
//       st::stop_stream(), st::start_stream(),              // state, offsets, watermark survive
//       st::add_data(in, {ev(10s)}),                         // late: dropped
//       st::check_new_answer(), st::assert_dropped(1));
//
// test_stream attaches its own sink, starts the query (unless a start_stream comes before the
// first action that needs a running query), runs the actions in order and stops the query.
// A failed action throws sl::testing::stream_test_failure, whose what() holds the whole story:
// the actions with the failing one marked, expected and actual rows as JSON, the query's state
// and the sink's batches. Framework-neutral: in Catch2, REQUIRE_NOTHROW(st::test_stream(...)).
//
// Actions
//   add_data(stream, {rows...})        one unit of a memory_stream (one batch at most)
//   multi_add_data(add_data(a, {...}), add_data(b, {...}), ...)
//                                      units for several streams, all in the same batch
//                                      (Spark's MultiAddData)
//   check_answer(rows...)              every row emitted so far (complete mode: the last
//                                      batch's result), in any order
//   check_new_answer(rows...)          rows emitted since the previous check, in any order
//   check_last_batch(rows...)          rows of the latest batch (empty batches included)
//   check_*_in_order(rows...)          the same, in this order
//   check_answer_by(f), check_last_batch_by(f)
//                                      f(const std::vector<Row>&) returns bool or asserts
//   Every check first waits until the query has processed everything available
//   (process_all_available; for trigger once / available-now, until the run has ended).
//   advance_clock(clock, d)            moves a st::manual_clock (query_options::clock) by d
//   assert_watermark(t)                the watermark the next batch will use
//   assert_state_rows(total[, updated]) numRowsTotal summed over the stateful operators in
//                                      the last progress; numRowsUpdated in the last progress
//                                      that had input rows
//   assert_dropped(n)                  numRowsDroppedByWatermark summed over every batch of
//                                      every run of this test
//   assert_num_rows_dropped_by_watermark(n)
//                                      numRowsDroppedByWatermark of the last batch with input
//                                      rows of the current run (Spark's
//                                      assertNumRowsDroppedByWatermark)
//   assert_on_query(f[, message])      f(sl::streaming_query&) returns bool or asserts
//   process_all_available(), await_termination()
//   stop_stream(), start_stream([query_options])  a restart is a new query on the same
//                                      checkpoint (a fresh copy of the graph): state, offsets,
//                                      the query's watermark, batch ids and the query id come
//                                      back from it, the run id changes
//   expect_failure<E>("substring")     the query stops with an exception of type E (the
//                                      cause; default std::exception) and its error message
//                                      contains the substring. A start_stream after it runs
//                                      the failed batch again, from the state before it.
//
// Helpers: st::ts(10s) is a timestamp 10 s after the epoch, st::win(10s, 15s) a window,
// st::make_row<R>(v...) a generated row from its values (converted to the field types).
// Output rows must convert with sl::to_json. Waits fail after st::default_timeout (60 s).
//
// Rows are compared through their JSON form (sl::to_json), so expected rows may be generated
// rows, described structs with the same field names, or scalars; numbers compare with a
// small relative tolerance (1e-6), integers and doubles with each other.
#pragma once
#include <boost/core/demangle.hpp>
#include <filesystem>
#include <boost/json.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <tuple>
#include <typeinfo>
#include <utility>
#include <vector>

#include "sluice.hpp"

namespace sluice::testing {

// Thrown when an action of test_stream fails; what() is the full report.
class stream_test_failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How long an action waits for the query (processing, termination) before failing.
inline std::chrono::milliseconds default_timeout{60'000};

// ---------------------------------------------------------------- a manual clock
// Batch timestamps that move only when told (Spark's StreamManualClock), for processing-time
// timeouts: st::start_stream({.clock = clk}), then st::advance_clock(clk, 10s). Copies share
// the time. A batch takes the clock's time when it is planned.
class manual_clock {
 public:
  explicit manual_clock(timestamp start = {}) : now_(std::make_shared<std::atomic<std::int64_t>>(start.micros)) {}
  timestamp now() const { return timestamp{now_->load()}; }
  void advance(duration d) const { now_->fetch_add(d.count()); }
  void set(timestamp t) const { now_->store(t.micros); }
  operator std::function<timestamp()>() const {  // NOLINT: what query_options::clock takes
    return [t = now_] { return timestamp{t->load()}; };
  }

 private:
  std::shared_ptr<std::atomic<std::int64_t>> now_;
};

// ---------------------------------------------------------------- building values
// A timestamp `since_epoch` after 1970-01-01T00:00:00Z: st::ts(10s).
template <class Rep, class Period>
constexpr timestamp ts(std::chrono::duration<Rep, Period> since_epoch) {
  return timestamp{std::chrono::duration_cast<duration>(since_epoch).count()};
}
// The window [start, end), both given since the epoch: st::win(10s, 15s).
template <class R1, class P1, class R2, class P2>
constexpr time_window win(std::chrono::duration<R1, P1> start, std::chrono::duration<R2, P2> end) {
  return {ts(start), ts(end)};
}

namespace detail {
template <class R>
struct make_row_impl;
template <class... Fs>
struct make_row_impl<row<Fs...>> {
  template <class... Vs>
  static row<Fs...> make(Vs&&... vs) {
    static_assert(sizeof...(Vs) == sizeof...(Fs), "sluice::testing::make_row: give one value per field");
    return row<Fs...>{Fs{static_cast<typename Fs::type>(std::forward<Vs>(vs))}...};
  }
};
}  // namespace detail

// A generated row from its values in field order, converting each (int -> double, "x" ->
// std::string): st::make_row<R>(st::win(10s, 15s), 3, 2.5).
template <class R, class... Vs>
R make_row(Vs&&... values) {
  return detail::make_row_impl<R>::make(std::forward<Vs>(values)...);
}

// ---------------------------------------------------------------- row comparison
namespace detail {
inline bool json_near(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_double() || b.is_double()) {
      const double x = a.to_number<double>(), y = b.to_number<double>();
      if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
      if (x == y) return true;
      return std::abs(x - y) <= 1e-9 + 1e-6 * std::max(std::abs(x), std::abs(y));
    }
    return a == b;
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto &oa = a.get_object(), &ob = b.get_object();
    if (oa.size() != ob.size()) return false;
    for (const auto& kv : oa) {
      const auto* other = ob.if_contains(kv.key());
      if (!other || !json_near(kv.value(), *other)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const auto &xa = a.get_array(), &xb = b.get_array();
    if (xa.size() != xb.size()) return false;
    for (std::size_t i = 0; i < xa.size(); ++i)
      if (!json_near(xa[i], xb[i])) return false;
    return true;
  }
  return a == b;
}

template <class T>
boost::json::value row_json(const T& r) {
  return sluice::to_json(r);
}

template <class T>
std::vector<boost::json::value> rows_json(const std::vector<T>& rows) {
  std::vector<boost::json::value> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(row_json(r));
  return out;
}

inline std::string rows_text(std::vector<boost::json::value> rows, bool keep_order, std::size_t max_rows = 200) {
  std::vector<std::string> lines;
  lines.reserve(rows.size());
  for (const auto& r : rows) lines.push_back(boost::json::serialize(r));
  if (!keep_order) std::sort(lines.begin(), lines.end());
  std::string out;
  for (std::size_t i = 0; i < lines.size() && i < max_rows; ++i) out += "    " + lines[i] + "\n";
  if (lines.size() > max_rows) out += "    ... (" + std::to_string(lines.size() - max_rows) + " more)\n";
  if (lines.empty()) out += "    (no rows)\n";
  return out;
}

inline std::string count_rows(std::size_t n) { return std::to_string(n) + (n == 1 ? " row" : " rows"); }

// Empty when equal; otherwise what differs.
inline std::string compare_rows(const std::vector<boost::json::value>& expected,
                                const std::vector<boost::json::value>& actual, bool ordered) {
  if (ordered) {
    bool same = expected.size() == actual.size();
    for (std::size_t i = 0; same && i < expected.size(); ++i) same = json_near(expected[i], actual[i]);
    if (same) return {};
    std::string msg = "  expected (" + count_rows(expected.size()) + ", in this order):\n" + rows_text(expected, true);
    msg += "  actual (" + count_rows(actual.size()) + "):\n" + rows_text(actual, true);
    return msg;
  }
  std::vector<bool> used(actual.size(), false);
  std::vector<boost::json::value> missing, unexpected;
  for (const auto& e : expected) {
    bool found = false;
    for (std::size_t i = 0; i < actual.size() && !found; ++i) {
      if (!used[i] && json_near(e, actual[i])) used[i] = found = true;
    }
    if (!found) missing.push_back(e);
  }
  for (std::size_t i = 0; i < actual.size(); ++i)
    if (!used[i]) unexpected.push_back(actual[i]);
  if (missing.empty() && unexpected.empty()) return {};
  std::string msg = "  expected (" + count_rows(expected.size()) + ", any order):\n" + rows_text(expected, false);
  msg += "  actual (" + count_rows(actual.size()) + "):\n" + rows_text(actual, false);
  if (!missing.empty()) msg += "  missing from actual:\n" + rows_text(missing, false);
  if (!unexpected.empty()) msg += "  not expected:\n" + rows_text(unexpected, false);
  return msg;
}

// ---------------------------------------------------------------- the sink test_stream attaches
// Records every batch, empty ones included (as Spark's memory sink), once per batch id.
template <class Row>
class recording_sink {
 public:
  using is_sink_descriptor = void;
  struct batch {
    std::int64_t batch_id;
    std::vector<Row> rows;
  };

  recording_sink() : state_(std::make_shared<state>()) {}

  template <class R>
  recording_sink bind() && {
    static_assert(std::is_same_v<R, Row>);
    return std::move(*this);
  }
  template <class R>
  recording_sink bind() const& {
    return recording_sink(*this).template bind<R>();
  }
  void add_batch(std::int64_t batch_id, std::span<const Row> rows) {
    std::lock_guard lock(state_->mutex);
    if (!state_->batches.empty() && batch_id <= state_->batches.back().batch_id) return;
    state_->batches.push_back({batch_id, std::vector<Row>(rows.begin(), rows.end())});
  }
  std::string description() const { return "MemorySink"; }

  std::vector<batch> batches() const {
    std::lock_guard lock(state_->mutex);
    return state_->batches;
  }

 private:
  struct state {
    std::mutex mutex;
    std::vector<batch> batches;
  };
  std::shared_ptr<state> state_;
};

enum class action_kind { add_data, start, needs_query };

// What every action sees: the query under test (a type-erased view of the tester).
class test_context {
 public:
  virtual ~test_context() = default;
  [[noreturn]] virtual void fail(const std::string& message) = 0;
  // Waits until the current run has processed everything available (or has ended).
  virtual void settle() = 0;
  virtual streaming_query& query() = 0;  // the current (latest) run
  virtual bool started() const = 0;
  virtual void start(const query_options& options) = 0;
  virtual void stop() = 0;
  virtual output_mode_kind mode() const = 0;
  virtual std::vector<query_progress> all_progress() const = 0;  // every run, in order
  virtual std::chrono::milliseconds timeout() const = 0;
  // Rows (as JSON) of the sink: all (complete: the last batch), new since the last check,
  // or the last batch. Marks every batch so far as checked.
  enum class fetch { all, since_last_check, last_batch };
  virtual std::vector<boost::json::value> fetch_rows(fetch what) = 0;
  // The error of the current run is expected (expect_failure): not reported again.
  virtual void accept_current_error() = 0;
};

template <class Row>
class typed_context : public test_context {
 public:
  virtual std::vector<Row> fetch_typed(fetch what) = 0;
};

inline std::string abbreviate(std::vector<boost::json::value> rows, std::size_t max = 8) {
  std::string s;
  for (std::size_t i = 0; i < rows.size() && i < max; ++i) {
    if (i) s += ", ";
    s += boost::json::serialize(rows[i]);
  }
  if (rows.size() > max) s += ", ... (" + std::to_string(rows.size()) + " rows)";
  return s;
}

inline std::string what_of(std::exception_ptr p) {
  try {
    std::rethrow_exception(p);
  } catch (const std::exception& e) {
    return boost::core::demangle(typeid(e).name()) + ": " + e.what();
  } catch (...) {
    return "a non-standard exception";
  }
}
}  // namespace detail

// ---------------------------------------------------------------- actions
namespace detail {
template <class T>
struct add_data_action {
  static constexpr action_kind kind = action_kind::add_data;
  mutable memory_stream<T> stream;  // a shared handle
  std::vector<T> rows;
  std::string describe() const {
    return "AddData to MemoryStream: [" + abbreviate(rows_json(rows)) + "]";
  }
  void run(test_context&) const { stream.add_data(rows); }
};

template <class... Adds>
struct multi_add_data_action {
  static constexpr action_kind kind = action_kind::add_data;
  std::tuple<Adds...> adds;
  std::string describe() const {
    std::string s = "MultiAddData: [ ";
    std::apply([&](const auto&... a) { ((s += a.describe() + " | "), ...); }, adds);
    return s.substr(0, s.size() - 2) + "]";
  }
  void run(test_context& ctx) const {
    auto add_all = [&] { std::apply([&](const auto&... a) { (a.run(ctx), ...); }, adds); };
    // A running query plans no batch meanwhile: the units land in the same batch.
    if (ctx.started() && ctx.query().is_active()) ctx.query().core()->with_progress_locked(add_all);
    else add_all();
  }
};

struct advance_clock_action {
  static constexpr action_kind kind = action_kind::add_data;  // needs no running query
  manual_clock clock;
  duration by;
  std::string describe() const { return "AdvanceManualClock: " + format_duration(by); }
  void run(test_context&) const { clock.advance(by); }
};

struct check_rows_action {
  static constexpr action_kind kind = action_kind::needs_query;
  test_context::fetch what;
  bool ordered = false;
  std::vector<boost::json::value> expected;
  std::string describe() const {
    std::string name = what == test_context::fetch::all                ? "CheckAnswer"
                       : what == test_context::fetch::since_last_check ? "CheckNewAnswer"
                                                                        : "CheckLastBatch";
    if (ordered) name += " (in order)";
    return name + ": [" + abbreviate(expected) + "]";
  }
  void run(test_context& ctx) const {
    ctx.settle();
    const auto actual = ctx.fetch_rows(what);
    const auto diff = compare_rows(expected, actual, ordered);
    if (!diff.empty()) {
      const char* which = what == test_context::fetch::all ? "the answer so far"
                          : what == test_context::fetch::since_last_check ? "the rows since the last check"
                                                                          : "the last batch";
      ctx.fail(std::string("wrong rows in ") + which + "\n" + diff);
    }
  }
};

template <class F>
struct check_rows_by_action {
  static constexpr action_kind kind = action_kind::needs_query;
  test_context::fetch what;
  mutable F f;
  std::string message;
  std::string describe() const {
    return std::string(what == test_context::fetch::last_batch ? "CheckLastBatchByFunc" : "CheckAnswerByFunc") +
           (message.empty() ? "" : ": " + message);
  }
  template <class Ctx>
  void run(Ctx& ctx) const {
    ctx.settle();
    const auto rows = ctx.fetch_typed(what);
    bool ok = true;
    try {
      if constexpr (std::is_convertible_v<std::invoke_result_t<F&, decltype(rows)>, bool>) ok = std::invoke(f, rows);
      else std::invoke(f, rows);
    } catch (const std::exception& e) {
      ctx.fail("the check function threw " + boost::core::demangle(typeid(e).name()) + ": " + e.what() +
               "\n  rows:\n" + rows_text(rows_json(rows), true));
    }
    if (!ok) ctx.fail("the check function returned false" + (message.empty() ? "" : " (" + message + ")") +
                      "\n  rows:\n" + rows_text(rows_json(rows), true));
  }
};

struct start_action {
  static constexpr action_kind kind = action_kind::start;
  query_options options;
  std::string describe() const {
    std::string s = "StartStream(";
    switch (options.trigger.kind) {
      case trigger_kind::micro_batch: s += "trigger = default"; break;
      case trigger_kind::processing_time: s += "trigger = processing_time(" + format_duration(options.trigger.interval) + ")"; break;
      case trigger_kind::once: s += "trigger = once"; break;
      case trigger_kind::available_now: s += "trigger = available_now"; break;
    }
    if (!options.no_data_micro_batches) s += ", no_data_micro_batches = false";
    if (options.multiple_watermark_policy == watermark_policy::max) s += ", multiple_watermark_policy = max";
    return s + ")";
  }
  void run(test_context& ctx) const { ctx.start(options); }
};

struct stop_action {
  static constexpr action_kind kind = action_kind::needs_query;
  std::string describe() const { return "StopStream"; }
  void run(test_context& ctx) const { ctx.stop(); }
};

struct process_all_available_action {
  static constexpr action_kind kind = action_kind::needs_query;
  std::string describe() const { return "ProcessAllAvailable"; }
  void run(test_context& ctx) const { ctx.settle(); }
};

struct await_termination_action {
  static constexpr action_kind kind = action_kind::needs_query;
  std::string describe() const { return "AwaitTermination"; }
  void run(test_context& ctx) const {
    auto& q = ctx.query();
    if (!q.core()->wait_terminated(std::chrono::duration_cast<std::chrono::steady_clock::duration>(ctx.timeout())))
      ctx.fail("the query did not terminate within " + std::to_string(ctx.timeout().count()) + " ms");
    q.core()->join();
    ctx.settle();  // reports an error, if the run failed
  }
};

struct assert_watermark_action {
  static constexpr action_kind kind = action_kind::needs_query;
  timestamp expected;
  std::string describe() const { return "AssertWatermark: " + format_timestamp(expected); }
  void run(test_context& ctx) const {
    ctx.settle();
    const auto actual = ctx.query().current_watermark();
    if (actual != expected.micros)
      ctx.fail("wrong watermark\n  expected: " + format_timestamp(expected) + " (" + std::to_string(expected.micros) +
               " us)\n  actual:   " + format_timestamp(timestamp{actual}) + " (" + std::to_string(actual) + " us)");
  }
};

// The progress of the last batch with input rows, or null.
inline const query_progress* last_with_input(const std::vector<query_progress>& progress) {
  const auto it = std::find_if(progress.rbegin(), progress.rend(), [](const auto& p) { return p.num_input_rows > 0; });
  return it == progress.rend() ? nullptr : &*it;
}

struct assert_state_rows_action {
  static constexpr action_kind kind = action_kind::needs_query;
  std::int64_t total;
  std::optional<std::int64_t> updated;
  std::string describe() const {
    return "AssertStateRows: total = " + std::to_string(total) +
           (updated ? ", updated = " + std::to_string(*updated) : std::string());
  }
  void run(test_context& ctx) const {
    ctx.settle();
    const auto progress = ctx.all_progress();
    if (progress.empty()) ctx.fail("no batch has run yet");
    std::int64_t actual = 0;
    for (const auto& op : progress.back().state_operators) actual += op.num_rows_total;
    if (actual != total)
      ctx.fail("wrong number of state rows (numRowsTotal of the last progress)\n  expected: " + std::to_string(total) +
               "\n  actual:   " + std::to_string(actual));
    if (updated) {
      const auto* it = last_with_input(progress);
      if (!it) ctx.fail("no batch with input rows has run yet");
      std::int64_t u = 0;
      for (const auto& op : it->state_operators) u += op.num_rows_updated;
      if (u != *updated)
        ctx.fail("wrong number of updated state rows (numRowsUpdated of the last progress with input rows, batch " +
                 std::to_string(it->batch_id) + ")\n  expected: " + std::to_string(*updated) +
                 "\n  actual:   " + std::to_string(u));
    }
  }
};

struct assert_dropped_action {
  static constexpr action_kind kind = action_kind::needs_query;
  std::int64_t expected;
  std::string describe() const { return "AssertRowsDroppedByWatermark: total = " + std::to_string(expected); }
  void run(test_context& ctx) const {
    ctx.settle();
    std::int64_t actual = 0;
    std::string per_batch;
    for (const auto& p : ctx.all_progress()) {
      std::int64_t in_batch = 0;
      for (const auto& op : p.state_operators) in_batch += op.num_rows_dropped_by_watermark;
      actual += in_batch;
      if (in_batch) per_batch += " batch " + std::to_string(p.batch_id) + ": " + std::to_string(in_batch) + ";";
    }
    if (actual != expected)
      ctx.fail("wrong number of rows dropped by the watermark (numRowsDroppedByWatermark, all batches)\n  expected: " +
               std::to_string(expected) + "\n  actual:   " + std::to_string(actual) +
               (per_batch.empty() ? "" : " (" + per_batch.substr(1) + ")"));
  }
};

struct assert_last_dropped_action {
  static constexpr action_kind kind = action_kind::needs_query;
  std::int64_t expected;
  std::string describe() const { return "AssertNumRowsDroppedByWatermark: " + std::to_string(expected); }
  void run(test_context& ctx) const {
    ctx.settle();
    const auto progress = ctx.query().recent_progress();
    const auto* it = last_with_input(progress);
    if (!it) ctx.fail("no batch with input rows has run in this run of the query");
    std::int64_t actual = 0;
    for (const auto& op : it->state_operators) actual += op.num_rows_dropped_by_watermark;
    if (actual != expected)
      ctx.fail("wrong number of rows dropped by the watermark (numRowsDroppedByWatermark of the last batch with "
               "input rows, batch " + std::to_string(it->batch_id) + ")\n  expected: " + std::to_string(expected) +
               "\n  actual:   " + std::to_string(actual));
  }
};

template <class F>
struct assert_on_query_action {
  static constexpr action_kind kind = action_kind::needs_query;
  mutable F f;  // a mutable lambda may keep state
  std::string message;
  std::string describe() const { return "AssertOnQuery" + (message.empty() ? std::string() : ": " + message); }
  void run(test_context& ctx) const {
    bool ok = true;
    try {
      if constexpr (std::is_convertible_v<std::invoke_result_t<F&, streaming_query&>, bool>)
        ok = std::invoke(f, ctx.query());
      else
        std::invoke(f, ctx.query());
    } catch (const stream_test_failure&) {
      throw;
    } catch (const std::exception& e) {
      ctx.fail("the assertion threw " + boost::core::demangle(typeid(e).name()) + ": " + e.what());
    }
    if (!ok) ctx.fail("the assertion on the query returned false");
  }
};

template <class E>
struct expect_failure_action {
  static constexpr action_kind kind = action_kind::needs_query;
  std::string substring;
  std::string describe() const {
    return "ExpectFailure[" + boost::core::demangle(typeid(E).name()) + "]" +
           (substring.empty() ? std::string() : ": \"" + substring + "\"");
  }
  void run(test_context& ctx) const {
    auto& q = ctx.query();
    // A query that processes everything available without failing will not fail.
    if (q.is_active()) {
      try {
        ctx.settle();
      } catch (const stream_test_failure&) {
        if (!q.exception()) throw;  // a timeout, not the failure we wait for
      }
    }
    if (q.is_active() && !q.exception())
      ctx.fail("expected the query to fail, but it processed all available data and is still running");
    q.core()->wait_terminated(std::chrono::duration_cast<std::chrono::steady_clock::duration>(ctx.timeout()));
    const auto error = q.exception();
    if (!error) ctx.fail("expected the query to fail, but it stopped without an error");
    ctx.accept_current_error();
    // E is the type of the cause (what the stage or sink threw), or streaming_query_error itself.
    bool type_ok = std::is_same_v<E, streaming_query_error>;
    try {
      if (error->cause()) std::rethrow_exception(error->cause());
    } catch (const E&) {
      type_ok = true;
    } catch (...) {
    }
    const std::string cause = error->cause() ? what_of(error->cause()) : std::string("(none)");
    if (!type_ok)
      ctx.fail("the query failed with the wrong exception type\n  expected: " + boost::core::demangle(typeid(E).name()) +
               "\n  actual:   " + cause + "\n  query error: " + error->what());
    if (std::string(error->what()).find(substring) == std::string::npos)
      ctx.fail("the query's error does not contain \"" + substring + "\"\n  error: " + error->what());
  }
};

template <class... Rows>
std::vector<boost::json::value> expected_json(const Rows&... rows) {
  return {row_json(rows)...};
}
}  // namespace detail

// One unit of data for a memory_stream (Spark's AddData): all of it lands in the same batch.
template <class T>
detail::add_data_action<T> add_data(const memory_stream<T>& stream, std::type_identity_t<std::vector<T>> rows) {
  return {stream, std::move(rows)};
}
// The same from any input range of rows (a std or range-v3 view: read once, here).
template <class T, sluice::detail::rows_range<T> R>
  requires(!std::is_same_v<std::remove_cvref_t<R>, std::vector<T>>)
detail::add_data_action<T> add_data(const memory_stream<T>& stream, R&& rows) {
  return {stream, sluice::detail::to_rows<T>(std::forward<R>(rows))};
}

// Units for several memory_streams that land in the same batch (Spark's MultiAddData):
// st::multi_add_data(st::add_data(a, {...}), st::add_data(b, {...})).
template <class... Ts>
detail::multi_add_data_action<detail::add_data_action<Ts>...> multi_add_data(detail::add_data_action<Ts>... adds) {
  static_assert(sizeof...(Ts) > 0, "sluice::testing::multi_add_data: give at least one st::add_data(stream, rows)");
  return {{std::move(adds)...}};
}

#define SLUICE_TESTING_CHECK(NAME, WHAT, ORDERED)                                                     \
  template <class... Rows>                                                                            \
  detail::check_rows_action NAME(const Rows&... rows) {                                               \
    return {detail::test_context::fetch::WHAT, ORDERED, detail::expected_json(rows...)};              \
  }                                                                                                   \
  template <class Row>                                                                                \
  detail::check_rows_action NAME(const std::vector<Row>& rows) {                                      \
    return {detail::test_context::fetch::WHAT, ORDERED, detail::rows_json(rows)};                     \
  }                                                                                                   \
  template <class Row>                                                                                \
  detail::check_rows_action NAME(std::initializer_list<Row> rows) {                                   \
    return {detail::test_context::fetch::WHAT, ORDERED, detail::rows_json(std::vector<Row>(rows))};   \
  }

// Every row emitted so far (in complete mode: the result of the last batch), any order.
SLUICE_TESTING_CHECK(check_answer, all, false)
// The rows emitted since the previous check (complete mode: the last batch, if one ran since).
SLUICE_TESTING_CHECK(check_new_answer, since_last_check, false)
// The rows of the latest batch, even an empty one.
SLUICE_TESTING_CHECK(check_last_batch, last_batch, false)
SLUICE_TESTING_CHECK(check_answer_in_order, all, true)
SLUICE_TESTING_CHECK(check_new_answer_in_order, since_last_check, true)
SLUICE_TESTING_CHECK(check_last_batch_in_order, last_batch, true)
#undef SLUICE_TESTING_CHECK

// f(const std::vector<Row>&): returns bool, or asserts (throws) itself.
template <class F>
detail::check_rows_by_action<std::decay_t<F>> check_answer_by(F&& f, std::string message = {}) {
  return {detail::test_context::fetch::all, std::forward<F>(f), std::move(message)};
}
template <class F>
detail::check_rows_by_action<std::decay_t<F>> check_last_batch_by(F&& f, std::string message = {}) {
  return {detail::test_context::fetch::last_batch, std::forward<F>(f), std::move(message)};
}

inline detail::start_action start_stream(query_options options = {}) { return {std::move(options)}; }
inline detail::stop_action stop_stream() { return {}; }
inline detail::process_all_available_action process_all_available() { return {}; }
// Waits for a run with trigger once / available-now to end by itself.
inline detail::await_termination_action await_termination() { return {}; }

// Moves a manual_clock forward (the next batch planned takes the new time).
template <class Rep, class Period>
detail::advance_clock_action advance_clock(const manual_clock& clock, std::chrono::duration<Rep, Period> by) {
  return {clock, std::chrono::duration_cast<duration>(by)};
}

inline detail::assert_watermark_action assert_watermark(timestamp t) { return {t}; }
template <class Rep, class Period>
detail::assert_watermark_action assert_watermark(std::chrono::duration<Rep, Period> since_epoch) {
  return {ts(since_epoch)};
}
inline detail::assert_state_rows_action assert_state_rows(std::int64_t total) { return {total, std::nullopt}; }
inline detail::assert_state_rows_action assert_state_rows(std::int64_t total, std::int64_t updated) {
  return {total, updated};
}
inline detail::assert_dropped_action assert_dropped(std::int64_t total) { return {total}; }
// numRowsDroppedByWatermark of the last batch with input rows in the current run.
inline detail::assert_last_dropped_action assert_num_rows_dropped_by_watermark(std::int64_t n) { return {n}; }

// f(sl::streaming_query&): returns bool, or asserts (throws) itself.
template <class F>
detail::assert_on_query_action<std::decay_t<F>> assert_on_query(F&& f, std::string message = {}) {
  static_assert(std::is_invocable_v<std::decay_t<F>&, streaming_query&>,
                "sluice::testing::assert_on_query: f must be callable as f(sl::streaming_query&)");
  return {std::forward<F>(f), std::move(message)};
}

template <class E = std::exception>
detail::expect_failure_action<E> expect_failure(std::string substring = {}) {
  return {std::move(substring)};
}

// ---------------------------------------------------------------- the runner
namespace detail {
template <class Plan, output_mode_kind Mode>
class tester final : public typed_context<typename Plan::row_type> {
 public:
  using Row = typename Plan::row_type;
  using fetch = test_context::fetch;

  tester(Plan plan, recording_sink<Row> sink, std::vector<std::string> descriptions)
      : plan_(std::move(plan)), sink_(std::move(sink)), descriptions_(std::move(descriptions)) {}

  void set_current(std::size_t index) { current_ = index; }

  [[noreturn]] void fail(const std::string& message) override {
    std::ostringstream out;
    out << "\n== Stream test failed ==\n" << message << "\n\n== Progress ==\n";
    for (std::size_t i = 0; i < descriptions_.size(); ++i)
      out << (i == current_ ? "=> " : "   ") << descriptions_[i] << "\n";
    out << "\n== Stream ==\nOutput mode: " << to_string(Mode) << "\n";
    if (runs_.empty()) {
      out << "Not started\n";
    } else {
      auto& q = runs_.back();
      out << "Run " << runs_.size() << ": " << (q.is_active() ? "active" : "terminated") << ", id = " << q.id()
          << ", runId = " << q.run_id() << "\n";
      out << "Watermark (next batch): " << format_timestamp(timestamp{q.current_watermark()}) << "\n";
      out << "Status: " << q.status().json() << "\n";
      if (auto e = q.exception()) out << "Exception: " << e->what() << "\n";
      if (auto p = last_progress()) out << "Last progress: " << p->json() << "\n";
    }
    out << "\n== Sink ==\n";
    const auto batches = sink_.batches();
    const std::size_t first = batches.size() > 20 ? batches.size() - 20 : 0;
    if (first) out << "(" << first << " earlier batches)\n";
    for (std::size_t i = first; i < batches.size(); ++i) {
      out << "batch " << batches[i].batch_id << ":";
      if (batches[i].rows.empty()) out << " (no rows)";
      out << "\n";
      for (std::size_t k = 0; k < batches[i].rows.size() && k < 50; ++k)
        out << "    " << boost::json::serialize(row_json(batches[i].rows[k])) << "\n";
      if (batches[i].rows.size() > 50) out << "    ... (" << batches[i].rows.size() << " rows)\n";
    }
    throw stream_test_failure(out.str());
  }

  bool started() const override { return !runs_.empty(); }

  streaming_query& query() override {
    if (runs_.empty()) fail("the query has not been started");
    return runs_.back();
  }

  output_mode_kind mode() const override { return Mode; }
  std::chrono::milliseconds timeout() const override { return default_timeout; }

  void start(const query_options& given) override {
    if (!runs_.empty() && runs_.back().is_active()) fail("start_stream: the query is already running");
    // As Spark's StreamTest: a checkpoint of the test's own unless the test names one, so a
    // restart after a failure recovers the state as a real one does.
    query_options options = given;
    if (options.checkpoint.empty()) options.checkpoint = checkpoint_.path.string();
    options_ = options;
    if constexpr (std::is_copy_constructible_v<Plan>) {
      // As Spark's StartStream: a new query from the checkpoint, on a copy of the graph as the
      // test built it (the shared sources and sink included), so nothing survives in memory.
      runs_.push_back(sluice::start(Plan(*plan_), output_mode_tag<Mode>{}, options));
    } else if (runs_.empty()) {
      runs_.push_back(sluice::start(std::move(*plan_), output_mode_tag<Mode>{}, options));
      plan_.reset();
    } else {  // a graph that cannot be copied restarts in this process, with its state in memory
      runs_.push_back(sluice::detail::launch(runs_.front().core()->runner(), options));
    }
  }

  void stop() override {
    auto& q = query();
    q.stop();
    if (q.is_active()) fail("stop_stream: the query is still active after stop()");
    report_unexpected_error();
  }

  void settle() override {
    auto& q = query();
    report_unexpected_error();
    if (q.is_active()) {
      const auto limit = std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout());
      const auto kind = options_.trigger.kind;
      if (kind == trigger_kind::once || kind == trigger_kind::available_now) {
        if (!q.core()->wait_terminated(limit))
          fail("the run (trigger once / available-now) did not end within " + std::to_string(timeout().count()) + " ms");
        q.core()->join();
      } else {
        auto core = q.core();
        auto done = std::async(std::launch::async, [core] {
          try {
            core->process_all_available();
          } catch (...) {
          }
        });
        if (done.wait_for(limit) != std::future_status::ready) {
          core->request_stop();
          done.wait();
          fail("process_all_available did not return within " + std::to_string(timeout().count()) + " ms");
        }
      }
    }
    report_unexpected_error();
  }

  std::vector<query_progress> all_progress() const override {
    std::vector<query_progress> out;
    for (const auto& q : runs_) {
      auto p = q.recent_progress();
      out.insert(out.end(), std::make_move_iterator(p.begin()), std::make_move_iterator(p.end()));
    }
    return out;
  }

  std::vector<boost::json::value> fetch_rows(fetch what) override { return rows_json(fetch_typed(what)); }

  std::vector<Row> fetch_typed(fetch what) override {
    const auto batches = sink_.batches();
    std::vector<Row> out;
    const std::int64_t since = last_checked_;
    if (!batches.empty()) last_checked_ = batches.back().batch_id;
    if (batches.empty()) return out;
    switch (what) {
      case fetch::all:
        if (Mode == output_mode_kind::complete) return batches.back().rows;
        for (const auto& b : batches) out.insert(out.end(), b.rows.begin(), b.rows.end());
        return out;
      case fetch::since_last_check:
        if (Mode == output_mode_kind::complete) return batches.back().batch_id > since ? batches.back().rows : out;
        for (const auto& b : batches)
          if (b.batch_id > since) out.insert(out.end(), b.rows.begin(), b.rows.end());
        return out;
      case fetch::last_batch:
        return batches.back().rows;
    }
    return out;
  }

  void accept_current_error() override { accepted_error_run_ = runs_.size(); }

  // At the end: stop the query, and report a failure nobody expected.
  void finish() {
    if (runs_.empty()) return;
    runs_.back().stop();
    report_unexpected_error();
  }

 private:
  std::optional<query_progress> last_progress() const {
    for (auto it = runs_.rbegin(); it != runs_.rend(); ++it)
      if (auto p = it->last_progress()) return p;
    return std::nullopt;
  }

  void report_unexpected_error() {
    if (runs_.empty() || accepted_error_run_ == runs_.size()) return;
    if (auto e = runs_.back().exception()) {
      std::string cause = e->cause() ? what_of(e->cause()) : std::string("(none)");
      fail("the query failed unexpectedly: " + std::string(e->what()) + "\n  cause: " + cause);
    }
  }

  struct temp_checkpoint {
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("sluice-test-" + sluice::detail::random_uuid());
    ~temp_checkpoint() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  temp_checkpoint checkpoint_;
  std::optional<Plan> plan_;
  recording_sink<Row> sink_;
  std::vector<std::string> descriptions_;
  std::vector<streaming_query> runs_;
  query_options options_;
  std::size_t current_ = 0;
  std::int64_t last_checked_ = -1;
  std::size_t accepted_error_run_ = 0;
};

template <class A, class Ctx>
void run_guarded(const A& action, Ctx& ctx) {
  try {
    action.run(ctx);
  } catch (const stream_test_failure&) {
    throw;
  } catch (const std::exception& e) {
    ctx.fail(std::string("the action threw ") + boost::core::demangle(typeid(e).name()) + ": " + e.what());
  }
}
}  // namespace detail

// Runs `query` (a stream, without a sink) in `mode` through the actions; throws
// stream_test_failure when one fails. The query is stopped at the end.
template <class Q, output_mode_kind Mode, class... Actions>
  requires pipeable<Q>
void test_stream(Q&& query, output_mode_tag<Mode>, const Actions&... actions) {
  using Row = typename node_of_t<Q>::row_type;
  static_assert((requires { Actions::kind; } && ...),
                "sluice::testing::test_stream: every argument after the output mode must be an action "
                "(st::add_data, st::check_answer, st::start_stream, ...)");
  detail::recording_sink<Row> sink;
  auto plan = std::forward<Q>(query) | sink;
  using Plan = decltype(plan);

  // Spark's rule: start at once unless a start_stream comes before the first action that
  // needs a running query.
  constexpr detail::action_kind kinds[] = {Actions::kind..., detail::action_kind::needs_query};
  bool started_manually = false;
  for (auto k : kinds) {
    if (k == detail::action_kind::start) started_manually = true;
    if (k != detail::action_kind::add_data) break;
  }
  std::vector<std::string> descriptions;
  if (!started_manually) descriptions.push_back("StartStream (implicit)");
  (descriptions.push_back(actions.describe()), ...);

  detail::tester<Plan, Mode> t(std::move(plan), sink, std::move(descriptions));
  std::size_t index = 0;
  if (!started_manually) {
    t.set_current(index++);
    t.start(query_options{});
  }
  ((t.set_current(index++), detail::run_guarded(actions, t)), ...);
  t.set_current(index);
  t.finish();
}

}  // namespace sluice::testing

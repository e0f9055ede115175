// Chained stateful operators in append mode (Spark 3.4+), re-derived from Spark's
// MultiStatefulOperatorsSuite: each aggregation, session window or deduplication passes its
// input watermark on (Spark's PropagateWatermarkSimulator: produceOutputWatermark is the
// identity for them), so every operator of such a chain runs a batch with the query's two
// watermarks (late rows against the previous batch's, eviction against this batch's), and the
// window column of an aggregation carries the watermark to the next one. Spark's "op W (a, b)"
// comments are the (late, eviction) watermarks; its state-row lists are downstream first, the
// lists here upstream first (the order of progress' stateOperators).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
std::vector<Event> seconds(int from, int to) {
  std::vector<Event> out;
  for (int s = from; s <= to; ++s) out.push_back(ev(std::chrono::seconds(s), "k", s));
  return out;
}

// numRowsTotal and numRowsDroppedByWatermark of each stateful operator, upstream first, in the
// last progress (a no-data batch's, after the data batch: Spark's figures are the same batch's).
auto assert_ops(std::vector<std::int64_t> state_rows, std::vector<std::int64_t> dropped = {}) {
  return st::assert_on_query(
      [state_rows, dropped](sl::streaming_query& q) {
        const auto ops = q.last_progress()->state_operators;
        if (ops.size() != state_rows.size()) return false;
        for (std::size_t i = 0; i < ops.size(); ++i) {
          if (ops[i].num_rows_total != state_rows[i]) return false;
          if (!dropped.empty() && ops[i].num_rows_dropped_by_watermark != dropped[i]) return false;
        }
        return true;
      },
      "the operators' state rows");
}

// Spark's "window agg -> window agg": 5 s windows counted, then their counts by 10 s window.
auto windows_of_windows(sl::memory_stream<Event>& in) {
  return in | sl::with_watermark(sl::col<"timestamp">, 0s) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
         sl::aggregate(sl::count()) | sl::group_by(sl::window(sl::col<"window">, 10s)) |
         sl::aggregate(sl::count(), sl::sum(sl::col<"count">).as<"sum">());
}
using windows_row = decltype(windows_of_windows(std::declval<sl::memory_stream<Event>&>()))::row_type;
windows_row row(int start, int end, std::int64_t count, std::int64_t sum) {
  return windows_row{{st::win(std::chrono::seconds(start), std::chrono::seconds(end))}, {count}, {sum}};
}
}  // namespace

TEST_CASE("chained: window agg -> window agg, append mode (Spark: MultiStatefulOperatorsSuite)", "[chained]") {
  auto in = sl::memory_stream<Event>();
  auto q = windows_of_windows(in);
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::add_data(in, seconds(10, 21)),
      // op1 W (0, 21) in the no-data batch: emits [10, 15) 5, [15, 20) 5; op2 W (0, 21): [10, 20) (2, 10)
      st::check_new_answer(row(10, 20, 2, 10)), assert_ops({1, 0}),
      st::add_data(in, seconds(10, 29)),
      // op1 W (21, 21): [10, 15), [15, 20) late (10 rows here, 2 windows in Spark); then W (21, 29):
      // emits [20, 25) 7; op2 holds [20, 30) (1, 7)
      st::check_new_answer(), assert_ops({1, 1}),
      st::assert_dropped(10),
      st::add_data(in, {ev(30s), ev(31s)}),
      // W (29, 31): op1 emits [25, 30) 5; op2 [20, 30) (2, 12), closed by 31
      st::check_new_answer(row(20, 30, 2, 12)), assert_ops({1, 0}, {0, 0})));
}

TEST_CASE("chained: agg -> agg -> agg, append mode (Spark: MultiStatefulOperatorsSuite)", "[chained]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 0s) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
           sl::aggregate(sl::count()) | sl::group_by(sl::window(sl::col<"window">, 10s)) |
           sl::aggregate(sl::count(), sl::sum(sl::col<"count">).as<"sum">()) |
           sl::group_by(sl::window(sl::col<"window">, 20s)) |
           sl::aggregate(sl::count(), sl::sum(sl::col<"sum">).as<"sum">());
  using R = decltype(q)::row_type;
  auto row3 = [](int start, int end, std::int64_t count, std::int64_t sum) {
    return R{{st::win(std::chrono::seconds(start), std::chrono::seconds(end))}, {count}, {sum}};
  };
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::add_data(in, seconds(0, 37)),
      st::check_new_answer(row3(0, 20, 2, 20)), assert_ops({1, 1, 1}),
      st::add_data(in, seconds(30, 60)),
      // op1 W (37, 37): 30..34 late ([30, 35) closed); W (37, 60) closes the rest but [60, 65)
      st::check_new_answer(row3(20, 40, 2, 23), row3(40, 60, 2, 20)), assert_ops({1, 0, 0}),
      st::assert_dropped(5)));
}

TEST_CASE("chained: stream deduplication -> aggregation, append mode (Spark: MultiStatefulOperatorsSuite)",
          "[chained]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::drop_duplicates(sl::col<"value">, sl::col<"timestamp">) |
           sl::group_by(sl::window(sl::col<"timestamp">, 5s)) | sl::aggregate(sl::count(), sl::sum(sl::col<"value">));
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::add_data(in, seconds(1, 15)),
      // W (0, 5): dedup keeps 6..15, the aggregation emits [0, 5) 4
      st::check_new_answer(R{{st::win(0s, 5s)}, {4}, {10}}), assert_ops({10, 3}, {0, 0})));
}

namespace {
struct EndCount {
  sl::timestamp window_end;
  std::int64_t count = 0;
};
BOOST_DESCRIBE_STRUCT(EndCount, (), (window_end, count))
}  // namespace

TEST_CASE("chained: aggregation -> stream deduplication, append mode (Spark: MultiStatefulOperatorsSuite)",
          "[chained]") {
  auto in = sl::memory_stream<Event>();
  auto counts = in | sl::with_watermark(sl::col<"timestamp">, 0s) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
                sl::aggregate(sl::count());
  using C = decltype(counts)::row_type;
  // Without an event-time key the deduplication keeps its state: Spark's dedupNoEventTime.
  auto q = std::move(counts) |
           sl::map([](const C& r) { return EndCount{sl::get<"window">(r).end, sl::get<"count">(r)}; }) |
           sl::drop_duplicates();
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::add_data(in, {ev(1s), ev(5s), ev(10s), ev(15s)}),
      st::check_new_answer(EndCount{st::ts(5s), 1}, EndCount{st::ts(10s), 1}, EndCount{st::ts(15s), 1}),
      assert_ops({1, 3}, {0, 0})));
}

TEST_CASE("chained: a restart keeps both operators' state and the watermark", "[chained]") {
  auto in = sl::memory_stream<Event>();
  auto q = windows_of_windows(in);
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::add_data(in, seconds(10, 21)),
      st::check_new_answer(row(10, 20, 2, 10)),
      st::add_data(in, seconds(20, 29)),
      st::check_new_answer(),
      st::stop_stream(), st::start_stream(),
      st::add_data(in, {ev(30s), ev(31s)}),
      st::check_new_answer(row(20, 30, 2, 12)), assert_ops({1, 0})));
}

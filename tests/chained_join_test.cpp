// Stateful operators after a stream-stream join (Spark 3.5+), re-derived from Spark's
// MultiStatefulOperatorsSuite: the join passes on the lower of its two state watermarks and its
// input watermark (StreamingSymmetricHashJoinExec.produceOutputWatermark), and the operators
// after it drop late rows and evict with that watermark (PropagateWatermarkSimulator: never
// below 0, and 0 for every operator while the query's watermark is 0). Spark's watermarks are
// milliseconds and the state watermark is one millisecond below the bound; sluice's are
// microseconds, one microsecond below (docs/semantics.md). State-row lists are upstream first.
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
// numRowsTotal of each stateful operator in the last progress, upstream first.
auto assert_state_rows(std::vector<std::int64_t> expected) {
  return st::assert_on_query(
      [expected](sl::streaming_query& q) {
        std::vector<std::int64_t> actual;
        for (const auto& op : q.last_progress()->state_operators) actual.push_back(op.num_rows_total);
        return actual == expected;
      },
      "the operators' state rows");
}

// ---- "join -> window agg, append mode": a join on the two event times.
struct V1 {
  std::int64_t value1 = 0;
  sl::timestamp eventTime1;
};
BOOST_DESCRIBE_STRUCT(V1, (), (value1, eventTime1))
struct V2 {
  std::int64_t value2 = 0;
  sl::timestamp eventTime2;
};
BOOST_DESCRIBE_STRUCT(V2, (), (value2, eventTime2))
V1 v1(std::int64_t s) { return {s, st::ts(std::chrono::seconds(s))}; }
V2 v2(std::int64_t s) { return {s, st::ts(std::chrono::seconds(s))}; }
std::vector<V1> v1s(int from, int to) {
  std::vector<V1> out;
  for (int s = from; s <= to; ++s) out.push_back(v1(s));
  return out;
}
std::vector<V2> v2s(int from, int to) {
  std::vector<V2> out;
  for (int s = from; s <= to; ++s) out.push_back(v2(s));
  return out;
}

// ---- the time-interval outer joins: (id, timestamp) on both sides, 2023-01-01 hh:mm:ss.
struct S1 {
  std::string id1;
  sl::timestamp timestamp1;
};
BOOST_DESCRIBE_STRUCT(S1, (), (id1, timestamp1))
struct S2 {
  std::string id2;
  sl::timestamp timestamp2;
};
BOOST_DESCRIBE_STRUCT(S2, (), (id2, timestamp2))
constexpr std::chrono::seconds jan_1_2023{1672531200};
sl::timestamp at(int h, int m, int s) { return st::ts(jan_1_2023 + std::chrono::hours(h) + std::chrono::minutes(m) + std::chrono::seconds(s)); }
S1 s1(std::string id, int h, int m, int s) { return {std::move(id), at(h, m, s)}; }
S2 s2(std::string id, int h, int m, int s) { return {std::move(id), at(h, m, s)}; }
// s1.timestamp1 BETWEEN s2.timestamp2 - INTERVAL 1 hour AND s2.timestamp2 + INTERVAL 1 hour
auto within_an_hour() { return sl::time_range(sl::col<"timestamp1">, sl::col<"timestamp2">, -1h, 1h); }
auto w1(const sl::memory_stream<S1>& in) { return in | sl::with_watermark(sl::col<"timestamp1">, 0s); }
auto w2(const sl::memory_stream<S2>& in) { return in | sl::with_watermark(sl::col<"timestamp2">, 0s); }

template <class Row>
Row ten_minutes(int h, int m, std::int64_t count) {
  const auto start = jan_1_2023 + std::chrono::hours(h) + std::chrono::minutes(m);
  return Row{{st::win(start, start + std::chrono::minutes(10))}, {count}};
}

// Spark's "stream-stream time interval left outer join -> aggregation": the query and its
// three batches.
auto left_join_counts(sl::memory_stream<S1>& in1, sl::memory_stream<S2>& in2) {
  return w1(in1) | sl::left_join(w2(in2), sl::col<"id1">, sl::col<"id2">, within_an_hour()) |
         sl::group_by(sl::window(sl::col<"timestamp1">, 10min)) | sl::aggregate(sl::count());
}
using left_join_row =
    decltype(left_join_counts(std::declval<sl::memory_stream<S1>&>(), std::declval<sl::memory_stream<S2>&>()))::row_type;
auto left_join_batch_1(sl::memory_stream<S1>& in1, sl::memory_stream<S2>& in2) {
  return st::multi_add_data(st::add_data(in1, {s1("1", 1, 0, 10), s1("2", 1, 0, 30)}),
                            st::add_data(in2, {s2("1", 1, 0, 20)}));
}
auto left_join_batch_2(sl::memory_stream<S1>& in1, sl::memory_stream<S2>& in2) {
  return st::multi_add_data(st::add_data(in1, {s1("5", 1, 15, 0)}), st::add_data(in2, {s2("6", 1, 15, 0)}));
}
auto left_join_batch_3(sl::memory_stream<S1>& in1, sl::memory_stream<S2>& in2) {
  return st::multi_add_data(st::add_data(in1, {s1("5", 2, 16, 0)}), st::add_data(in2, {s2("6", 2, 16, 0)}));
}
}  // namespace

TEST_CASE("chained join: join on the event times -> window agg, append mode (Spark: MultiStatefulOperatorsSuite)",
          "[chained][stream_join]") {
  auto in1 = sl::memory_stream<V1>();
  auto in2 = sl::memory_stream<V2>();
  auto q = (in1 | sl::with_watermark(sl::col<"eventTime1">, 0s)) |
           sl::join(in2 | sl::with_watermark(sl::col<"eventTime2">, 0s), sl::col<"eventTime1">, sl::col<"eventTime2">) |
           sl::group_by(sl::window(sl::col<"eventTime1">, 5s)) | sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::multi_add_data(st::add_data(in1, v1s(1, 4)), st::add_data(in2, v2s(1, 4))),
      // op1 W (0, 0) joins (1, 1) .. (4, 4); op2 holds [0, 5) 4. No-data batch, W (0, 4): the
      // join evicts its keys <= 4 and passes 4 on; [0, 5) stays open.
      st::check_new_answer(), assert_state_rows({0, 1}),
      st::multi_add_data(st::add_data(in1, {v1(5)}), st::add_data(in2, {v2(5)})),
      // W (4, 4): (5, 5) joined, [5, 10) 1; then W (4, 5) closes [0, 5).
      st::check_new_answer(wc(0, 5, 4)), assert_state_rows({0, 1})));
}

TEST_CASE("chained join: join on the event times -> deduplication on event time, append mode", "[chained][stream_join]") {
  auto in1 = sl::memory_stream<V1>();
  auto in2 = sl::memory_stream<V2>();
  auto q = (in1 | sl::with_watermark(sl::col<"eventTime1">, 0s)) |
           sl::join(in2 | sl::with_watermark(sl::col<"eventTime2">, 0s), sl::col<"eventTime1">, sl::col<"eventTime2">) |
           sl::drop_duplicates(sl::col<"eventTime1">);
  using R = decltype(q)::row_type;
  auto row = [](std::int64_t s) { return R{{s}, {st::ts(std::chrono::seconds(s))}, {s}, {st::ts(std::chrono::seconds(s))}}; };
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::multi_add_data(st::add_data(in1, {v1(1), v1(1), v1(2)}), st::add_data(in2, {v2(1), v2(2)})),
      // (1, 1) twice, (2, 2): the deduplication keeps one of each; W (0, 2) then evicts both
      // operators' state (the join passes 2 on).
      st::check_new_answer(row(1), row(2)), assert_state_rows({0, 0}),
      st::multi_add_data(st::add_data(in1, {v1(2), v1(3)}), st::add_data(in2, {v2(3)})),
      // 2 is late for the join (W 2); (3, 3) is new.
      st::check_new_answer(row(3))));
}

TEST_CASE("chained join: time interval left outer join -> window agg, append mode (Spark: MultiStatefulOperatorsSuite)",
          "[chained][stream_join]") {
  auto in1 = sl::memory_stream<S1>();
  auto in2 = sl::memory_stream<S2>();
  auto q = left_join_counts(in1, in2);
  using R = left_join_row;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      left_join_batch_1(in1, in2),
      // Data batch W (0, 0): ("1" 01:00:10, "1" 01:00:20) joined; op2 holds [01:00, 01:10) 1.
      // Watermark 01:00:20. No-data batch: the join runs with (0, 01:00:20), both state
      // watermarks 00:00:19.999999 evict nothing, and op2 gets (0, 00:00:19.999999).
      st::check_new_answer(), assert_state_rows({3, 1}),
      left_join_batch_2(in1, in2),
      // Watermark 01:15: op2 (00:00:19.999999, 00:14:59.999999) closes nothing.
      st::check_new_answer(), assert_state_rows({5, 1}),
      left_join_batch_3(in1, in2),
      // Watermark 02:16: the join (01:15, 02:16) evicts at 01:15:59.999999 and emits ("2"
      // 01:00:30) and ("5" 01:15) with nulls; op2 (00:14:59.999999, 01:15:59.999999) counts them,
      // closes [01:00, 01:10) 2 and keeps [01:10, 01:20) 1.
      st::check_new_answer(ten_minutes<R>(1, 0, 2)), assert_state_rows({2, 1})));
}

TEST_CASE("chained join: time interval right outer join -> window agg on the right's time (Spark: MultiStatefulOperatorsSuite)",
          "[chained][stream_join]") {
  auto in1 = sl::memory_stream<S1>();
  auto in2 = sl::memory_stream<S2>();
  // Spark's case swaps the inputs of the left outer one: the right side's rows are preserved.
  auto q = w1(in1) | sl::right_join(w2(in2), sl::col<"id1">, sl::col<"id2">, within_an_hour()) |
           sl::group_by(sl::window(sl::col<"timestamp2">, 10min)) | sl::aggregate(sl::count());
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::multi_add_data(st::add_data(in2, {s2("1", 1, 0, 10), s2("2", 1, 0, 30)}),
                         st::add_data(in1, {s1("1", 1, 0, 20)})),
      st::check_new_answer(),
      st::multi_add_data(st::add_data(in2, {s2("5", 1, 15, 0)}), st::add_data(in1, {s1("6", 1, 15, 0)})),
      st::check_new_answer(),
      st::multi_add_data(st::add_data(in2, {s2("5", 2, 16, 0)}), st::add_data(in1, {s1("6", 2, 16, 0)})),
      st::check_new_answer(ten_minutes<R>(1, 0, 2))));
}

TEST_CASE("chained join: a restart gives the operators after the join their own watermarks back", "[chained][stream_join]") {
  auto in1 = sl::memory_stream<S1>();
  auto in2 = sl::memory_stream<S2>();
  auto q = left_join_counts(in1, in2);
  using R = left_join_row;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      left_join_batch_1(in1, in2),
      st::check_new_answer(),
      st::stop_stream(), st::start_stream(),
      left_join_batch_2(in1, in2),
      st::check_new_answer(),
      st::stop_stream(), st::start_stream(),
      left_join_batch_3(in1, in2),
      st::check_new_answer(ten_minutes<R>(1, 0, 2)), assert_state_rows({2, 1})));
}

TEST_CASE("chained join: a row the join emits below the query's watermark is not late for the aggregation after it",
          "[chained][stream_join]") {
  // The outer row ("2" 01:00:30) leaves the join when the watermark reaches 02:16; its window
  // [01:00, 01:10) ends before the previous batch's watermark 01:30, so with the query's
  // watermark the aggregation would drop it as late. The join's output watermark for late rows
  // (01:30 - 1 h - 1 us) keeps it.
  auto in1 = sl::memory_stream<S1>();
  auto in2 = sl::memory_stream<S2>();
  auto q = left_join_counts(in1, in2);
  using R = left_join_row;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::multi_add_data(st::add_data(in1, {s1("2", 1, 0, 30), s1("8", 1, 30, 0)}), st::add_data(in2, {s2("6", 1, 30, 0)})),
      st::check_new_answer(),
      st::multi_add_data(st::add_data(in1, {s1("7", 2, 16, 0)}), st::add_data(in2, {s2("9", 2, 16, 0)})),
      st::check_new_answer(ten_minutes<R>(1, 0, 1)), assert_state_rows({4, 0})));
}

TEST_CASE("chained join: the join's output watermark for various intervals (Spark: MultiStatefulOperatorsSuite)",
          "[chained][stream_join]") {
  auto left = sl::memory_stream<S1>();
  auto right = sl::memory_stream<S2>();
  auto output_watermark = [&](auto lower, auto upper) {
    auto j = (left | sl::with_watermark(sl::col<"timestamp1">, 5min)) |
             sl::join(right | sl::with_watermark(sl::col<"timestamp2">, 10min), sl::col<"id1">, sl::col<"id2">,
                      sl::time_range(sl::col<"timestamp1">, sl::col<"timestamp2">, lower, upper));
    return j.output_watermark(0);
  };
  // A right row waits 40 s (and a microsecond) for left rows.
  CHECK(output_watermark(0s, 40s) == std::optional<std::int64_t>(-40'000'000 - 1));
  // A left row waits 30 s.
  CHECK(output_watermark(-30s, 0s) == std::optional<std::int64_t>(-30'000'000 - 1));
  // Both: the lower of the two.
  CHECK(output_watermark(-30s, 40s) == std::optional<std::int64_t>(-40'000'000 - 1));
  // Without a time range, on a watermarked key: the input watermark.
  auto keyed = (left | sl::with_watermark(sl::col<"timestamp1">, 5min)) |
               sl::join(right | sl::with_watermark(sl::col<"timestamp2">, 10min), sl::col<"timestamp1">,
                        sl::col<"timestamp2">);
  CHECK(keyed.output_watermark(7) == std::optional<std::int64_t>(7));
}

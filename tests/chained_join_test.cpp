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

// ---- A stream-stream join after window aggregations (Spark 3.4+'s chained operators, with
// Spark 4.0's SPARK-49829: a left row is kept until the batch's eviction). Each side's window
// aggregation closes its windows in the same no-data batch; the window column carries the
// watermark (compared by its end), so the join on it evicts both sides at window.end.
namespace {
auto window_counts_1(sl::memory_stream<V1>& in) {
  return in | sl::with_watermark(sl::col<"eventTime1">, 0s) | sl::group_by(sl::window(sl::col<"eventTime1">, 5s)) |
         sl::aggregate(sl::count().as<"n1">());
}
auto window_counts_2(sl::memory_stream<V2>& in) {
  return in | sl::with_watermark(sl::col<"eventTime2">, 0s) | sl::group_by(sl::window(sl::col<"eventTime2">, 5s)) |
         sl::aggregate(sl::count().as<"n2">());
}
template <class R, class N2>
R window_pair(std::int64_t start_s, std::int64_t n1, N2 n2) {
  return R{{st::win(std::chrono::seconds(start_s), std::chrono::seconds(start_s + 5))}, {n1}, {n2}};
}
// The inner join of the two window counts on the window, and the two batches its cases share.
auto window_join(sl::memory_stream<V1>& in1, sl::memory_stream<V2>& in2) {
  return window_counts_1(in1) | sl::join(window_counts_2(in2), sl::col<"window">);
}
using window_join_row =
    decltype(window_join(std::declval<sl::memory_stream<V1>&>(), std::declval<sl::memory_stream<V2>&>()))::row_type;
auto window_batch_1(sl::memory_stream<V1>& in1, sl::memory_stream<V2>& in2) {
  return st::multi_add_data(st::add_data(in1, v1s(1, 4)), st::add_data(in2, v2s(1, 3)));
}
auto window_batch_2(sl::memory_stream<V1>& in1, sl::memory_stream<V2>& in2) {
  return st::multi_add_data(st::add_data(in1, {v1(6)}), st::add_data(in2, {v2(7)}));
}
struct V3 {
  std::int64_t value3 = 0;
  sl::timestamp eventTime3;
};
BOOST_DESCRIBE_STRUCT(V3, (), (value3, eventTime3))
V3 v3(std::int64_t s) { return {s, st::ts(std::chrono::seconds(s))}; }
}  // namespace

TEST_CASE("chained join: window agg per each side -> stream-stream join on the window, append mode",
          "[chained][stream_join]") {
  auto in1 = sl::memory_stream<V1>();
  auto in2 = sl::memory_stream<V2>();
  auto q = window_join(in1, in2);
  using R = window_join_row;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      window_batch_1(in1, in2),
      // Data batch W (0, 0): op1 [0, 5) 4, op2 [0, 5) 3. Watermark min(4, 3) = 3; the no-data
      // batch W (0, 3) closes nothing.
      st::check_new_answer(), assert_state_rows({1, 1, 0}),
      window_batch_2(in1, in2),
      // W (3, 3): [5, 10) 1 on each side. Watermark 6: W (3, 6) closes [0, 5) on both sides in
      // the same batch; the join keeps the left window until its eviction, so the right one
      // finds it. Both leave the join at window.end 5 <= 6.
      st::check_new_answer(window_pair<R>(0, 4, 3)), assert_state_rows({1, 1, 0}),
      st::multi_add_data(st::add_data(in1, {v1(11)}), st::add_data(in2, {v2(12)})),
      // Watermark 11: [5, 10) closes on both sides.
      st::check_new_answer(window_pair<R>(5, 1, 1)), assert_state_rows({1, 1, 0})));
}

TEST_CASE("chained join: window agg per each side -> left outer join on the window: an unmatched window with nulls",
          "[chained][stream_join]") {
  auto in1 = sl::memory_stream<V1>();
  auto in2 = sl::memory_stream<V2>();
  auto q = window_counts_1(in1) | sl::left_join(window_counts_2(in2), sl::col<"window">);
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::multi_add_data(st::add_data(in1, {v1(1), v1(2), v1(11)}), st::add_data(in2, {v2(6), v2(12)})),
      // W (0, 0): op1 [0, 5) 2, [10, 15) 1; op2 [5, 10) 1, [10, 15) 1. Watermark 11: op1 closes
      // [0, 5), op2 [5, 10); [0, 5) finds no right window and leaves the join at 5 <= 11 with
      // nulls; the right [5, 10) is dropped (an inner side).
      st::check_new_answer(window_pair<R>(0, 2, std::optional<std::int64_t>{})), assert_state_rows({1, 1, 0}),
      st::multi_add_data(st::add_data(in1, {v1(16)}), st::add_data(in2, {v2(17)})),
      // Watermark 16: [10, 15) closes on both sides and matches.
      st::check_new_answer(window_pair<R>(10, 1, std::optional<std::int64_t>(1))), assert_state_rows({1, 1, 0})));
}

TEST_CASE("chained join: window agg per each side -> join -> a restart in between", "[chained][stream_join]") {
  auto in1 = sl::memory_stream<V1>();
  auto in2 = sl::memory_stream<V2>();
  auto q = window_join(in1, in2);
  using R = window_join_row;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      window_batch_1(in1, in2),
      st::check_new_answer(),
      st::stop_stream(), st::start_stream(),
      window_batch_2(in1, in2),
      st::check_new_answer(window_pair<R>(0, 4, 3)), assert_state_rows({1, 1, 0})));
}

TEST_CASE("chained join: stream-stream join -> stream-stream join with a third stream, append mode",
          "[chained][stream_join]") {
  auto in1 = sl::memory_stream<V1>();
  auto in2 = sl::memory_stream<V2>();
  auto in3 = sl::memory_stream<V3>();
  auto first = (in1 | sl::with_watermark(sl::col<"eventTime1">, 0s)) |
               sl::join(in2 | sl::with_watermark(sl::col<"eventTime2">, 0s), sl::col<"eventTime1">, sl::col<"eventTime2">);
  // The first join's output carries the watermark on eventTime1 (its left side's): the second
  // join is keyed on it and evicts both of its sides by it.
  auto q = std::move(first) |
           sl::join(in3 | sl::with_watermark(sl::col<"eventTime3">, 0s), sl::col<"eventTime1">, sl::col<"eventTime3">);
  using R = decltype(q)::row_type;
  auto row = [](std::int64_t s) {
    const auto t = st::ts(std::chrono::seconds(s));
    return R{{s}, {t}, {s}, {t}, {s}, {t}};
  };
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::multi_add_data(st::add_data(in1, v1s(1, 3)), st::add_data(in2, v2s(1, 3)), st::add_data(in3, {v3(2), v3(3)})),
      // W (0, 0): op1 joins 1..3; op2 matches 2 and 3. Watermark 3: W (0, 3) evicts both joins.
      st::check_new_answer(row(2), row(3)), assert_state_rows({0, 0}),
      st::multi_add_data(st::add_data(in1, {v1(4), v1(5)}), st::add_data(in2, {v2(5)}),
                         st::add_data(in3, {v3(2), v3(4), v3(5)})),
      // W (3, 3): the third stream's 2 is late for op2 (2 <= 3) and dropped; its 4 finds no
      // joined row; 5 matches (5, 5). Watermark 5 evicts everything.
      st::check_new_answer(row(5)), assert_state_rows({0, 0})));
}

namespace {
struct Ev {
  std::string key;
  sl::timestamp t;
};
BOOST_DESCRIBE_STRUCT(Ev, (), (key, t))
struct Profile {
  std::string profile_key;
  sl::timestamp profile_time;
};
BOOST_DESCRIBE_STRUCT(Profile, (), (profile_key, profile_time))
Ev ev(std::string k, std::int64_t s) { return {std::move(k), st::ts(std::chrono::seconds(s))}; }
Profile profile(std::string k, std::int64_t s) { return {std::move(k), st::ts(std::chrono::seconds(s))}; }
}  // namespace

TEST_CASE("chained join: session window -> stream-stream join on the key, append mode", "[chained][stream_join]") {
  auto events = sl::memory_stream<Ev>();
  auto profiles = sl::memory_stream<Profile>();
  auto sessions = events | sl::with_watermark(sl::col<"t">, 0s) |
                  sl::group_by(sl::session_window(sl::col<"t">, 3s), sl::col<"key">) | sl::aggregate(sl::count());
  auto q = std::move(sessions) | sl::join(profiles | sl::with_watermark(sl::col<"profile_time">, 0s), sl::col<"key">,
                                          sl::col<"profile_key">);
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::multi_add_data(st::add_data(events, {ev("a", 1), ev("a", 2)}),
                         st::add_data(profiles, {profile("a", 1), profile("z", 10)})),
      // Watermark min(2, 10) = 2: the session a [1 s, 5 s) stays open.
      st::check_new_answer(),
      st::multi_add_data(st::add_data(events, {ev("b", 10)}), st::add_data(profiles, {profile("y", 11)})),
      // Watermark 10: the session a closes (end 5 s <= 10 s) in the no-data batch; its end is above
      // the late-rows watermark 2 s, so the join takes it and finds the profile a.
      st::check_new_answer(R{{st::win(std::chrono::seconds(1), std::chrono::seconds(5))},
                             {"a"},
                             {2},
                             {"a"},
                             {st::ts(std::chrono::seconds(1))}})));
}

TEST_CASE("chained join: deduplication on event time -> stream-stream join on the key, append mode", "[chained][stream_join]") {
  auto events = sl::memory_stream<Ev>();
  auto profiles = sl::memory_stream<Profile>();
  auto firsts = events | sl::with_watermark(sl::col<"t">, 0s) | sl::drop_duplicates(sl::col<"key">, sl::col<"t">);
  auto q = std::move(firsts) | sl::join(profiles | sl::with_watermark(sl::col<"profile_time">, 0s), sl::col<"key">,
                                        sl::col<"profile_key">);
  using R = decltype(q)::row_type;
  auto row = [](std::string k, std::int64_t s, std::int64_t p) {
    return R{{k}, {st::ts(std::chrono::seconds(s))}, {k}, {st::ts(std::chrono::seconds(p))}};
  };
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::multi_add_data(st::add_data(events, {ev("a", 1), ev("a", 1), ev("b", 2)}),
                         st::add_data(profiles, {profile("a", 1)})),
      // The deduplication passes (a, 1) once and (b, 2); the join finds the profile a.
      st::check_new_answer(row("a", 1, 1)),
      // Watermark min(2, 1) = 1: the no-data batch evicts the key (a, 1) from the deduplication.
      // Then (a, 1) again is late for it (1 <= 1) and dropped, not passed on as a new key; (b, 2)
      // is a duplicate; the profile b joins the (b, 2) the join kept (no range: kept for ever).
      st::multi_add_data(st::add_data(events, {ev("a", 1), ev("b", 2)}), st::add_data(profiles, {profile("b", 3)})),
      // Watermark 2: a no-data batch evicts (b, 2) from the deduplication; the join keeps its
      // four rows.
      st::check_new_answer(row("b", 2, 3)), st::assert_dropped(1), assert_state_rows({0, 4})));
}

// Stream-stream joins, after Spark's StreamingJoinSuite and StreamingOuterJoinSuite (case by
// case, event times in seconds): inner joins with and without a time range, each outer join and
// the left semi join, late rows, the state each side keeps and when the watermark evicts it,
// when outer rows come out, and restarts from the checkpoint in the middle.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
struct KL {  // Spark: input1.toDF.select('value as "key", ('value * 2) as "leftValue")
  std::int64_t key = 0;
  std::int64_t leftValue = 0;
};
BOOST_DESCRIBE_STRUCT(KL, (), (key, leftValue))
struct KR {
  std::int64_t key = 0;
  std::int64_t rightValue = 0;
};
BOOST_DESCRIBE_STRUCT(KR, (), (key, rightValue))
KL kl(std::int64_t v) { return {v, v * 2}; }
KR kr(std::int64_t v) { return {v, v * 3}; }

struct L {  // (leftKey, leftTime)
  std::int64_t leftKey = 0;
  sl::timestamp leftTime;
};
BOOST_DESCRIBE_STRUCT(L, (), (leftKey, leftTime))
struct R {
  std::int64_t rightKey = 0;
  sl::timestamp rightTime;
};
BOOST_DESCRIBE_STRUCT(R, (), (rightKey, rightTime))
L l(std::int64_t k, std::int64_t s) { return {k, st::ts(std::chrono::seconds(s))}; }
R r(std::int64_t k, std::int64_t s) { return {k, st::ts(std::chrono::seconds(s))}; }

// leftTime BETWEEN rightTime - 10 seconds AND rightTime + 5 seconds, watermarks of 10 s.
auto range() { return sl::time_range(sl::col<"leftTime">, sl::col<"rightTime">, -10s, 5s); }
auto lw(const sl::memory_stream<L>& in) { return in | sl::with_watermark(sl::col<"leftTime">, 10s); }
auto rw(const sl::memory_stream<R>& in) { return in | sl::with_watermark(sl::col<"rightTime">, 10s); }

template <class Row>
Row j(std::optional<std::int64_t> lk, std::optional<std::int64_t> lt, std::optional<std::int64_t> rk,
      std::optional<std::int64_t> rt) {
  Row row{};
  auto t = [](std::optional<std::int64_t> s) { return s ? std::optional(st::ts(std::chrono::seconds(*s))) : std::nullopt; };
  auto set = [](auto& field, const auto& v) {
    using F = std::remove_cvref_t<decltype(field)>;
    if constexpr (sl::detail::is_optional_v<F>) field = v;
    else field = *v;
  };
  set(sl::get<"leftKey">(row), lk);
  set(sl::get<"leftTime">(row), t(lt));
  set(sl::get<"rightKey">(row), rk);
  set(sl::get<"rightTime">(row), t(rt));
  return row;
}
}  // namespace

TEST_CASE("stream join: inner on a non-time column keeps state forever (Spark: stream stream inner join on non-time column)",
          "[stream_join]") {
  auto a = sl::memory_stream<KL>();
  auto b = sl::memory_stream<KR>();
  using J = sl::row<sl::field<"key", std::int64_t>, sl::field<"leftValue", std::int64_t>,
                    sl::field<"rightValue", std::int64_t>>;
  auto q = a | sl::join(b, sl::col<"key">);
  static_assert(std::is_same_v<decltype(q)::row_type, J>);
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append, st::add_data(a, {kl(1)}), st::check_answer(),
      st::add_data(b, {kr(1), kr(10)}),  // 1 arrived on the left first, then on the right: joins
      st::check_new_answer(J{{1}, {2}, {3}}),
      st::add_data(a, {kl(10)}),  // 10 arrived on the right first
      st::check_new_answer(J{{10}, {20}, {30}}),
      st::add_data(b, {kr(1)}),  // another 1 on the right joins the left's 1
      st::check_new_answer(J{{1}, {2}, {3}}), st::assert_state_rows(5, 1),  // left 1, 10; right 1, 10, 1
      st::stop_stream(), st::start_stream(),
      st::add_data(a, {kl(1)}),  // both right 1s are kept: two rows
      st::check_new_answer(J{{1}, {2}, {3}}, J{{1}, {2}, {3}}), st::stop_stream(), st::start_stream(),
      st::add_data(a, {kl(100)}), st::add_data(b, {kr(100)}), st::check_new_answer(J{{100}, {200}, {300}}),
      st::assert_state_rows(8)));
}

TEST_CASE("stream join: rows of both sides in the same batch join once", "[stream_join]") {
  auto a = sl::memory_stream<KL>();
  auto b = sl::memory_stream<KR>();
  using J = decltype(a | sl::join(b, sl::col<"key">))::row_type;
  REQUIRE_NOTHROW(st::test_stream(a | sl::join(b, sl::col<"key">), sl::output_mode::append,
                                  st::multi_add_data(st::add_data(a, {kl(1), kl(2)}), st::add_data(b, {kr(1), kr(1)})),
                                  st::check_new_answer(J{{1}, {2}, {3}}, J{{1}, {2}, {3}}),
                                  st::assert_state_rows(4, 4)));
}

TEST_CASE("stream join: inner with a time range and watermarks evicts both sides (Spark: inner join with time range - "
          "with watermark - two side conditions)",
          "[stream_join]") {
  auto a = sl::memory_stream<L>();
  auto b = sl::memory_stream<R>();
  auto q = lw(a) | sl::join(rw(b), sl::col<"leftKey">, sl::col<"rightKey">, range());
  using J = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append, st::add_data(a, {l(1, 20)}), st::check_new_answer(),
      // leftTime 20 matches rightTime in [15, 30]
      st::add_data(b, {r(1, 14), r(1, 15), r(1, 25), r(1, 26), r(1, 30), r(1, 31)}),
      st::check_new_answer(j<J>(1, 20, 1, 15), j<J>(1, 20, 1, 25), j<J>(1, 20, 1, 26), j<J>(1, 20, 1, 30)),
      st::assert_state_rows(7, 6), st::assert_watermark(10s),  // min(20 - 10, 31 - 10)
      st::add_data(b, {r(1, 60)}), st::check_new_answer(),      // matches leftTime in [50, 65]: none yet
      st::add_data(a, {l(1, 49), l(1, 50), l(1, 65), l(1, 66)}),
      // the watermark becomes 50 (min(66, 60) - 10): the no-data batch after it evicts left rows
      // with leftTime < 40 (20) and right rows with rightTime < 45 (14 ... 31)
      st::check_new_answer(j<J>(1, 50, 1, 60), j<J>(1, 65, 1, 60)), st::assert_watermark(50s),
      st::assert_state_rows(5), st::stop_stream(), st::start_stream(),
      // late on both sides: 30 and 45 <= 50; 56 and 55 join what is left, and each other
      st::multi_add_data(st::add_data(a, {l(1, 30), l(1, 56)}), st::add_data(b, {r(1, 45), r(1, 55)})),
      st::check_new_answer(j<J>(1, 56, 1, 60), j<J>(1, 49, 1, 55), j<J>(1, 50, 1, 55), j<J>(1, 56, 1, 55)),
      st::assert_num_rows_dropped_by_watermark(2)));
}

TEST_CASE("stream join: a left row below the left state watermark on arrival stays until the batch's eviction "
          "(Spark 4.0: SPARK-49829)",
          "[stream_join]") {
  // leftTime BETWEEN rightTime + 5 s AND rightTime + 10 s, watermarks of 0 s: left rows leave
  // once leftTime <= W + 5 s - 1 us, so a left row within 5 s above the watermark is not late
  // but already below the left state watermark. Spark 3.5 did not keep it, and a left outer
  // join lost it; it is kept, leaves at the batch's eviction and comes out with nulls.
  auto a = sl::memory_stream<L>();
  auto b = sl::memory_stream<R>();
  auto q = (a | sl::with_watermark(sl::col<"leftTime">, 0s)) |
           sl::left_join(b | sl::with_watermark(sl::col<"rightTime">, 0s), sl::col<"leftKey">, sl::col<"rightKey">,
                         sl::time_range(sl::col<"leftTime">, sl::col<"rightTime">, 5s, 10s));
  using J = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      // Watermark min(20, 30) = 20: the no-data batch evicts the left 20 (<= 24.999999) with nulls.
      st::multi_add_data(st::add_data(a, {l(1, 20)}), st::add_data(b, {r(9, 30)})),
      st::check_new_answer(j<J>(1, 20, {}, {})),
      // W (20, 20): the left 22 is not late (> 20), below 24.999999, matches nothing, and comes
      // out with nulls in the same batch.
      st::multi_add_data(st::add_data(a, {l(2, 22)}), st::add_data(b, {r(9, 31)})),
      st::check_new_answer(j<J>(2, 22, {}, {}))));
}

TEST_CASE("stream join: left outer emits the unmatched left rows once the watermark evicts them (Spark: left outer "
          "join with time range)",
          "[stream_join]") {
  auto a = sl::memory_stream<L>();
  auto b = sl::memory_stream<R>();
  auto q = lw(a) | sl::left_join(rw(b), sl::col<"leftKey">, sl::col<"rightKey">, range());
  using J = decltype(q)::row_type;
  static_assert(std::is_same_v<sl::column_type_t<J, "rightKey">, std::optional<std::int64_t>>);
  static_assert(std::is_same_v<sl::column_type_t<J, "leftKey">, std::int64_t>);
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append, st::add_data(a, {l(1, 10), l(2, 20), l(3, 30)}), st::check_new_answer(),
      // rightTime 12 is in [10 - 5, 10 + 10]; 100 matches nothing. Watermark 20 (min(30, 100) - 10):
      // left rows leave at leftTime < 10 (none), right rows at rightTime < 15 (12)
      st::add_data(b, {r(1, 12), r(3, 100)}), st::check_new_answer(j<J>(1, 10, 1, 12)), st::assert_watermark(20s),
      st::assert_state_rows(4),
      // watermark 40: left rows with leftTime < 30 leave, 10 matched, 20 did not
      st::add_data(a, {l(4, 50)}), st::check_new_answer(j<J>(2, 20, {}, {})), st::assert_watermark(40s),
      st::assert_state_rows(3), st::stop_stream(), st::start_stream(),
      // after a restart each input's watermark starts again (Spark's WatermarkTracker): with
      // data on both, the watermark becomes 51 and leftTime 30 < 41 leaves, unmatched
      st::multi_add_data(st::add_data(a, {l(5, 61)}), st::add_data(b, {r(6, 61)})),
      st::check_new_answer(j<J>(3, 30, {}, {})), st::assert_watermark(51s), st::assert_state_rows(4)));
}

TEST_CASE("stream join: right outer emits the unmatched right rows once the watermark evicts them", "[stream_join]") {
  auto a = sl::memory_stream<L>();
  auto b = sl::memory_stream<R>();
  auto q = lw(a) | sl::right_join(rw(b), sl::col<"leftKey">, sl::col<"rightKey">, range());
  using J = decltype(q)::row_type;
  static_assert(std::is_same_v<sl::column_type_t<J, "leftTime">, std::optional<sl::timestamp>>);
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append, st::add_data(b, {r(1, 10), r(2, 20), r(3, 30)}), st::check_new_answer(),
      // leftTime 12 matches rightTime in [12 - 5, 12 + 10]: 10. Watermark 20: right rows leave at
      // rightTime < 15 (10, matched), left rows at leftTime < 10
      st::add_data(a, {l(1, 12), l(3, 100)}), st::check_new_answer(j<J>(1, 12, 1, 10)), st::assert_state_rows(4),
      // watermark 40: right rows with rightTime < 35 leave, 20 and 30 unmatched
      st::add_data(b, {r(4, 50)}), st::check_new_answer(j<J>({}, {}, 2, 20), j<J>({}, {}, 3, 30)),
      st::assert_state_rows(2)));
}

TEST_CASE("stream join: full outer emits the unmatched rows of both sides", "[stream_join]") {
  auto a = sl::memory_stream<L>();
  auto b = sl::memory_stream<R>();
  auto q = lw(a) | sl::full_join(rw(b), sl::col<"leftKey">, sl::col<"rightKey">, range());
  using J = decltype(q)::row_type;
  static_assert(std::is_same_v<sl::column_type_t<J, "leftKey">, std::optional<std::int64_t>>);
  static_assert(std::is_same_v<sl::column_type_t<J, "rightKey">, std::optional<std::int64_t>>);
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::multi_add_data(st::add_data(a, {l(1, 10), l(2, 20)}), st::add_data(b, {r(1, 12), r(3, 40)})),
      st::check_new_answer(j<J>(1, 10, 1, 12)), st::assert_watermark(10s), st::assert_state_rows(4),
      st::stop_stream(), st::start_stream(),
      // watermark 50: left rows with leftTime < 40 and right rows with rightTime < 45 leave
      st::multi_add_data(st::add_data(a, {l(5, 60)}), st::add_data(b, {r(6, 60)})),
      st::check_new_answer(j<J>(2, 20, {}, {}), j<J>({}, {}, 3, 40)), st::assert_state_rows(2)));
}

TEST_CASE("stream join: left semi emits a left row once, at its first match (Spark: left semi join)", "[stream_join]") {
  auto a = sl::memory_stream<L>();
  auto b = sl::memory_stream<R>();
  auto q = lw(a) | sl::left_semi_join(rw(b), sl::col<"leftKey">, sl::col<"rightKey">, range());
  static_assert(std::is_same_v<decltype(q)::row_type, L>);
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append, st::add_data(a, {l(1, 10), l(1, 11), l(2, 20)}), st::check_new_answer(),
      // 12 matches both left rows, 13 too but they were emitted already
      st::add_data(b, {r(1, 12), r(1, 13)}), st::check_new_answer(l(1, 10), l(1, 11)), st::assert_state_rows(5),
      // a left row that matches the right state comes out at once and is not kept
      st::add_data(a, {l(1, 14), l(2, 21)}), st::check_new_answer(l(1, 14)), st::assert_state_rows(6, 1),
      st::stop_stream(), st::start_stream(),  // the matched flags survive the restart
      st::add_data(b, {r(2, 25), r(1, 15)}), st::check_new_answer(l(2, 20), l(2, 21))));
}

namespace {
struct TL {
  sl::timestamp ts;
  std::string lv;
};
BOOST_DESCRIBE_STRUCT(TL, (), (ts, lv))
struct TR {
  sl::timestamp ts;
  std::string rv;
};
BOOST_DESCRIBE_STRUCT(TR, (), (ts, rv))
}  // namespace

TEST_CASE("stream join: a watermarked key evicts both sides by the key (Spark: watermark in the join keys)",
          "[stream_join]") {
  auto a = sl::memory_stream<TL>();
  auto b = sl::memory_stream<TR>();
  auto q = (a | sl::with_watermark(sl::col<"ts">, 5s)) |
           sl::left_join(b | sl::with_watermark(sl::col<"ts">, 5s), sl::col<"ts">);
  using J = decltype(q)::row_type;
  auto jr = [](std::int64_t s, std::string lv, std::optional<std::string> rv) {
    return J{{st::ts(std::chrono::seconds(s))}, {std::move(lv)}, {std::move(rv)}};
  };
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append, st::add_data(a, {{st::ts(10s), "a"}, {st::ts(20s), "b"}}),
      st::check_new_answer(), st::add_data(b, {{st::ts(10s), "x"}}), st::check_new_answer(jr(10, "a", "x")),
      st::assert_watermark(5s),
      st::add_data(b, {{st::ts(30s), "y"}}), st::check_new_answer(),  // watermark 15: 10 leaves both sides
      st::assert_state_rows(2),
      st::add_data(a, {{st::ts(40s), "c"}}),  // watermark 25: 20 leaves, unmatched
      st::check_new_answer(jr(20, "b", std::nullopt)), st::assert_state_rows(2)));
}

TEST_CASE("stream join: time_range checks its bounds, and either column order names the same range", "[stream_join]") {
  CHECK_THROWS_AS(sl::time_range(sl::col<"leftTime">, sl::col<"rightTime">, 5s, -5s), std::invalid_argument);
  auto a = sl::memory_stream<L>();
  auto b = sl::memory_stream<R>();
  // rightTime BETWEEN leftTime - 5 s AND leftTime + 10 s is leftTime BETWEEN rightTime - 10 s AND rightTime + 5 s
  auto q = lw(a) | sl::join(rw(b), sl::col<"leftKey">, sl::col<"rightKey">,
                            sl::time_range(sl::col<"rightTime">, sl::col<"leftTime">, -5s, 10s));
  using J = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::append, st::add_data(a, {l(1, 20)}),
                                  st::add_data(b, {r(1, 14), r(1, 15), r(1, 30), r(1, 31)}),
                                  st::check_new_answer(j<J>(1, 20, 1, 15), j<J>(1, 20, 1, 30))));
}

TEST_CASE("stream join: equal windows evict by the window's end (Spark: left outer join on windows)", "[stream_join]") {
  CHECK_THROWS_AS(sl::same_window(sl::col<"leftTime">, sl::col<"rightTime">, 0s), std::invalid_argument);
  auto a = sl::memory_stream<L>();
  auto b = sl::memory_stream<R>();
  auto q = lw(a) | sl::left_join(rw(b), sl::col<"leftKey">, sl::col<"rightKey">,
                                 sl::same_window(sl::col<"leftTime">, sl::col<"rightTime">, 10s));
  using J = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append, st::add_data(a, {l(1, 5), l(2, 12)}), st::check_new_answer(),
      // 8 is in 5's window [0, 10); 25 is not in 12's [10, 20)
      st::add_data(b, {r(1, 8), r(2, 25)}), st::check_new_answer(j<J>(1, 5, 1, 8)), st::assert_watermark(2s),
      // watermark 15: the rows of window [0, 10) leave (matched); [10, 20) stays open
      st::add_data(a, {l(3, 31)}), st::check_new_answer(), st::assert_watermark(15s), st::assert_state_rows(3),
      st::stop_stream(), st::start_stream(),
      // watermark 22 (both inputs have data again): 12's window ends at 20 <= 22, unmatched
      st::multi_add_data(st::add_data(a, {l(5, 32)}), st::add_data(b, {r(4, 40)})),
      st::check_new_answer(j<J>(2, 12, {}, {})), st::assert_watermark(22s), st::assert_state_rows(4)));
}

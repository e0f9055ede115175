// Aggregation and output modes, after Spark's StreamingAggregationSuite and the programming
// guide ("Output Modes"): update emits the groups that received rows in the batch, complete
// the whole result every batch (also on a batch without rows), global aggregation has one
// group; count, sum, avg, min, max, first, last, count_distinct, approx_count_distinct;
// sort and limit on the result of an aggregation in complete mode.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
struct KeyCount {
  std::string key;
  std::int64_t count = 0;
};
BOOST_DESCRIBE_STRUCT(KeyCount, (), (key, count))

auto per_key(const sl::memory_stream<Event>& in) {
  return in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::count());
}
std::vector<Event> keys(std::initializer_list<const char*> ks) {
  std::vector<Event> out;
  for (const char* k : ks) out.push_back(ev(1s, k));
  return out;
}
}  // namespace

TEST_CASE("aggregation: update mode emits only the groups that received rows in the batch",
          "[semantics][aggregation]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(per_key(in), sl::output_mode::update,
                                  st::add_data(in, keys({"a", "a", "b"})),
                                  st::check_new_answer(KeyCount{"a", 2}, KeyCount{"b", 1}),
                                  st::add_data(in, keys({"a"})),
                                  st::check_new_answer(KeyCount{"a", 3}),
                                  st::add_data(in, keys({"c"})),
                                  st::check_new_answer(KeyCount{"c", 1}),
                                  st::add_data(in, {}),  // a batch without rows changes nothing
                                  st::check_new_answer(),
                                  st::check_answer(KeyCount{"a", 2}, KeyCount{"b", 1}, KeyCount{"a", 3},
                                                   KeyCount{"c", 1}),
                                  st::assert_state_rows(3)));
}

TEST_CASE("aggregation: update mode emits a group that received rows even when its value did not change",
          "[semantics][aggregation]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::max(sl::col<"value">));
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::update,
                                  st::add_data(in, {ev(1s, "a", 5), ev(1s, "b", 1)}),
                                  st::check_new_answer(R{{"a"}, {5}}, R{{"b"}, {1}}),
                                  st::add_data(in, {ev(1s, "a", 3)}),
                                  st::check_new_answer(R{{"a"}, {5}})));
}

TEST_CASE("aggregation: complete mode emits every group every batch, also for a batch without rows",
          "[semantics][aggregation]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(per_key(in), sl::output_mode::complete,
                                  st::add_data(in, keys({"a", "a", "b"})),
                                  st::check_last_batch(KeyCount{"a", 2}, KeyCount{"b", 1}),
                                  st::add_data(in, keys({"c"})),
                                  st::check_last_batch(KeyCount{"a", 2}, KeyCount{"b", 1}, KeyCount{"c", 1}),
                                  st::add_data(in, {}),
                                  st::check_new_answer(KeyCount{"a", 2}, KeyCount{"b", 1}, KeyCount{"c", 1}),
                                  st::check_answer(KeyCount{"a", 2}, KeyCount{"b", 1}, KeyCount{"c", 1}),
                                  st::assert_on_query([](sl::streaming_query& q) {
                                    const auto p = q.recent_progress();
                                    return p.size() == 3 && p[2].num_input_rows == 0 && p[2].sink.num_output_rows == 3;
                                  }, "the empty batch 2 wrote the 3 groups")));
}

TEST_CASE("aggregation: a global aggregation has one group (SPARK-22230: last changes with new batches)",
          "[semantics][aggregation]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::aggregate(sl::last(sl::col<"value">));
  using R = decltype(q)::row_type;
  STATIC_REQUIRE(sl::column_names<R>[0] == "last(value)");
  auto v = [](int x) { return ev(1s, "a", x); };
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                  st::add_data(in, {v(1), v(2), v(3)}),
                                  st::check_last_batch(R{{3}}),
                                  st::add_data(in, {v(4), v(5), v(6)}),
                                  st::check_last_batch(R{{6}}),
                                  st::add_data(in, {}),
                                  st::check_last_batch(R{{6}}),
                                  st::add_data(in, {v(0)}),
                                  st::check_last_batch(R{{0}})));
}

TEST_CASE("aggregation: global aggregation in update mode emits the one row when it changes",
          "[semantics][aggregation]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::aggregate(sl::count(), sl::sum(sl::col<"value">));
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::update,
                                  st::add_data(in, {ev(1s, "a", 2), ev(1s, "b", 3)}),
                                  st::check_new_answer(R{{2}, {5}}),
                                  st::add_data(in, {ev(1s, "a", 10)}),
                                  st::check_new_answer(R{{3}, {15}})));
}

TEST_CASE("aggregation: count, sum, avg, min, max, first, last and count_distinct", "[semantics][aggregation]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::group_by(sl::col<"key">) |
           sl::aggregate(sl::count(), sl::sum(sl::col<"value">), sl::avg(sl::col<"value">), sl::min(sl::col<"value">),
                         sl::max(sl::col<"value">), sl::first(sl::col<"value">), sl::last(sl::col<"value">),
                         sl::count_distinct(sl::col<"value">));
  using R = decltype(q)::row_type;
  // Spark's default names.
  CHECK(sl::column_names<R>[1] == "count");
  CHECK(sl::column_names<R>[2] == "sum(value)");
  CHECK(sl::column_names<R>[3] == "avg(value)");
  CHECK(sl::column_names<R>[4] == "min(value)");
  CHECK(sl::column_names<R>[5] == "max(value)");
  CHECK(sl::column_names<R>[6] == "first(value)");
  CHECK(sl::column_names<R>[7] == "last(value)");
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "avg(value)">, double>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "sum(value)">, std::int64_t>);
  auto v = [](const char* k, int x) { return ev(1s, k, x); };
  REQUIRE_NOTHROW(st::test_stream(
      q, sl::output_mode::update,
      st::add_data(in, {v("a", 3), v("a", 1), v("b", 5), v("a", 3), v("a", 2)}),
      st::check_new_answer(st::make_row<R>("a", 4, 9, 2.25, 1, 3, 3, 2, 3), st::make_row<R>("b", 1, 5, 5.0, 5, 5, 5, 5, 1)),
      st::add_data(in, {v("a", 0), v("a", -7)}),  // state carries over batches
      st::check_new_answer(st::make_row<R>("a", 6, 2, 2.0 / 6.0, -7, 3, 3, -7, 5))));
}

TEST_CASE("aggregation: sum and avg of doubles, min, max, first, last of strings", "[semantics][aggregation]") {
  struct Reading {
    std::string sensor;
    double value = 0;
  };
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::map([](const Event& e) { return e; }) | sl::group_by(sl::window(sl::col<"timestamp">, 10s)) |
           sl::aggregate(sl::sum([](const Event& e) { return static_cast<double>(e.value) / 4.0; }).as<"quarters">(),
                         sl::avg([](const Event& e) { return static_cast<double>(e.value) / 4.0; }).as<"avg_quarter">(),
                         sl::min(sl::col<"key">), sl::max(sl::col<"key">), sl::first(sl::col<"key">),
                         sl::last(sl::col<"key">));
  using R = decltype(q)::row_type;
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "quarters">, double>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "min(key)">, std::string>);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                  st::add_data(in, {ev(1s, "m", 1), ev(2s, "b", 2), ev(3s, "z", 3), ev(4s, "c", 1)}),
                                  st::check_answer(st::make_row<R>(st::win(0s, 10s), 1.75, 0.4375, "b", "z", "m", "c"))));
}

TEST_CASE("aggregation: approx_count_distinct estimates within its relative standard deviation",
          "[semantics][aggregation]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::aggregate(sl::approx_count_distinct(sl::col<"value">),
                              sl::approx_count_distinct(sl::col<"value">, 0.01).as<"precise">(),
                              sl::approx_count_distinct(sl::col<"key">).as<"keys">(), sl::count());
  using R = decltype(q)::row_type;
  STATIC_REQUIRE(sl::column_names<R>[0] == "approx_count_distinct(value)");
  constexpr std::int64_t n = 20000;
  std::vector<Event> rows;
  for (std::int64_t i = 0; i < n; ++i) {
    std::string key = std::to_string(i % 50);  // (not "k" + ...: GCC 12 -O3 warns, -Wrestrict, wrongly)
    rows.push_back(ev(1s, key.insert(0, 1, 'k'), i * 7919));
  }
  std::int64_t first_estimate = -1;
  auto within = [](std::int64_t estimate, std::int64_t truth, double rsd) {
    return std::abs(static_cast<double>(estimate - truth)) <= 3 * rsd * static_cast<double>(truth);
  };
  REQUIRE_NOTHROW(st::test_stream(
      q, sl::output_mode::complete, st::add_data(in, rows),
      st::check_last_batch_by([&](const std::vector<R>& out) {
        REQUIRE(out.size() == 1);
        const auto& r = out[0];
        INFO("estimates: " << sl::to_json_string(r));
        CHECK(sl::get<"count">(r) == n);
        CHECK(within(sl::get<"approx_count_distinct(value)">(r), n, 0.05));
        CHECK(within(sl::get<"precise">(r), n, 0.01));
        CHECK(within(sl::get<"keys">(r), 50, 0.05));  // small cardinalities: linear counting
        first_estimate = sl::get<"approx_count_distinct(value)">(r);
      }),
      st::add_data(in, rows),  // the same values again: the estimate does not move
      st::check_last_batch_by([&](const std::vector<R>& out) {
        return out.size() == 1 && sl::get<"approx_count_distinct(value)">(out[0]) == first_estimate &&
               sl::get<"count">(out[0]) == 2 * n;
      }, "duplicates do not change the estimate")));
}

TEST_CASE("aggregation: several keys and renamed aggregates", "[semantics][aggregation]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::group_by(sl::col<"key">, sl::expr<"parity">([](const Event& e) { return e.value % 2; })) |
           sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"value">).as<"total">());
  using R = decltype(q)::row_type;
  CHECK(sl::column_names<R>[1] == "parity");
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                  st::add_data(in, {ev(1s, "a", 1), ev(1s, "a", 2), ev(1s, "a", 3), ev(1s, "b", 4)}),
                                  st::check_answer(st::make_row<R>("a", 1, 2, 4), st::make_row<R>("a", 0, 1, 2),
                                                   st::make_row<R>("b", 0, 1, 4))));
}

TEST_CASE("aggregation: sort_by and limit order and cut the whole result in complete mode",
          "[semantics][aggregation]") {
  auto in = sl::memory_stream<Event>();
  auto q = per_key(in) | sl::sort_by(sl::col<"count">, sl::sort_order::descending) | sl::limit(2);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                  st::add_data(in, keys({"a", "b", "a", "c", "a", "c"})),
                                  st::check_last_batch_in_order(KeyCount{"a", 3}, KeyCount{"c", 2}),
                                  st::add_data(in, keys({"b", "b", "b"})),
                                  st::check_last_batch_in_order(KeyCount{"b", 4}, KeyCount{"a", 3})));
}

TEST_CASE("aggregation: sort_by a comparator, ascending by default", "[semantics][aggregation]") {
  auto in = sl::memory_stream<Event>();
  auto by_key = per_key(in) | sl::sort_by(sl::col<"key">);
  REQUIRE_NOTHROW(st::test_stream(by_key, sl::output_mode::complete,
                                  st::add_data(in, keys({"c", "a", "b", "a"})),
                                  st::check_last_batch_in_order(KeyCount{"a", 2}, KeyCount{"b", 1}, KeyCount{"c", 1})));
  auto in2 = sl::memory_stream<Event>();
  auto by_less = per_key(in2) | sl::sort_by([](const auto& x, const auto& y) { return sl::get<"key">(x) > sl::get<"key">(y); });
  REQUIRE_NOTHROW(st::test_stream(by_less, sl::output_mode::complete,
                                  st::add_data(in2, keys({"c", "a", "b", "a"})),
                                  st::check_last_batch_in_order(KeyCount{"c", 1}, KeyCount{"b", 1}, KeyCount{"a", 2})));
}

TEST_CASE("aggregation: append mode emits each (window, key) group exactly once", "[semantics][aggregation]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 2s) |
           sl::group_by(sl::window(sl::col<"timestamp">, 5s), sl::col<"key">) |
           sl::aggregate(sl::count(), sl::count_distinct(sl::col<"value">));
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(
      q, sl::output_mode::append,
      st::add_data(in, {ev(1s, "a", 1), ev(2s, "a", 1), ev(3s, "a", 2), ev(4s, "b", 9)}),
      st::check_new_answer(),
      st::add_data(in, {ev(9s, "a", 5)}),  // watermark -> 7s: [0,5) closes for a and b
      st::check_new_answer(st::make_row<R>(st::win(0s, 5s), "a", 3, 2), st::make_row<R>(st::win(0s, 5s), "b", 1, 1)),
      st::add_data(in, {ev(20s, "a", 5)}),
      st::check_new_answer(st::make_row<R>(st::win(5s, 10s), "a", 1, 1)),
      st::check_answer(st::make_row<R>(st::win(0s, 5s), "a", 3, 2), st::make_row<R>(st::win(0s, 5s), "b", 1, 1),
                       st::make_row<R>(st::win(5s, 10s), "a", 1, 1))));
}

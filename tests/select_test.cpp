// sl::select and sl::as<T> (ops/select.hpp): a projection into a generated row whose columns
// are the ones named, in the order given (kept columns and computed ones); as<T> converts by
// field name (T may have fewer fields, numbers convert); after an aggregation it flattens the
// generated row; the watermark column survives a select that keeps it; empty batches and
// restarts.
#include <catch2/catch.hpp>

#include <string>
#include <type_traits>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
struct KeyOnly {
  std::string key;
};
BOOST_DESCRIBE_STRUCT(KeyOnly, (), (key))

struct Widened {  // value as a double
  std::string key;
  double value = 0;
};
BOOST_DESCRIBE_STRUCT(Widened, (), (key, value))
}  // namespace

TEST_CASE("select: the output row has the named columns in the order given, with their types", "[select]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::select(sl::col<"value">, sl::expr<"label">([](const Event& e) { return e.key + "#"; }),
                           sl::col<"key">);
  using R = decltype(q)::row_type;
  STATIC_REQUIRE(sl::column_count_v<R> == 3);
  STATIC_REQUIRE(sl::column_names<R>[0] == "value");
  STATIC_REQUIRE(sl::column_names<R>[1] == "label");
  STATIC_REQUIRE(sl::column_names<R>[2] == "key");
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "value">, std::int64_t>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "label">, std::string>);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "b", 2), ev(1s, "a", 1)}),
                                  st::check_last_batch_in_order(R{{2}, {"b#"}, {"b"}}, R{{1}, {"a#"}, {"a"}})));
}

TEST_CASE("select: one column, and a column kept twice under two names", "[select]") {
  auto in = sl::memory_stream<Event>();
  auto one = in | sl::select(sl::col<"key">);
  using One = decltype(one)::row_type;
  STATIC_REQUIRE(sl::column_count_v<One> == 1);
  REQUIRE_NOTHROW(st::test_stream(one, sl::output_mode::append, st::add_data(in, {ev(1s, "a")}),
                                  st::check_answer(One{{"a"}})));
  auto in2 = sl::memory_stream<Event>();
  auto two = in2 | sl::select(sl::col<"key">, sl::expr<"key_again">([](const Event& e) { return e.key; }));
  using Two = decltype(two)::row_type;
  REQUIRE_NOTHROW(st::test_stream(two, sl::output_mode::append, st::add_data(in2, {ev(1s, "z")}),
                                  st::check_answer(Two{{"z"}, {"z"}})));
}

TEST_CASE("select: as<T> converts by field name, T may have fewer fields and wider numbers", "[select]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::as<Widened>();
  STATIC_REQUIRE(std::is_same_v<decltype(q)::row_type, Widened>);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append, st::add_data(in, {ev(1s, "a", 3), ev(1s, "b", -4)}),
                                  st::check_last_batch_in_order(Widened{"a", 3.0}, Widened{"b", -4.0})));
  auto in2 = sl::memory_stream<Event>();
  auto keys = in2 | sl::select(sl::col<"key">, sl::col<"value">) | sl::as<KeyOnly>();
  REQUIRE_NOTHROW(st::test_stream(keys, sl::output_mode::append, st::add_data(in2, {ev(1s, "k", 9)}),
                                  st::check_answer(KeyOnly{"k"})));
}

TEST_CASE("select: after an aggregation it flattens the window into plain columns", "[select]") {
  auto in = sl::memory_stream<Event>();
  auto counted = in | sl::group_by(sl::window(sl::col<"timestamp">, 10s), sl::col<"key">) | sl::aggregate(sl::count());
  using C = decltype(counted)::row_type;
  auto q = std::move(counted) |
           sl::select(sl::expr<"start">([](const C& r) { return sl::get<"window">(r).start; }), sl::col<"key">,
                      sl::col<"count">);
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                  st::add_data(in, {ev(1s, "a"), ev(2s, "a"), ev(12s, "b")}),
                                  st::check_answer(R{{st::ts(0s)}, {"a"}, {2}}, R{{st::ts(10s)}, {"b"}, {1}})));
}

TEST_CASE("select: a select that keeps the watermarked column keeps the watermark for an append aggregation",
          "[select]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 5s) | sl::select(sl::col<"timestamp">, sl::col<"key">) |
           sl::group_by(sl::window(sl::col<"timestamp">, 10s)) | sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s), ev(2s)}),
                                  st::check_new_answer(),
                                  st::add_data(in, {ev(16s)}),
                                  st::check_new_answer(wc(0, 10, 2)),
                                  st::assert_watermark(11s),
                                  st::add_data(in, {ev(3s)}),
                                  st::check_new_answer(),
                                  st::assert_dropped(1)));
}

TEST_CASE("select: a batch without rows, then a restart, neither repeat nor lose rows", "[select]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::select(sl::col<"key">);
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a")}),
                                  st::check_new_answer(R{{"a"}}),
                                  st::add_data(in, std::vector<Event>{}),
                                  st::check_last_batch(),
                                  st::stop_stream(),
                                  st::add_data(in, {ev(1s, "b")}),
                                  st::start_stream(),
                                  st::check_new_answer(R{{"b"}}),
                                  st::check_answer(R{{"a"}}, R{{"b"}})));
}

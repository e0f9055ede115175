// Stateless queries: map, filter, flat_map (both forms), select, as<T> and union_all, in
// append mode (and update mode, which Spark allows and treats as append without an
// aggregation). Rows keep their arrival order within a batch; nothing is stateful.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
struct Doubled {
  std::string key;
  std::int64_t doubled = 0;
};
BOOST_DESCRIBE_STRUCT(Doubled, (), (key, doubled))
}  // namespace

TEST_CASE("stateless: filter then map", "[semantics][stateless]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::filter([](const Event& e) { return e.value % 2 == 1; }) |
           sl::map([](const Event& e) { return Doubled{e.key, e.value * 2}; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a", 1), ev(1s, "b", 2), ev(1s, "c", 3)}),
                                  st::check_new_answer_in_order(Doubled{"a", 2}, Doubled{"c", 6}),
                                  st::add_data(in, {ev(1s, "d", 4)}),
                                  st::check_new_answer(),
                                  st::add_data(in, {ev(1s, "e", 5)}),
                                  st::check_answer(Doubled{"a", 2}, Doubled{"c", 6}, Doubled{"e", 10}),
                                  st::assert_on_query([](sl::streaming_query& sq) {
                                    const auto p = sq.recent_progress();
                                    REQUIRE(p.size() == 3);
                                    CHECK(p[0].num_input_rows == 3);
                                    CHECK(p[0].sink.num_output_rows == 2);
                                    CHECK(p[1].sink.num_output_rows == 0);
                                    CHECK(p[0].state_operators.empty());
                                    CHECK(p[0].to_json().at("eventTime").as_object().empty());  // no watermark
                                  })));
}

TEST_CASE("stateless: flat_map returning a range, an optional, or calling emit", "[semantics][stateless]") {
  SECTION("a range: zero or more rows per row") {
    auto in = sl::memory_stream<Event>();
    auto q = in | sl::flat_map([](const Event& e) { return std::vector<std::int64_t>(static_cast<std::size_t>(e.value), e.value); });
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                    st::add_data(in, {ev(1s, "a", 2), ev(1s, "a", 0), ev(1s, "a", 3)}),
                                    st::check_answer_in_order(2, 2, 3, 3, 3)));
  }
  SECTION("an optional: at most one row per row") {
    auto in = sl::memory_stream<Event>();
    auto q = in | sl::flat_map([](const Event& e) -> std::optional<std::string> {
               if (e.value > 1) return e.key;
               return std::nullopt;
             });
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                    st::add_data(in, {ev(1s, "a", 2), ev(1s, "b", 0), ev(1s, "c", 3)}),
                                    st::check_answer_in_order("a", "c")));
  }
  SECTION("emit: sl::flat_map<Out>(f(row, emit))") {
    auto in = sl::memory_stream<Event>();
    auto q = in | sl::flat_map<Doubled>([](const Event& e, auto&& emit) {
               for (std::int64_t i = 0; i < e.value; ++i) emit(Doubled{e.key, i});
             });
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                    st::add_data(in, {ev(1s, "a", 2), ev(1s, "b", 1)}),
                                    st::check_answer_in_order(Doubled{"a", 0}, Doubled{"a", 1}, Doubled{"b", 0})));
  }
}

TEST_CASE("stateless: select projects named columns into a generated row, as<T> converts by name",
          "[semantics][stateless]") {
  auto in = sl::memory_stream<Event>();
  auto projected = in | sl::select(sl::col<"key">, sl::expr<"doubled">([](const Event& e) { return e.value * 2; }));
  using R = decltype(projected)::row_type;
  STATIC_REQUIRE(sl::column_count_v<R> == 2);
  STATIC_REQUIRE(sl::column_names<R>[1] == "doubled");
  auto q = projected | sl::as<Doubled>();
  STATIC_REQUIRE(std::is_same_v<decltype(q)::row_type, Doubled>);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append, st::add_data(in, {ev(1s, "x", 4), ev(1s, "y", -1)}),
                                  st::check_answer(Doubled{"x", 8}, Doubled{"y", -2})));
  auto in2 = sl::memory_stream<Event>();
  auto q2 = in2 | sl::select(sl::col<"key">, sl::expr<"doubled">([](const Event& e) { return e.value * 2; }));
  REQUIRE_NOTHROW(st::test_stream(q2, sl::output_mode::append, st::add_data(in2, {ev(1s, "x", 4)}),
                                  st::check_answer(R{{"x"}, {8}})));
}

TEST_CASE("stateless: update mode on a query without aggregation behaves as append", "[semantics][stateless]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::map([](const Event& e) { return e.value; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::update,
                                  st::add_data(in, {ev(1s, "a", 1)}), st::check_new_answer(1),
                                  st::add_data(in, {ev(1s, "a", 1)}), st::check_new_answer(1),
                                  st::check_answer(1, 1)));
}

TEST_CASE("stateless: union_all and union_with merge streams of one row type", "[semantics][stateless]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  auto c = sl::memory_stream<Event>();
  auto q = sl::union_all(a, b | sl::filter([](const Event& e) { return e.value > 0; })) | sl::union_with(c) |
           sl::map([](const Event& e) { return e.key; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(a, {ev(1s, "a1")}),
                                  st::check_new_answer("a1"),
                                  st::add_data(b, {ev(1s, "b1"), ev(1s, "b-", -1)}),
                                  st::check_new_answer("b1"),
                                  st::add_data(c, {ev(1s, "c1")}),
                                  st::add_data(a, {ev(1s, "a2")}),
                                  st::check_new_answer("c1", "a2"),
                                  st::assert_on_query([](sl::streaming_query& sq) {
                                    const auto p = sq.last_progress();
                                    // one entry per source, in the order of the union
                                    return p && p->sources.size() == 3 &&
                                           p->num_input_rows == p->sources[0].num_input_rows +
                                                                    p->sources[1].num_input_rows +
                                                                    p->sources[2].num_input_rows;
                                  }, "one progress entry per source"),
                                  st::check_answer("a1", "b1", "c1", "a2")));
}

TEST_CASE("stateless: an aggregation over a union counts rows of every input", "[semantics][stateless]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  auto q = sl::union_all(a, b) | sl::group_by(sl::col<"key">) | sl::aggregate(sl::count());
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                  st::add_data(a, {ev(1s, "x"), ev(1s, "y")}),
                                  st::add_data(b, {ev(1s, "x")}),
                                  st::check_answer(R{{"x"}, {2}}, R{{"y"}, {1}})));
}

TEST_CASE("stateless: a long chain of stages", "[semantics][stateless]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::map([](const Event& e) { return e.value; }) | sl::map([](std::int64_t v) { return v + 1; }) |
           sl::filter([](std::int64_t v) { return v % 2 == 0; }) | sl::map([](std::int64_t v) { return v * 10; }) |
           sl::flat_map([](std::int64_t v) { return std::vector<std::int64_t>{v, -v}; }) |
           sl::filter([](std::int64_t v) { return v != -20; }) | sl::map([](std::int64_t v) { return v / 2; }) |
           sl::map([](std::int64_t v) { return std::to_string(v); }) |
           sl::map([](const std::string& s) { return s + "!"; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a", 1), ev(1s, "a", 2), ev(1s, "a", 3)}),
                                  st::check_answer_in_order("10!", "20!", "-20!")));
}

TEST_CASE("stateless: a stage, aggregate or sink descriptor held in a variable can be reused", "[semantics][stateless]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  const auto wm = sl::with_watermark(sl::col<"timestamp">, 10s);  // one descriptor, two inputs
  const auto positive = sl::filter([](const Event& e) { return e.value > 0; });
  const auto counted = sl::aggregate(sl::count());
  auto q = sl::union_all(a | wm | positive, b | wm | positive) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
           counted;
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(a, {ev(10s), ev(11s, "a", -1)}),
                                  st::add_data(b, {ev(30s)}),
                                  st::add_data(a, {ev(30s)}),
                                  st::check_answer(wc(10, 15, 1))));
  std::vector<Event> got;
  auto sink = sl::foreach_batch([&got](std::span<const Event> rows, std::int64_t) { got.insert(got.end(), rows.begin(), rows.end()); });
  auto c = sl::memory_stream<Event>();
  auto run = sl::start(c | positive | sink, sl::output_mode::append);
  c.add_data({ev(1s, "x", 1), ev(1s, "y", 0)});
  run.process_all_available();
  run.stop();
  REQUIRE(got.size() == 1);
  CHECK(got[0].key == "x");
}

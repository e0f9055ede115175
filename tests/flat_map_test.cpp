// sl::flat_map (ops/flat_map.hpp): zero or more rows out per row in, from a returned range
// (vector, array, optional, a std view) or through emit; rows of one input row stay together
// and in order; a batch may produce nothing; with_watermark after a flat_map watches the rows
// it makes; a restart neither repeats nor loses rows.
#include <catch2/catch.hpp>

#include <array>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
struct Part {
  std::string key;
  std::int64_t index = 0;
};
BOOST_DESCRIBE_STRUCT(Part, (), (key, index))
}  // namespace

TEST_CASE("flat_map: a std view or an array as the result, rows of one input row together and in order",
          "[flat_map]") {
  SECTION("a view") {
    auto in = sl::memory_stream<Event>();
    auto q = in | sl::flat_map([](const Event& e) {
               return std::views::iota(std::int64_t{0}, e.value) |
                      std::views::transform([key = e.key](std::int64_t i) { return Part{key, i}; });
             });
    STATIC_REQUIRE(std::is_same_v<decltype(q)::row_type, Part>);
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                    st::add_data(in, {ev(1s, "a", 2), ev(1s, "b", 0), ev(1s, "c", 3)}),
                                    st::check_last_batch_in_order(Part{"a", 0}, Part{"a", 1}, Part{"c", 0},
                                                                  Part{"c", 1}, Part{"c", 2})));
  }
  SECTION("an array: always the same number of rows") {
    auto in = sl::memory_stream<Event>();
    auto q = in | sl::flat_map([](const Event& e) { return std::array<std::int64_t, 2>{e.value, -e.value}; });
    STATIC_REQUIRE(std::is_same_v<decltype(q)::row_type, std::int64_t>);
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append, st::add_data(in, {ev(1s, "a", 1), ev(1s, "b", 5)}),
                                    st::check_last_batch_in_order(1, -1, 5, -5)));
  }
}

TEST_CASE("flat_map: rows that produce nothing, and a batch without rows, emit nothing", "[flat_map]") {
  SECTION("empty ranges") {
    auto in = sl::memory_stream<Event>();
    auto q = in | sl::flat_map([](const Event& e) { return std::vector<std::string>(e.value > 0 ? 1 : 0, e.key); });
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                    st::add_data(in, {ev(1s, "a", 1)}),
                                    st::check_last_batch("a"),
                                    st::add_data(in, {ev(1s, "b", 0), ev(1s, "c", 0)}),
                                    st::check_last_batch(),
                                    st::add_data(in, std::vector<Event>{}),
                                    st::check_last_batch(),
                                    assert_batch_rows({{1, 1}, {2, 0}, {0, 0}})));
  }
  SECTION("empty optionals") {
    auto in = sl::memory_stream<Event>();
    auto q = in | sl::flat_map([](const Event& e) { return e.value > 0 ? std::optional(e.value) : std::nullopt; });
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append, st::add_data(in, {ev(1s, "a", 0), ev(1s, "b", -2)}),
                                    st::check_last_batch(), st::add_data(in, {ev(1s, "c", 4)}),
                                    st::check_last_batch(4)));
  }
  SECTION("emit never called") {
    auto in = sl::memory_stream<Event>();
    auto q = in | sl::flat_map<Part>([](const Event& e, auto&& emit) {
               for (std::int64_t i = 0; i < e.value; ++i) emit(Part{e.key, i});
             });
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append, st::add_data(in, {ev(1s, "a", 0)}),
                                    st::check_last_batch(), st::add_data(in, {ev(1s, "b", 1), ev(1s, "c", 0)}),
                                    st::check_last_batch(Part{"b", 0})));
  }
}

TEST_CASE("flat_map: before with_watermark the watermark follows the rows it makes", "[flat_map]") {
  auto in = sl::memory_stream<Event>();
  // each event also counts 20 s later (a follow-up): the watermark sees the later copy
  auto q = in | sl::flat_map([](const Event& e) {
             Event later = e;
             later.timestamp = e.timestamp + std::chrono::seconds(20);
             return std::vector<Event>{e, later};
           }) |
           sl::with_watermark(sl::col<"timestamp">, 5s) | sl::group_by(sl::window(sl::col<"timestamp">, 10s)) |
           sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s), ev(2s)}),  // rows at 1, 2, 21, 22 s
                                  st::check_new_answer(wc(0, 10, 2)),  // watermark 17 s closes [0, 10)
                                  st::assert_watermark(17s),
                                  st::add_data(in, {ev(25s)}),  // 25, 45 s: watermark 40 s
                                  st::check_new_answer(wc(20, 30, 3)),
                                  st::assert_watermark(40s)));
}

TEST_CASE("flat_map: after with_watermark, rows far behind it pass (a stateless stage drops nothing)", "[flat_map]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 5s) |
           sl::flat_map([](const Event& e) { return std::vector<std::string>{e.key, e.key}; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(100s, "a")}),
                                  st::check_new_answer("a", "a"),
                                  st::assert_watermark(95s),
                                  st::add_data(in, {ev(1s, "late")}),
                                  st::check_new_answer("late", "late"),
                                  st::assert_dropped(0)));
}

TEST_CASE("flat_map: a restart from the checkpoint neither repeats nor loses rows", "[flat_map]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::flat_map<std::string>([](const Event& e, auto&& emit) {
             emit(e.key);
             emit(e.key + "'");
           });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a")}),
                                  st::check_new_answer("a", "a'"),
                                  st::stop_stream(),
                                  st::add_data(in, {ev(1s, "b")}),
                                  st::start_stream(),
                                  st::check_new_answer("b", "b'"),
                                  st::check_answer("a", "a'", "b", "b'")));
}

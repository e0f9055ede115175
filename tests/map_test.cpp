// sl::map (ops/map.hpp): one row out per row in, the output type is what the function returns;
// rows keep their order; a batch without rows passes through empty; the watermark is taken
// where with_watermark stands, before or after a map; a restart neither repeats nor loses rows.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
struct Tagged {
  std::string tag;
  std::int64_t value = 0;
};
BOOST_DESCRIBE_STRUCT(Tagged, (), (tag, value))
}  // namespace

TEST_CASE("map: the output row type is what the function returns, one row per row in order", "[map]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::map([](const Event& e) { return Tagged{e.key + "!", e.value * 10}; });
  STATIC_REQUIRE(std::is_same_v<decltype(q)::row_type, Tagged>);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "c", 3), ev(2s, "a", 1), ev(3s, "b", 2)}),
                                  st::check_last_batch_in_order(Tagged{"c!", 30}, Tagged{"a!", 10}, Tagged{"b!", 20}),
                                  st::add_data(in, {ev(4s, "d", -1)}),
                                  st::check_new_answer(Tagged{"d!", -10})));
}

TEST_CASE("map: a function taking the row by value may move from it", "[map]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::map([](Event e) {
             e.key += std::string(40, 'x');  // longer than a short string: moved, not copied, along
             return std::move(e.key);
           });
  STATIC_REQUIRE(std::is_same_v<decltype(q)::row_type, std::string>);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append, st::add_data(in, {ev(1s, "k")}),
                                  st::check_answer("k" + std::string(40, 'x'))));
}

TEST_CASE("map: a function with state (a mutable lambda) keeps it from row to row", "[map]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::map([n = std::int64_t{0}](const Event& e) mutable { return Tagged{e.key, ++n}; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a"), ev(1s, "b")}),
                                  st::check_last_batch_in_order(Tagged{"a", 1}, Tagged{"b", 2}),
                                  st::add_data(in, {ev(1s, "c")}),
                                  st::check_last_batch(Tagged{"c", 3})));
}

TEST_CASE("map: a batch without rows calls nothing and emits nothing", "[map]") {
  auto in = sl::memory_stream<Event>();
  auto calls = std::make_shared<int>(0);
  auto q = in | sl::map([calls](const Event& e) {
             ++*calls;
             return e.value;
           });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a", 7)}),
                                  st::check_last_batch(7),
                                  st::add_data(in, std::vector<Event>{}),
                                  st::check_last_batch(),
                                  assert_batch_rows({{1, 1}, {0, 0}}),
                                  st::assert_on_query([calls](sl::streaming_query&) { return *calls == 1; },
                                                      "the function was called once")));
}

TEST_CASE("map: after with_watermark the watermark still follows the input rows", "[map]") {
  auto in = sl::memory_stream<Event>();
  // The map keeps no timestamp at all: the watermark is the with_watermark stage's.
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 5s) | sl::map([](const Event& e) { return e.value; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(10s, "a", 1), ev(20s, "a", 2)}),
                                  st::check_new_answer(1, 2),
                                  st::assert_watermark(15s),
                                  st::add_data(in, {ev(3s, "a", 3)}),  // behind the watermark: a map drops nothing
                                  st::check_new_answer(3),
                                  st::assert_watermark(15s)));
}

TEST_CASE("map: before with_watermark the watermark follows the rows the map makes", "[map]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::map([](Event e) {
             e.timestamp = e.timestamp + std::chrono::seconds(100);
             return e;
           }) |
           sl::with_watermark(sl::col<"timestamp">, 5s) | sl::group_by(sl::window(sl::col<"timestamp">, 10s)) |
           sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s), ev(2s)}),  // 101 s, 102 s
                                  st::check_new_answer(),
                                  st::assert_watermark(97s),
                                  st::add_data(in, {ev(20s)}),  // 120 s: the window [100, 110) closes
                                  st::check_new_answer(wc(100, 110, 2)),
                                  st::assert_watermark(115s)));
}

TEST_CASE("map: a restart from the checkpoint neither repeats nor loses rows", "[map]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::map([](const Event& e) { return e.key; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a"), ev(1s, "b")}),
                                  st::check_new_answer("a", "b"),
                                  st::stop_stream(),
                                  st::add_data(in, {ev(1s, "c")}),  // added while stopped
                                  st::start_stream(),
                                  st::check_new_answer("c"),
                                  st::add_data(in, {ev(1s, "d")}),
                                  st::check_answer("a", "b", "c", "d")));
}

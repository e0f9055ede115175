// sl::filter (ops/filter.hpp): keeps the rows its predicate accepts, in order, the row type
// unchanged; a batch may lose every row; the watermark is taken where with_watermark stands, so
// a row a later filter drops still moves it; the watermark column survives a filter, so an
// aggregation after it can be in append mode; a restart neither repeats nor loses rows.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

TEST_CASE("filter: keeps the accepted rows in order, the row type unchanged", "[filter]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::filter([](const Event& e) { return e.value > 1; });
  STATIC_REQUIRE(std::is_same_v<decltype(q)::row_type, Event>);
  REQUIRE_NOTHROW(st::test_stream(q | sl::map([](const Event& e) { return e.key; }), sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "c", 3), ev(1s, "x", 1), ev(1s, "a", 2), ev(1s, "y", 0)}),
                                  st::check_last_batch_in_order("c", "a")));
}

TEST_CASE("filter: a batch whose rows are all dropped, and a batch without rows, emit nothing", "[filter]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::filter([](const Event& e) { return e.value > 0; }) | sl::map([](const Event& e) { return e.key; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a", 1)}),
                                  st::check_last_batch("a"),
                                  st::add_data(in, {ev(1s, "b", 0), ev(1s, "c", -1)}),
                                  st::check_last_batch(),
                                  st::add_data(in, std::vector<Event>{}),
                                  st::check_last_batch(),
                                  assert_batch_rows({{1, 1}, {2, 0}, {0, 0}}),  // read, then dropped
                                  st::check_answer("a")));
}

TEST_CASE("filter: the predicate sees each row once, and may keep state", "[filter]") {
  auto in = sl::memory_stream<Event>();
  auto seen = std::make_shared<std::vector<std::string>>();
  // every second row
  auto q = in | sl::filter([seen, n = 0](const Event& e) mutable {
             seen->push_back(e.key);
             return n++ % 2 == 0;
           }) |
           sl::map([](const Event& e) { return e.key; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a"), ev(1s, "b"), ev(1s, "c")}),
                                  st::check_last_batch_in_order("a", "c"),
                                  st::add_data(in, {ev(1s, "d"), ev(1s, "e")}),
                                  st::check_last_batch_in_order("e"),
                                  st::assert_on_query([seen](sl::streaming_query&) {
                                    return *seen == std::vector<std::string>{"a", "b", "c", "d", "e"};
                                  }, "each row given to the predicate once, in order")));
}

TEST_CASE("filter: after with_watermark, a dropped row still moves the watermark", "[filter]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 5s) | sl::filter([](const Event& e) { return e.value > 0; }) |
           sl::group_by(sl::window(sl::col<"timestamp">, 10s)) | sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,  // append: the watermark column survives the filter
                                  st::add_data(in, {ev(1s, "a", 1), ev(2s, "a", -1), ev(3s, "a", 1)}),
                                  st::check_new_answer(),
                                  st::add_data(in, {ev(30s, "a", -1)}),  // dropped, yet the watermark is 25 s
                                  st::check_new_answer(wc(0, 10, 2)),
                                  st::assert_watermark(25s),
                                  st::add_data(in, {ev(4s, "a", 1)}),  // late for the aggregation
                                  st::check_new_answer(),
                                  st::assert_dropped(1)));
}

TEST_CASE("filter: before with_watermark, a dropped row does not move the watermark", "[filter]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::filter([](const Event& e) { return e.value > 0; }) | sl::with_watermark(sl::col<"timestamp">, 5s) |
           sl::group_by(sl::window(sl::col<"timestamp">, 10s)) | sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a", 1), ev(3s, "a", 1)}),
                                  st::check_new_answer(),
                                  st::add_data(in, {ev(30s, "a", -1)}),  // never reaches with_watermark
                                  st::check_new_answer(),
                                  st::assert_watermark(0s),
                                  st::add_data(in, {ev(16s, "a", 1)}),
                                  st::check_new_answer(wc(0, 10, 2)),
                                  st::assert_watermark(11s)));
}

TEST_CASE("filter: a restart from the checkpoint neither repeats nor loses rows", "[filter]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::filter([](const Event& e) { return e.key != "x"; }) | sl::map([](const Event& e) { return e.key; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a"), ev(1s, "x")}),
                                  st::check_new_answer("a"),
                                  st::stop_stream(),
                                  st::add_data(in, {ev(1s, "b"), ev(1s, "x")}),
                                  st::start_stream(),
                                  st::check_new_answer("b"),
                                  st::check_answer("a", "b")));
}

// Window semantics after Spark's window() (DataFrameTimeWindowingSuite, the programming guide):
// windows are [k * slide + start_offset, + duration); an event at a window's end belongs to
// the next one; in a sliding window an event is in duration / slide windows, each of which
// closes (append) or is dropped as late on its own.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
template <class Window>
auto counts(const sl::memory_stream<Event>& in, Window w) {
  return in | sl::group_by(std::move(w)) | sl::aggregate(sl::count());
}
}  // namespace

TEST_CASE("windows: tumbling windows are start-inclusive, end-exclusive: an event at the end goes to the next window",
          "[semantics][windows]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(counts(in, sl::window(sl::col<"timestamp">, 5s)), sl::output_mode::complete,
                                  st::add_data(in, {ev(0s), ev(4999999us), ev(5s), ev(9s), ev(10s)}),
                                  st::check_answer(wc(0, 5, 2), wc(5, 10, 2), wc(10, 15, 1))));
}

TEST_CASE("windows: events before the epoch fall in windows that start before it", "[semantics][windows]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(counts(in, sl::window(sl::col<"timestamp">, 5s)), sl::output_mode::complete,
                                  st::add_data(in, {ev(-1s), ev(-5s), ev(-6s), ev(-1us)}),
                                  st::check_answer(wc(-5, 0, 3), wc(-10, -5, 1))));
}

TEST_CASE("windows: a sliding window puts an event in every window that contains it", "[semantics][windows]") {
  auto in = sl::memory_stream<Event>();
  // 10s windows every 5s: 4s is in [-5,5) and [0,10); 10s and 12s in [5,15) and [10,20).
  REQUIRE_NOTHROW(st::test_stream(counts(in, sl::window(sl::col<"timestamp">, 10s, 5s)), sl::output_mode::complete,
                                  st::add_data(in, {ev(4s), ev(10s), ev(12s)}),
                                  st::check_answer(wc(-5, 5, 1), wc(0, 10, 1), wc(5, 15, 2), wc(10, 20, 2))));
}

TEST_CASE("windows: a sliding window with a slide that does not divide the duration", "[semantics][windows]") {
  auto in = sl::memory_stream<Event>();
  // 10s windows every 3s start at multiples of 3: 7s is in [-3,7)? no (end excluded), [0,10), [3,13), [6,16).
  REQUIRE_NOTHROW(st::test_stream(counts(in, sl::window(sl::col<"timestamp">, 10s, 3s)), sl::output_mode::complete,
                                  st::add_data(in, {ev(7s)}),
                                  st::check_answer(wc(0, 10, 1), wc(3, 13, 1), wc(6, 16, 1))));
}

TEST_CASE("windows: a start offset shifts every window", "[semantics][windows]") {
  SECTION("sliding: windows start at 5k + 2s") {
    auto in = sl::memory_stream<Event>();
    REQUIRE_NOTHROW(st::test_stream(counts(in, sl::window(sl::col<"timestamp">, 10s, 5s, 2s)),
                                    sl::output_mode::complete, st::add_data(in, {ev(11s), ev(12s)}),
                                    st::check_answer(wc(2, 12, 1), wc(7, 17, 2), wc(12, 22, 1))));
  }
  SECTION("tumbling: windows start at 5k + 2s") {
    auto in = sl::memory_stream<Event>();
    REQUIRE_NOTHROW(st::test_stream(counts(in, sl::window(sl::col<"timestamp">, 5s, 5s, 2s)),
                                    sl::output_mode::complete, st::add_data(in, {ev(1s), ev(2s), ev(6999999us), ev(7s)}),
                                    st::check_answer(wc(-3, 2, 1), wc(2, 7, 2), wc(7, 12, 1))));
  }
  SECTION("a negative offset") {
    auto in = sl::memory_stream<Event>();
    REQUIRE_NOTHROW(st::test_stream(counts(in, sl::window(sl::col<"timestamp">, 5s, 5s, -1s)),
                                    sl::output_mode::complete, st::add_data(in, {ev(3s), ev(4s)}),
                                    st::check_answer(wc(-1, 4, 1), wc(4, 9, 1))));
  }
}

TEST_CASE("windows: invalid window specifications are refused", "[semantics][windows]") {
  CHECK_THROWS_AS(sl::window(sl::col<"timestamp">, 0s), std::invalid_argument);
  CHECK_THROWS_AS(sl::window(sl::col<"timestamp">, 5s, 10s), std::invalid_argument);  // slide > duration
  CHECK_THROWS_AS(sl::window(sl::col<"timestamp">, 10s, 5s, 5s), std::invalid_argument);  // |offset| >= slide
  CHECK_THROWS_AS(sl::window(sl::col<"timestamp">, 10s, 0s), std::invalid_argument);
  CHECK_NOTHROW(sl::window(sl::col<"timestamp">, 10s, 5s, -4s));
}

TEST_CASE("windows: the sliding windows of one event close one by one, and a late event is dropped only from the closed ones",
          "[semantics][windows]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 5s) |
           sl::group_by(sl::window(sl::col<"timestamp">, 10s, 5s)) | sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(12s)}),  // [5,15), [10,20); watermark -> 7s
                                  st::check_new_answer(),
                                  st::add_data(in, {ev(21s)}),  // [15,25), [20,30); watermark -> 16s
                                  st::check_new_answer(wc(5, 15, 1)),
                                  st::add_data(in, {ev(14s)}),  // [5,15) closed: dropped; [10,20) open
                                  st::check_new_answer(),
                                  st::assert_dropped(1),
                                  st::add_data(in, {ev(30s)}),  // watermark -> 25s
                                  st::check_new_answer(wc(10, 20, 2), wc(15, 25, 1)),
                                  st::assert_state_rows(3)));  // [20,30), [25,35), [30,40)
}

TEST_CASE("windows: update mode with a sliding window emits every window an event changed",
          "[semantics][windows]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 5s) |
           sl::group_by(sl::window(sl::col<"timestamp">, 10s, 5s)) | sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::update,
                                  st::add_data(in, {ev(12s)}),
                                  st::check_new_answer(wc(5, 15, 1), wc(10, 20, 1)),
                                  st::add_data(in, {ev(13s), ev(16s)}),
                                  st::check_new_answer(wc(5, 15, 2), wc(10, 20, 3), wc(15, 25, 1))));
}

TEST_CASE("windows: windows grouped with another key close per (window, key)", "[semantics][windows]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 0s) |
           sl::group_by(sl::window(sl::col<"timestamp">, 5s), sl::col<"key">) | sl::aggregate(sl::count());
  using R = decltype(q)::row_type;
  auto r = [](std::int64_t start, const char* key, std::int64_t n) {
    return st::make_row<R>(st::win(std::chrono::seconds(start), std::chrono::seconds(start + 5)), key, n);
  };
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a"), ev(2s, "b"), ev(3s, "a"), ev(6s, "b")}),
                                  st::check_new_answer(r(0, "a", 2), r(0, "b", 1)),  // watermark 6s closes [0,5)
                                  st::add_data(in, {ev(10s, "c")}),
                                  st::check_new_answer(r(5, "b", 1)),
                                  st::assert_state_rows(1)));
}

TEST_CASE("windows: the window column is named \"window\" with start and end", "[semantics][windows]") {
  auto in = sl::memory_stream<Event>();
  auto q = counts(in, sl::window(sl::col<"timestamp">, 5s));
  using R = decltype(q)::row_type;
  STATIC_REQUIRE(sl::column_names<R>[0] == "window");
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "window">, sl::time_window>);
  CHECK(sl::to_json_string(wc(0, 5, 1)) ==
        R"({"window":{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:00:05.000Z"},"count":1})");
}

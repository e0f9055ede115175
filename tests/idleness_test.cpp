// with_watermark(...).with_idleness(t): an input without rows for t of batch time stops holding
// back the query's watermark (Flink's withIdleness; beyond Spark), until its next rows.
#include <catch2/catch.hpp>

#include "semantics_support.hpp"

using namespace sem;

namespace {
auto two_inputs(sl::memory_stream<Event>& a, sl::memory_stream<Event>& b, bool idleness) {
  auto wm = [idleness] {
    auto w = sl::with_watermark(sl::col<"timestamp">, 10s);
    if (idleness) w = std::move(w).with_idleness(30s);
    return w;
  };
  return sl::union_all(a | wm(), b | wm()) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
         sl::aggregate(sl::count());
}
}  // namespace

TEST_CASE("with_idleness: an idle input stops holding back the min watermark, and holds it again once it has rows",
          "[idleness]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  st::manual_clock clock(st::ts(1000s));
  REQUIRE_NOTHROW(st::test_stream(
      two_inputs(a, b, true), sl::output_mode::append,
      st::start_stream({.clock = clock}),
      st::multi_add_data(st::add_data(a, {ev(12s, "a")}), st::add_data(b, {ev(12s, "b")})),  // both at 2 s
      st::check_new_answer(), st::assert_watermark(2s),
      st::advance_clock(clock, 10s),
      st::add_data(a, {ev(40s, "a")}),  // a at 30 s, b (active 10 s ago) at 2 s
      st::check_new_answer(), st::assert_watermark(2s),
      st::advance_clock(clock, 25s),  // b has had no rows for 35 s: idle; no new data needed
      st::check_new_answer(wc(10, 15, 2)), st::assert_watermark(30s),
      st::add_data(b, {ev(27s, "b")}),  // b resumes: late for the aggregation ([25, 30) is closed)
      st::check_new_answer(), st::assert_dropped(1),
      st::assert_watermark(30s),  // b at 17 s holds it again; it never goes back
      st::add_data(a, {ev(60s, "a")}),
      st::check_new_answer(), st::assert_watermark(30s),
      st::advance_clock(clock, 31s),
      st::add_data(a, {ev(61s, "a")}),  // b idle again: a's 51 s
      st::check_new_answer(wc(40, 45, 1)), st::assert_watermark(51s)));
}

TEST_CASE("with_idleness: off by default, a silent input holds the watermark forever (as in Spark)", "[idleness]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  st::manual_clock clock(st::ts(1000s));
  REQUIRE_NOTHROW(st::test_stream(
      two_inputs(a, b, false), sl::output_mode::append,
      st::start_stream({.clock = clock}),
      st::multi_add_data(st::add_data(a, {ev(12s, "a")}), st::add_data(b, {ev(12s, "b")})),
      st::check_new_answer(),
      st::advance_clock(clock, 1h),
      st::add_data(a, {ev(40s, "a")}),
      st::advance_clock(clock, 1h),
      st::add_data(a, {ev(41s, "a")}),
      st::check_new_answer(), st::assert_watermark(2s)));
}

TEST_CASE("with_idleness: a restart starts the idle time anew", "[idleness]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  st::manual_clock clock(st::ts(1000s));
  REQUIRE_NOTHROW(st::test_stream(
      two_inputs(a, b, true), sl::output_mode::append,
      st::start_stream({.clock = clock}),
      st::multi_add_data(st::add_data(a, {ev(12s, "a")}), st::add_data(b, {ev(12s, "b")})),
      st::check_new_answer(), st::assert_watermark(2s),
      st::advance_clock(clock, 20s),
      st::stop_stream(), st::start_stream({.clock = clock}),
      st::add_data(a, {ev(40s, "a")}),  // b silent 20 s before, counted from the restart: active
      st::process_all_available(),
      st::advance_clock(clock, 20s),
      st::add_data(a, {ev(41s, "a")}),  // 20 s since the restart: still active
      st::check_new_answer(), st::assert_watermark(2s),
      st::advance_clock(clock, 15s),
      st::add_data(a, {ev(42s, "a")}),  // 35 s since the restart: idle
      st::check_new_answer(wc(10, 15, 2)), st::assert_watermark(32s)));
}

TEST_CASE("with_idleness: the timeout must be positive", "[idleness]") {
  CHECK_THROWS_WITH(sl::with_watermark(sl::col<"timestamp">, 10s).with_idleness(0s), Catch::Contains("positive"));
}

// sl::current_timestamp(): Spark's current_timestamp() in a streaming query is the batch's
// timestamp (CurrentBatchTimestamp, batchTimestampMs of the offset log): the same for every row
// of a batch, whole milliseconds, and the logged one when a batch runs again after a restart.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "semantics_support.hpp"

using namespace sem;

namespace {
using stamped = sl::row<sl::field<"key", std::string>, sl::field<"now", sl::timestamp>>;

// Rows of the last `within` before the batch's time, each with the batch's time.
auto recent_with_now(sl::memory_stream<Event>& in, sl::duration within) {
  return in | sl::filter([within](const Event& e) { return e.timestamp >= sl::current_timestamp() - within; }) |
         sl::map([](const Event& e) { return stamped{{e.key}, {sl::current_timestamp()}}; });
}

// The graph, then a stage that throws while `fail` is set.
template <class G>
auto failing_when(G graph, std::shared_ptr<std::atomic<bool>> fail) {
  return std::move(graph) | sl::map([fail](const stamped& r) {
           if (fail->load()) throw std::runtime_error("transient");
           return r;
         });
}
}  // namespace

TEST_CASE("current_timestamp: the batch's time in filter and map, on the manual clock", "[current_time]") {
  auto in = sl::memory_stream<Event>();
  st::manual_clock clock(st::ts(100s));
  REQUIRE_NOTHROW(st::test_stream(recent_with_now(in, 10s), sl::output_mode::append,
                                  st::start_stream({.clock = clock}),
                                  st::add_data(in, {ev(85s, "old"), ev(95s, "b"), ev(99s, "c")}),
                                  st::check_new_answer(stamped{{"b"}, {st::ts(100s)}}, stamped{{"c"}, {st::ts(100s)}}),
                                  st::advance_clock(clock, 20s),
                                  st::add_data(in, {ev(105s, "old"), ev(111s, "d")}),
                                  st::check_new_answer(stamped{{"d"}, {st::ts(120s)}})));
}

TEST_CASE("current_timestamp: whole milliseconds, as Spark's batchTimestampMs", "[current_time]") {
  auto in = sl::memory_stream<Event>();
  st::manual_clock clock(st::ts(100s) + 1999us);
  REQUIRE_NOTHROW(st::test_stream(recent_with_now(in, 1h), sl::output_mode::append,
                                  st::start_stream({.clock = clock}),
                                  st::add_data(in, {ev(95s, "a")}),
                                  st::check_new_answer(stamped{{"a"}, {st::ts(100s) + 1ms}}),
                                  st::assert_on_query([](sl::streaming_query& q) {
                                    return q.last_progress()->timestamp == st::ts(100s) + 1ms;
                                  }, "the progress shows the same batch time")));
}

TEST_CASE("current_timestamp: a batch run again after a failure and a restart keeps its logged time",
          "[current_time]") {
  auto in = sl::memory_stream<Event>();
  st::manual_clock clock(st::ts(100s));
  auto fail = std::make_shared<std::atomic<bool>>(false);
  auto q = failing_when(recent_with_now(in, 1h), fail);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::append,
                                  st::start_stream({.clock = clock}),
                                  st::add_data(in, {ev(95s, "a")}),
                                  st::check_new_answer(stamped{{"a"}, {st::ts(100s)}}),
                                  st::assert_on_query([fail](sl::streaming_query&) { return *fail = true; }),
                                  st::advance_clock(clock, 5s),
                                  st::add_data(in, {ev(101s, "b"), ev(102s, "c")}),  // batch 1 at 105 s: fails
                                  st::expect_failure<std::runtime_error>("transient"),
                                  st::assert_on_query([fail](sl::streaming_query&) { return !(*fail = false); }),
                                  st::advance_clock(clock, 1h),
                                  st::start_stream({.clock = clock}),  // a new query, from the checkpoint
                                  st::check_new_answer(stamped{{"b"}, {st::ts(105s)}}, stamped{{"c"}, {st::ts(105s)}}),
                                  st::add_data(in, {ev(3000s, "d")}),  // a new batch takes the new time
                                  st::check_new_answer(stamped{{"d"}, {st::ts(3705s)}})));
}

TEST_CASE("current_timestamp: a batch logged before a crash runs with its logged time in a new process's query",
          "[current_time]") {
  // The state a crash between offsets/1 and its commit leaves: the failed run of the test
  // above, then a second test_stream on the same checkpoint (nothing in memory carries over).
  const auto dir = std::filesystem::path(SLUICE_TESTS_BINARY_DIR) / "work" / "current_time_crash";
  std::filesystem::remove_all(dir);
  auto in = sl::memory_stream<Event>();
  st::manual_clock clock(st::ts(100s));
  auto fail = std::make_shared<std::atomic<bool>>(false);
  auto q = failing_when(recent_with_now(in, 1h), fail);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::start_stream({.checkpoint = dir.string(), .clock = clock}),
                                  st::add_data(in, {ev(95s, "a")}),
                                  st::process_all_available(),
                                  st::assert_on_query([fail](sl::streaming_query&) { return *fail = true; }),
                                  st::advance_clock(clock, 5s),
                                  st::add_data(in, {ev(101s, "b")}),
                                  st::expect_failure<std::runtime_error>("transient")));
  *fail = false;
  clock.advance(std::chrono::hours(1));
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::start_stream({.checkpoint = dir.string(), .clock = clock}),
                                  st::check_new_answer(stamped{{"b"}, {st::ts(105s)}})));
  std::filesystem::remove_all(dir);
}

TEST_CASE("current_timestamp: the same in a state function, a computed column and foreach_batch", "[current_time]") {
  auto in = sl::memory_stream<Event>();
  st::manual_clock clock(st::ts(50s));
  auto seen_in_sink = std::make_shared<std::vector<sl::timestamp>>();
  auto q = in | sl::group_by(sl::col<"key">, sl::expr<"now">([](const Event&) { return sl::current_timestamp(); })) |
           sl::aggregate(sl::count());
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::start_stream({.clock = clock}),
                                  st::add_data(in, {ev(1s, "a"), ev(2s, "a")}),
                                  st::check_new_answer(R{{"a"}, {st::ts(50s)}, {2}}),
                                  st::advance_clock(clock, 1s),
                                  st::add_data(in, {ev(3s, "a")}),
                                  st::check_new_answer(R{{"a"}, {st::ts(51s)}, {1}})));
  auto in2 = sl::memory_stream<Event>();
  in2.add_data({ev(1s, "x")});
  auto query = sl::start(in2 | sl::foreach_batch([seen_in_sink](std::span<const Event>, std::int64_t) {
                           seen_in_sink->push_back(sl::current_timestamp());
                         }),
                         sl::output_mode::append, {.clock = clock});
  query.process_all_available();
  query.stop();
  REQUIRE(seen_in_sink->size() == 1);
  CHECK(seen_in_sink->front() == st::ts(51s));
}

TEST_CASE("current_timestamp: outside a batch, a clear error", "[current_time]") {
  CHECK_THROWS_WITH(sl::current_timestamp(), Catch::Contains("outside a micro-batch"));
}

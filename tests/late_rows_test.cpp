// sl::late_rows_to(sink): the rows a stateful operator drops as late go to a sink of their own
// (Flink's side output), in the batch that drops them, exactly once across failures and
// restarts. Beyond Spark, which only counts them (numRowsDroppedByWatermark).
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
std::vector<std::string> keys_of(const std::vector<Event>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.key + "@" + std::to_string(r.timestamp.micros / 1'000'000));
  return out;
}
}  // namespace

TEST_CASE("late_rows_to: a window aggregation's late rows, in the batch that drops them", "[late_rows]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> late;
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
           sl::aggregate(sl::count()) | sl::late_rows_to(late);
  static_assert(std::is_same_v<decltype(q)::row_type, window_count>);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::append,
                                  st::add_data(in, {ev(10s, "a"), ev(11s, "b"), ev(12s, "c")}),
                                  st::check_new_answer(),
                                  st::add_data(in, {ev(25s, "d")}),  // watermark -> 15 s
                                  st::check_new_answer(wc(10, 15, 3)),
                                  st::add_data(in, {ev(10s, "late1"), ev(14s, "late2"), ev(15s, "kept")}),
                                  st::check_new_answer(),
                                  st::assert_dropped(2),
                                  st::assert_on_query([late](sl::streaming_query& q) {
                                    // batch ids: 0, 1, 2 (no-data: closes 10..15), 3
                                    const auto b = late.batches();
                                    return b.size() == 1 && b[0].batch_id == q.last_progress()->batch_id &&
                                           keys_of(b[0].rows) == std::vector<std::string>{"late1@10", "late2@14"};
                                  }, "the late rows, in their batch"),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in, {ev(5s, "late3")}),
                                  st::check_new_answer(),
                                  st::assert_on_query([late](sl::streaming_query&) {
                                    return keys_of(late.rows()) ==
                                           std::vector<std::string>{"late1@10", "late2@14", "late3@5"};
                                  }, "after a restart, only the new late row")));
}

TEST_CASE("late_rows_to: a batch run again after a failure offers the same late rows under the same id, once",
          "[late_rows]") {
  const auto dir = std::filesystem::path(SLUICE_TESTS_BINARY_DIR) / "work" / "late_rows_replay";
  std::filesystem::remove_all(dir);
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> late;
  auto fail = std::make_shared<std::atomic<bool>>(false);
  auto counts = in | sl::with_watermark(sl::col<"timestamp">, 10s) |
                sl::group_by(sl::window(sl::col<"timestamp">, 5s)) | sl::aggregate(sl::count());
  auto query = [&] {
    auto plan = counts | sl::late_rows_to(late) | sl::map([](const window_count& r) { return r; }) |
                sl::foreach_batch([fail](std::span<const window_count>, std::int64_t) {
                  if (fail->exchange(false)) throw std::runtime_error("sink failed");
                });
    return sl::start(std::move(plan), sl::output_mode::append, {.checkpoint = dir.string()});
  };
  {
    auto q = query();
    in.add_data({ev(10s, "a"), ev(25s, "b")});  // watermark -> 15 s
    q.process_all_available();
    *fail = true;  // the main sink fails after the late rows went out
    in.add_data({ev(3s, "late")});
    CHECK_THROWS_WITH(q.process_all_available(), Catch::Contains("sink failed"));
    REQUIRE(late.rows().size() == 1);
  }
  {
    auto q = query();  // a new query from the checkpoint: the failed batch again
    q.process_all_available();
    q.stop();
  }
  CHECK(keys_of(late.rows()) == std::vector<std::string>{"late@3"});
  std::filesystem::remove_all(dir);
}

TEST_CASE("late_rows_to: a recording side sink is offered the failed batch again, with the same rows",
          "[late_rows]") {
  const auto dir = std::filesystem::path(SLUICE_TESTS_BINARY_DIR) / "work" / "late_rows_offered";
  std::filesystem::remove_all(dir);
  auto in = sl::memory_stream<Event>();
  auto offered = std::make_shared<std::vector<std::pair<std::int64_t, std::vector<std::string>>>>();
  auto fail = std::make_shared<std::atomic<bool>>(false);
  auto query = [&] {
    auto plan = in | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::drop_duplicates() |
                sl::late_rows_to(sl::foreach_batch([offered](std::span<const Event> rows, std::int64_t id) {
                  if (!rows.empty()) offered->emplace_back(id, keys_of(std::vector<Event>(rows.begin(), rows.end())));
                })) |
                sl::foreach_batch([fail](std::span<const Event>, std::int64_t) {
                  if (fail->exchange(false)) throw std::runtime_error("sink failed");
                });
    return sl::start(std::move(plan), sl::output_mode::append, {.checkpoint = dir.string()});
  };
  {
    auto q = query();
    in.add_data({ev(30s, "a")});  // watermark -> 20 s
    q.process_all_available();
    *fail = true;
    in.add_data({ev(12s, "late"), ev(25s, "kept"), ev(20s, "late2")});
    CHECK_THROWS_WITH(q.process_all_available(), Catch::Contains("sink failed"));
  }
  {
    auto q = query();
    q.process_all_available();
    q.stop();
  }
  using offer = std::pair<std::int64_t, std::vector<std::string>>;
  // batch 1 is the no-data batch that evicts by the new watermark; the late rows are batch 2's
  CHECK(*offered == std::vector<offer>{{2, {"late@12", "late2@20"}}, {2, {"late@12", "late2@20"}}});
  std::filesystem::remove_all(dir);
}

TEST_CASE("late_rows_to: sliding windows send a row only when it is late for all of its windows", "[late_rows]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> late;
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 0s) |
           sl::group_by(sl::window(sl::col<"timestamp">, 10s, 5s)) | sl::aggregate(sl::count()) |
           sl::late_rows_to(late);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, {ev(20s, "a")}),  // watermark -> 20 s
                                  st::check_new_answer(wc(15, 25, 1), wc(20, 30, 1)),
                                  // 17 s: windows [10, 20) (late) and [15, 25) (not): counted in one
                                  // 12 s: windows [5, 15) and [10, 20), both late: sent
                                  st::add_data(in, {ev(17s, "partly"), ev(12s, "all")}),
                                  st::check_new_answer(wc(15, 25, 2)),
                                  st::assert_dropped(3),
                                  st::assert_on_query([late](sl::streaming_query&) {
                                    return keys_of(late.rows()) == std::vector<std::string>{"all@12"};
                                  }, "only the row late for every window")));
}

TEST_CASE("late_rows_to: a session window and drop_duplicates_within_watermark", "[late_rows]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> late;
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 10s) |
           sl::group_by(sl::session_window(sl::col<"timestamp">, 5s), sl::col<"key">) |
           sl::aggregate(sl::count()) | sl::late_rows_to(late);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::append,
                                  st::add_data(in, {ev(40s, "a")}),  // watermark -> 30 s
                                  st::check_new_answer(),
                                  st::add_data(in, {ev(24s, "b"), ev(26s, "c")}),  // [24, 29) ends before 30
                                  st::check_new_answer(),
                                  st::assert_on_query([late](sl::streaming_query&) {
                                    return keys_of(late.rows()) == std::vector<std::string>{"b@24"};
                                  }, "the row whose session ended before the watermark")));
  auto in2 = sl::memory_stream<Event>();
  sl::memory_sink<Event> late2;
  auto d = in2 | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::drop_duplicates_within_watermark(sl::col<"key">) |
           sl::late_rows_to(late2);
  REQUIRE_NOTHROW(st::test_stream(std::move(d), sl::output_mode::append,
                                  st::add_data(in2, {ev(40s, "a"), ev(41s, "a")}),
                                  st::check_new_answer(ev(40s, "a")),
                                  st::add_data(in2, {ev(30s, "x"), ev(35s, "y"), ev(45s, "a")}),  // watermark 31 s
                                  st::check_new_answer(ev(35s, "y")),
                                  st::assert_on_query([late2](sl::streaming_query&) {
                                    return keys_of(late2.rows()) == std::vector<std::string>{"x@30"};
                                  }, "late, not duplicate")));
}

namespace {
struct LastSeen {
  std::int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(LastSeen, (), (n))
}  // namespace

TEST_CASE("late_rows_to: map_groups_with_state with an event-time timeout", "[late_rows]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> late;
  auto f = [](const std::string& key, std::span<const Event> values, sl::group_state<LastSeen>& state) {
    const std::int64_t n = state.get_option().value_or(LastSeen{}).n + static_cast<std::int64_t>(values.size());
    state.update({n});
    return sl::row<sl::field<"key", std::string>, sl::field<"n", std::int64_t>>{{key}, {n}};
  };
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 5s) | sl::group_by_key(sl::col<"key">) |
           sl::map_groups_with_state<LastSeen>(f, sl::group_state_timeout::event_time) | sl::late_rows_to(late);
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, {ev(20s, "a")}),  // watermark -> 15 s
                                  st::check_new_answer(R{{"a"}, {1}}),
                                  st::add_data(in, {ev(15s, "a"), ev(16s, "a")}),
                                  st::check_new_answer(R{{"a"}, {2}}),
                                  st::assert_on_query([late](sl::streaming_query&) {
                                    return keys_of(late.rows()) == std::vector<std::string>{"a@15"};
                                  }, "the row at the watermark")));
}

// Watermark semantics, case by case after Spark's EventTimeWatermarkSuite and the Structured
// Streaming programming guide ("Handling Late Data and Watermarking"):
//   - a batch uses the watermark computed at the end of the previous batch;
//   - the watermark is max(event time) - delay, never decreasing;
//   - append emits a window once its end <= watermark, update emits changed groups, both
//     evict closed windows; rows are late (dropped, counted in
//     stateOperators[].numRowsDroppedByWatermark) when their window ends at or before the
//     watermark the previous batch ran with (Spark 3.4+); complete mode never drops or evicts;
//   - several inputs: min (default) or max of the per-input watermarks, an input without data
//     yet counting as 0; a restart restores the query's watermark, not the inputs', and keeps
//     the policy the checkpoint was started with.
#include <catch2/catch.hpp>

#include <sluice/files.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
auto windowed(const sl::memory_stream<Event>& in, sl::duration delay = 10s) {
  return in | sl::with_watermark(sl::col<"timestamp">, delay) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
         sl::aggregate(sl::count());
}
std::vector<Event> at(std::initializer_list<int> seconds) {
  std::vector<Event> out;
  for (int s : seconds) out.push_back(ev(std::chrono::seconds(s)));
  return out;
}
}  // namespace

TEST_CASE("watermark: append mode emits a window once the watermark passes its end, then drops late rows",
          "[semantics][watermark]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::append,
                                  st::add_data(in, at({10, 11, 12, 13, 14, 15})),
                                  st::check_new_answer(),
                                  st::assert_watermark(5s),
                                  st::add_data(in, at({25})),  // watermark -> 15s
                                  st::check_new_answer(wc(10, 15, 5)),
                                  st::assert_watermark(15s),
                                  st::assert_state_rows(2),  // [15,20) and [25,30)
                                  st::assert_dropped(0),
                                  st::add_data(in, at({10})),  // [10,15) is closed: late
                                  st::check_new_answer(),
                                  st::assert_state_rows(2),
                                  st::assert_dropped(1),
                                  st::check_answer(wc(10, 15, 5))));
}

TEST_CASE("watermark: update mode emits changed groups, evicts closed windows and drops late rows",
          "[semantics][watermark]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::update,
                                  st::add_data(in, at({10, 11, 12, 13, 14, 15})),
                                  st::check_new_answer(wc(10, 15, 5), wc(15, 20, 1)),
                                  st::add_data(in, at({25})),  // watermark -> 15s
                                  st::check_new_answer(wc(25, 30, 1)),
                                  st::assert_state_rows(2),  // [10,15) evicted
                                  st::assert_dropped(0),
                                  st::add_data(in, at({10, 25})),  // 10 is late
                                  st::check_new_answer(wc(25, 30, 2)),
                                  st::assert_state_rows(2, 1),
                                  st::assert_dropped(1),
                                  st::add_data(in, at({10})),
                                  st::check_new_answer(),
                                  st::assert_state_rows(2),
                                  st::assert_dropped(2)));
}

TEST_CASE("watermark: complete mode never drops or evicts, though the watermark advances",
          "[semantics][watermark]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::complete,
                                  st::add_data(in, at({10, 11, 12})),
                                  st::check_answer(wc(10, 15, 3)),
                                  st::add_data(in, at({25})),
                                  st::check_answer(wc(10, 15, 3), wc(25, 30, 1)),
                                  st::assert_watermark(15s),
                                  st::add_data(in, at({25})),
                                  st::check_answer(wc(10, 15, 3), wc(25, 30, 2)),
                                  st::add_data(in, at({10})),  // older than the watermark: still counted
                                  st::check_answer(wc(10, 15, 4), wc(25, 30, 2)),
                                  st::add_data(in, at({1})),  // a window long closed: created again
                                  st::check_answer(wc(0, 5, 1), wc(10, 15, 4), wc(25, 30, 2)),
                                  st::assert_state_rows(3),
                                  st::assert_dropped(0),
                                  st::assert_on_query([](sl::streaming_query& q) {
                                    return q.recent_progress().size() == 5;  // one per add_data
                                  }, "complete mode runs no no-data batch")));
}

TEST_CASE("watermark: a batch uses the watermark of the previous batch, not its own", "[semantics][watermark]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(
      windowed(in), sl::output_mode::append,
      // One batch: 25 moves the watermark to 15s only after the batch, so 10 and 11 count.
      st::add_data(in, at({25, 10, 11})),
      st::check_new_answer(wc(10, 15, 2)),  // emitted by the no-data batch that follows
      st::assert_dropped(0),
      st::assert_on_query(
          [](sl::streaming_query& q) {
            const auto p = q.recent_progress();
            REQUIRE(p.size() == 2);
            CHECK(p[0].batch_id == 0);
            CHECK(p[0].num_input_rows == 3);
            CHECK(p[0].event_time.watermark == st::ts(0s));  // batch 0 ran with watermark 0
            CHECK(p[0].event_time.min == st::ts(10s));
            CHECK(p[0].event_time.max == st::ts(25s));
            CHECK(p[1].batch_id == 1);
            CHECK(p[1].num_input_rows == 0);
            CHECK(p[1].event_time.watermark == st::ts(15s));  // the no-data batch ran with 15s
            CHECK(p[1].sink.num_output_rows == 1);
            CHECK_FALSE(p[1].event_time.max.has_value());  // no event in a no-data batch
          },
          "batch 0 runs with watermark 0, the no-data batch 1 with 15s")));
}

TEST_CASE("watermark: it never decreases", "[semantics][watermark]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::append,
                                  st::add_data(in, at({30})),
                                  st::assert_watermark(20s),
                                  st::add_data(in, at({5})),  // max 5s - 10s: lower, ignored
                                  st::assert_watermark(20s),
                                  st::add_data(in, at({25})),  // 15s: lower than 20s, ignored
                                  st::assert_watermark(20s),
                                  st::add_data(in, at({31})),
                                  st::assert_watermark(21s),
                                  st::assert_dropped(1),  // 5s was late
                                  st::check_answer(),  // [25,30) and [30,35) are still open at 21s
                                  st::assert_state_rows(2)));
}

TEST_CASE("watermark: no watermark before any data, and a first batch below the delay keeps it at 0",
          "[semantics][watermark]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::append,
                                  st::assert_watermark(0s),
                                  st::add_data(in, at({3})),  // 3s - 10s < 0: the watermark stays 0
                                  st::check_new_answer(),
                                  st::assert_watermark(0s),
                                  st::assert_on_query([](sl::streaming_query& q) {
                                    return q.recent_progress().size() == 1;  // no no-data batch: nothing moved
                                  }, "only one batch ran")));
}

TEST_CASE("watermark: grouping on the raw event-time column evicts and drops by event time",
          "[semantics][watermark]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::group_by(sl::col<"timestamp">) |
           sl::aggregate(sl::count());
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, at({10})),
                                  st::check_answer(),
                                  st::add_data(in, at({25})),  // watermark -> 15s
                                  st::check_new_answer(R{{st::ts(10s)}, {1}}),
                                  st::add_data(in, at({15, 16})),  // 15 <= watermark: late; 16 is not
                                  st::check_new_answer(),
                                  st::assert_dropped(1),
                                  st::add_data(in, at({40})),  // watermark -> 30s
                                  st::check_new_answer(R{{st::ts(16s)}, {1}}, R{{st::ts(25s)}, {1}})));
}

TEST_CASE("watermark: a row whose window ends exactly at the watermark is late, the next window's first instant is not",
          "[semantics][watermark]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::update,
                                  st::add_data(in, at({25})),  // watermark -> 15s
                                  st::check_new_answer(wc(25, 30, 1)),
                                  st::add_data(in, {ev(14999999us), ev(15s)}),
                                  st::check_new_answer(wc(15, 20, 1)),
                                  st::assert_dropped(1)));
}

TEST_CASE("watermark: stateless stages drop nothing, even rows far behind the watermark",
          "[semantics][watermark]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 1s) | sl::map([](const Event& e) { return e.value; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(100s, "a", 1)}),
                                  st::assert_watermark(99s),
                                  st::add_data(in, {ev(1s, "a", 2)}),
                                  st::check_answer(1, 2),
                                  st::assert_on_query([](sl::streaming_query& q) {
                                    return q.last_progress()->state_operators.empty();
                                  })));
}

TEST_CASE("watermark: no-data batches close windows without new input, the option turns them off",
          "[semantics][watermark]") {
  for (const bool enabled : {true, false}) {
    INFO("no_data_micro_batches = " << enabled);
    auto in = sl::memory_stream<Event>();
    if (enabled) {
      REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::append,
                                      st::start_stream({.no_data_micro_batches = true}),
                                      st::add_data(in, at({10, 11, 12, 13, 14, 15})),
                                      st::check_new_answer(),
                                      st::add_data(in, at({25})),
                                      st::check_new_answer(wc(10, 15, 5)),
                                      st::assert_on_query([](sl::streaming_query& q) {
                                        // 0: data, 1: no-data (watermark 5s), 2: data, 3: no-data (15s)
                                        const auto p = q.recent_progress();
                                        return p.size() == 4 && p[1].num_input_rows == 0 && p[3].num_input_rows == 0;
                                      }, "two no-data batches ran")));
    } else {
      REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::append,
                                      st::start_stream({.no_data_micro_batches = false}),
                                      st::add_data(in, at({10, 11, 12, 13, 14, 15})),
                                      st::check_new_answer(),
                                      st::add_data(in, at({25})),
                                      st::check_new_answer(),  // no batch runs to close [10,15)
                                      st::assert_watermark(15s),
                                      st::assert_on_query([](sl::streaming_query& q) {
                                        return q.recent_progress().size() == 2;
                                      }, "only data batches ran"),
                                      st::add_data(in, at({26})),  // the next data batch closes it
                                      st::check_new_answer(wc(10, 15, 5))));
    }
  }
}

TEST_CASE("watermark: update mode without a watermark keeps every group and drops nothing",
          "[semantics][watermark]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) | sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::update,
                                  st::add_data(in, at({100})),
                                  st::check_new_answer(wc(100, 105, 1)),
                                  st::add_data(in, at({1})),
                                  st::check_new_answer(wc(0, 5, 1)),
                                  st::assert_state_rows(2),
                                  st::assert_dropped(0)));
}

// ---------------------------------------------------------------- several inputs
namespace {
auto two_inputs(const sl::memory_stream<Event>& a, const sl::memory_stream<Event>& b) {
  return sl::union_all(a | sl::with_watermark(sl::col<"timestamp">, 10s),
                       b | sl::with_watermark(sl::col<"timestamp">, 5s)) |
         sl::group_by(sl::window(sl::col<"timestamp">, 5s)) | sl::aggregate(sl::count());
}
}  // namespace

TEST_CASE("watermark: two inputs, min policy: the slowest input holds the watermark, no data yet counts as 0",
          "[semantics][watermark]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(two_inputs(a, b), sl::output_mode::append,
                                  st::add_data(a, at({20})),  // a: 10s, b: no data (0)
                                  st::assert_watermark(0s),
                                  st::add_data(b, at({30})),  // a: 10s, b: 25s
                                  st::assert_watermark(10s),
                                  st::check_new_answer(),
                                  st::add_data(a, at({40})),  // a: 30s, b: 25s
                                  st::assert_watermark(25s),
                                  st::check_new_answer(wc(20, 25, 1)),
                                  st::add_data(b, at({22, 26})),  // [20,25) closed: 22 is late
                                  st::assert_dropped(1),
                                  st::add_data(b, at({45})),  // a: 30s, b: 40s
                                  st::assert_watermark(30s),
                                  st::check_new_answer(wc(25, 30, 1)),  // [30,35) ends after 30s
                                  st::assert_state_rows(3)));
}

TEST_CASE("watermark: two inputs, max policy: the fastest input sets the watermark", "[semantics][watermark]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(two_inputs(a, b), sl::output_mode::append,
                                  st::start_stream({.multiple_watermark_policy = sl::watermark_policy::max}),
                                  st::add_data(a, at({20})),  // a: 10s, b: 0
                                  st::assert_watermark(10s),
                                  st::add_data(b, at({30})),  // a: 10s, b: 25s
                                  st::assert_watermark(25s),
                                  st::check_new_answer(wc(20, 25, 1)),
                                  st::add_data(a, at({33})),  // a: 23s, b: 25s; never decreases
                                  st::assert_watermark(25s),
                                  st::add_data(a, at({21})),  // late for the max watermark
                                  st::assert_dropped(1)));
}

TEST_CASE("watermark: in progress, eventTime.watermark and numRowsDroppedByWatermark use Spark's names",
          "[semantics][watermark]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(
      windowed(in), sl::output_mode::update, st::add_data(in, at({25})), st::check_new_answer(wc(25, 30, 1)),
      st::add_data(in, at({1, 2, 26})), st::check_new_answer(wc(25, 30, 2)),
      st::assert_on_query([](sl::streaming_query& q) {
        const auto all = q.recent_progress();
        // The data batch (a no-data batch follows it: the watermark moved to 16s).
        REQUIRE(all.size() == 4);
        CHECK(all.back().num_input_rows == 0);
        const auto j = all[2].to_json();
        CHECK(j.at("batchId").as_int64() == 2);
        CHECK(j.at("eventTime").at("watermark").as_string() == "1970-01-01T00:00:15.000Z");
        const auto& op = j.at("stateOperators").as_array().at(0).as_object();
        CHECK(op.at("numRowsDroppedByWatermark").as_int64() == 2);
        CHECK(op.at("numRowsTotal").as_int64() == 1);
        CHECK(op.at("numRowsUpdated").as_int64() == 1);
        CHECK(j.at("eventTime").at("max").as_string() == "1970-01-01T00:00:26.000Z");
      })));
}

// ---------------------------------------------------------------- two watermarks per batch
namespace {
namespace fs = std::filesystem;

struct temp_dir {
  fs::path path;
  temp_dir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("sluice-watermark-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

// A JSON-lines file of events at these seconds, renamed into `dir` with its mtime `age` back.
void put_events(const fs::path& dir, const std::string& name, std::initializer_list<int> seconds,
                std::chrono::seconds age) {
  const fs::path tmp = dir.parent_path() / (name + ".tmp");
  {
    std::ofstream out(tmp);
    for (int s : seconds) out << R"({"timestamp":)" << s << R"(,"key":"a","value":1})" << "\n";
  }
  fs::last_write_time(tmp, fs::file_time_type::clock::now() - age);
  fs::rename(tmp, dir / name);
}

// A backlog of three files read one per batch, back to back (no no-data batch between):
//   batch 0 (10, 21)    runs with watermark 0;           after it: 11s
//   batch 1 (25)        runs with 11s, rows late at 0;   after it: 15s
//   batch 2 (12, 3, 50) evicts at 15s, rows late at 11s: 12 counts in [10,15), which closes
//                       in this same batch; 3 ([0,5)) is late
// then a no-data batch at 40s closes [20,25) and [25,30). (With one watermark for both, 12 was
// dropped and [10,15) counted 1.)
template <sl::output_mode_kind Mode>
std::vector<std::string> run_backlog(std::vector<sl::query_progress>* progress) {
  temp_dir dir;
  fs::create_directories(dir.path / "in");
  put_events(dir.path / "in", "0.json", {10, 21}, 30s);
  put_events(dir.path / "in", "1.json", {25}, 20s);
  put_events(dir.path / "in", "2.json", {12, 3, 50}, 10s);
  auto counts = sl::files::json_lines<Event>(dir.path / "in", {.max_files_per_trigger = 1}) |
                sl::with_watermark(sl::col<"timestamp">, 10s) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
                sl::aggregate(sl::count());
  sl::memory_sink<typename decltype(counts)::row_type> sink;
  auto query = sl::start(std::move(counts) | sink, sl::output_mode_tag<Mode>{},
                         {.trigger = sl::trigger::available_now(), .checkpoint = (dir.path / "cp").string()});
  query.await_termination();
  *progress = query.recent_progress();
  std::vector<std::string> out;
  for (const auto& r : sink.rows()) out.push_back(boost::json::serialize(sl::to_json(r)));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> sorted_json(const std::vector<window_count>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(boost::json::serialize(sl::to_json(r)));
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST_CASE("watermark: back-to-back batches drop rows late against the previous batch's watermark, append mode",
          "[semantics][watermark]") {
  std::vector<sl::query_progress> p;
  const auto rows = run_backlog<sl::output_mode_kind::append>(&p);
  CHECK(rows == sorted_json({wc(10, 15, 2), wc(20, 25, 1), wc(25, 30, 1)}));
  REQUIRE(p.size() == 4);
  CHECK(p[2].num_input_rows == 3);
  CHECK(p[2].event_time.watermark == st::ts(15s));
  CHECK(p[2].state_operators.at(0).num_rows_dropped_by_watermark == 1);
  CHECK(p[2].state_operators.at(0).num_rows_updated == 2);  // [10,15) and [50,55)
  CHECK(p[2].state_operators.at(0).num_rows_removed == 1);  // [10,15), put and evicted
  CHECK(p[2].sink.num_output_rows == 1);
  CHECK(p[3].num_input_rows == 0);
  CHECK(p[3].event_time.watermark == st::ts(40s));
}

TEST_CASE("watermark: back-to-back batches drop rows late against the previous batch's watermark, update mode",
          "[semantics][watermark]") {
  std::vector<sl::query_progress> p;
  const auto rows = run_backlog<sl::output_mode_kind::update>(&p);
  CHECK(rows ==
        sorted_json({wc(10, 15, 1), wc(20, 25, 1), wc(25, 30, 1), wc(10, 15, 2), wc(50, 55, 1)}));
  REQUIRE(p.size() == 4);
  CHECK(p[2].state_operators.at(0).num_rows_dropped_by_watermark == 1);
  CHECK(p[2].state_operators.at(0).num_rows_total == 3);  // [20,25), [25,30), [50,55)
}

TEST_CASE("watermark: sliding windows count a row in the window its batch closes", "[semantics][watermark]") {
  // One batch per trigger-once run, 10 s windows sliding by 5 s:
  //   batch 0 (10, 21)  runs with 0;                         after it: 11s
  //   batch 1 (25)      runs with 11s, rows late at 0;       after it: 15s
  //   batch 2 (12, 50)  evicts at 15s, rows late at 11s: 12 counts in [5,15), which closes now
  // (With one watermark for both, 12 was late for [5,15), which closed with 1.) Both layouts:
  // slices combined into windows, and a copy per window.
  auto check = [](auto window) {
    auto in = sl::memory_stream<Event>();
    auto q = in | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::group_by(window) | sl::aggregate(sl::count());
    const auto once = st::start_stream({.trigger = sl::trigger::once()});
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                    st::add_data(in, at({10, 21})), once, st::check_new_answer(),
                                    st::add_data(in, at({25})), once, st::check_new_answer(),
                                    st::add_data(in, at({12, 50})), once,
                                    st::check_new_answer(wc(5, 15, 2)),
                                    st::assert_num_rows_dropped_by_watermark(0),
                                    st::assert_state_rows(6, 4),
                                    st::assert_on_query([](sl::streaming_query& q) {
                                      return q.last_progress()->state_operators.at(0).num_rows_removed == 1;
                                    }, "[5,15) removed"),
                                    st::assert_watermark(40s)));
    auto in2 = sl::memory_stream<Event>();
    auto q2 = in2 | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::group_by(window) | sl::aggregate(sl::count());
    REQUIRE_NOTHROW(st::test_stream(q2, sl::output_mode::update,
                                    st::add_data(in2, at({10, 21})), once,
                                    st::check_new_answer(wc(5, 15, 1), wc(10, 20, 1), wc(15, 25, 1), wc(20, 30, 1)),
                                    st::add_data(in2, at({25})), once, st::check_new_answer(wc(20, 30, 2), wc(25, 35, 1)),
                                    st::add_data(in2, at({12, 50})), once,
                                    st::check_new_answer(wc(5, 15, 2), wc(10, 20, 2), wc(45, 55, 1), wc(50, 60, 1)),
                                    st::assert_num_rows_dropped_by_watermark(0),
                                    st::assert_state_rows(6, 4)));
  };
  SECTION("sliced") { check(sl::window(sl::col<"timestamp">, 10s, 5s)); }
  SECTION("per-window copies") { check(sl::window(sl::col<"timestamp">, 10s, 5s).with_per_window_copies()); }
}

TEST_CASE("watermark: after a restart, rows are late against the watermark of the batch before (trigger once)",
          "[semantics][watermark]") {
  // Spark's "event time and watermark metrics with Trigger.Once (SPARK-24699)", each run a new
  // query on the checkpoint; its fourth run also gets 11, which Spark keeps: batch 3 evicts at
  // 15s but takes rows late at 5s (the watermark batch 2 ran with, read from the offset log).
  auto in = sl::memory_stream<Event>();
  const auto once = st::start_stream({.trigger = sl::trigger::once()});
  REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::append,
                                  once, st::await_termination(),
                                  st::add_data(in, at({15})), once, st::await_termination(),
                                  st::check_new_answer(), st::assert_watermark(5s),
                                  st::add_data(in, at({10, 12, 14})), once, st::await_termination(),
                                  st::check_new_answer(), st::assert_watermark(5s),
                                  st::add_data(in, at({25})), once, st::await_termination(),
                                  st::check_new_answer(), st::assert_watermark(15s),
                                  st::add_data(in, at({50, 11})), once, st::await_termination(),
                                  st::check_new_answer(wc(10, 15, 4)),  // watermark 15s closes it
                                  st::assert_num_rows_dropped_by_watermark(0),
                                  st::assert_watermark(40s),
                                  st::add_data(in, at({50, 11})), once, st::await_termination(),
                                  st::check_new_answer(wc(15, 20, 1), wc(25, 30, 1)),
                                  st::assert_num_rows_dropped_by_watermark(1)));  // 11: late at 15s
}

TEST_CASE("watermark: recovery from a batch logged but not committed (Spark's \"recovery\")", "[semantics][watermark]") {
  temp_dir dir;
  const std::string cp = (dir.path / "cp").string();
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(
      windowed(in), sl::output_mode::append, st::start_stream({.checkpoint = cp}),
      st::add_data(in, at({10, 11, 12, 13, 14, 15})), st::check_answer(),
      st::add_data(in, at({25})),  // watermark -> 15s
      st::check_answer(wc(10, 15, 5)), st::stop_stream(),
      st::assert_on_query([&](sl::streaming_query&) {  // drop the last commit: its batch runs again
        std::int64_t last = -1;
        for (const auto& e : fs::directory_iterator(fs::path(cp) / "commits"))
          last = std::max<std::int64_t>(last, std::stoll(e.path().filename().string()));
        fs::remove(fs::path(cp) / "commits" / std::to_string(last));
      }),
      st::start_stream({.checkpoint = cp}),
      st::add_data(in, at({10, 27, 30})),  // watermark -> 20s; 10 is late
      st::check_new_answer(wc(15, 20, 1)), st::stop_stream(), st::start_stream({.checkpoint = cp}),
      st::add_data(in, at({17})),  // the watermark is still 20s: 17 is late
      st::check_new_answer(), st::add_data(in, at({40})),  // watermark -> 30s
      st::check_new_answer(wc(25, 30, 2)), st::assert_dropped(2)));
}

TEST_CASE("watermark: a restart restores the query's watermark, not each input's (Spark's \"watermark with 2 streams\")",
          "[semantics][watermark]") {
  auto a = sl::memory_stream<Event>();  // delay 10 s
  auto b = sl::memory_stream<Event>();  // delay 5 s
  auto both = [&](std::initializer_list<int> x, std::initializer_list<int> y) {
    return st::multi_add_data(st::add_data(a, at(x)), st::add_data(b, at(y)));
  };
  REQUIRE_NOTHROW(st::test_stream(
      two_inputs(a, b), sl::output_mode::complete,
      st::add_data(a, at({11})), st::assert_watermark(0s),  // nothing from b yet
      st::add_data(b, at({6})), st::assert_watermark(1s),
      st::add_data(b, at({8})), st::assert_watermark(1s),
      st::add_data(a, at({21})), st::assert_watermark(3s),
      st::add_data(b, at({17, 28, 39})), st::assert_watermark(11s),
      st::add_data(a, at({31})), st::assert_watermark(21s),
      st::add_data(a, at({41})), st::assert_watermark(31s),
      st::add_data(a, at({51})), st::assert_watermark(34s),
      both({100}, {100}), st::assert_watermark(90s),
      both({120}, {110}), st::assert_watermark(105s),
      both({130}, {125}), st::assert_watermark(120s),
      both({100}, {100}), st::assert_watermark(120s),  // never decreases
      both({140}, {100}), st::assert_watermark(120s),
      both({100}, {135}), st::assert_watermark(130s),
      both({200}, {190}), st::assert_watermark(185s),  // a: 190s, b: 185s
      st::stop_stream(), st::start_stream(),
      st::assert_watermark(185s),
      // a was at 190s in the last execution, but starts again in this one: no data from a
      // yet counts as 0, and the watermark stays until a gets past it here.
      st::add_data(b, at({200})), st::assert_watermark(185s),
      st::add_data(a, at({200})), st::assert_watermark(190s)));
}

namespace {
// Spark's dfWithMultipleWatermarks: two inputs (delays 10 s and 15 s), their event times.
auto event_seconds(const sl::memory_stream<Event>& a, const sl::memory_stream<Event>& b) {
  return sl::union_all(a | sl::with_watermark(sl::col<"timestamp">, 10s),
                       b | sl::with_watermark(sl::col<"timestamp">, 15s)) |
         sl::map([](const Event& e) { return e.timestamp.micros / 1'000'000; });
}

// The first run of Spark's test: policy max, a batch with 20 (a) and 30 (b).
void run_with_max_policy(const sl::memory_stream<Event>& a, const sl::memory_stream<Event>& b, const std::string& cp) {
  REQUIRE_NOTHROW(st::test_stream(
      event_seconds(a, b), sl::output_mode::append,
      st::start_stream({.multiple_watermark_policy = sl::watermark_policy::max, .checkpoint = cp}),
      st::multi_add_data(st::add_data(a, at({20})), st::add_data(b, at({30}))),
      st::check_last_batch(20, 30),
      st::assert_watermark(15s)));  // max(20 - 10, 30 - 15)
}

// A checkpoint after that first run, and its two inputs.
struct max_policy_checkpoint {
  temp_dir dir;
  std::string cp = (dir.path / "cp").string();
  sl::memory_stream<Event> a, b;
  max_policy_checkpoint() { run_with_max_policy(a, b, cp); }
};
}  // namespace

TEST_CASE("watermark: the multiple-watermark policy is the checkpoint's, a new setting on restart is ignored",
          "[semantics][watermark]") {
  // Spark's "MultipleWatermarkPolicy: recovery from checkpoints ignores session conf".
  max_policy_checkpoint c;
  auto &a = c.a, &b = c.b;
  const std::string& cp = c.cp;
  std::ifstream offsets(fs::path(cp) / "offsets" / "0");
  const std::string text{std::istreambuf_iterator<char>(offsets), {}};
  CHECK(text.find(R"("conf":{"multiple_watermark_policy":"max")") != std::string::npos);

  REQUIRE_NOTHROW(st::test_stream(
      event_seconds(a, b), sl::output_mode::append,
      st::start_stream({.multiple_watermark_policy = sl::watermark_policy::min, .checkpoint = cp}),
      st::assert_watermark(15s),  // recovered
      st::multi_add_data(st::add_data(a, at({120})), st::add_data(b, at({130}))),
      st::check_last_batch(120, 130),
      st::assert_watermark(115s),  // max(110, 115): the stored policy, not min
      st::add_data(a, at({150})),
      st::check_last_batch(150),
      st::assert_watermark(140s)));  // max moves with one input alone
}

TEST_CASE("watermark: an offset log without the policy (written before sluice stored it) means min",
          "[semantics][watermark]") {
  max_policy_checkpoint c;
  auto &a = c.a, &b = c.b;
  const std::string& cp = c.cp;
  // Write the entry again as an older sluice did: without "conf".
  // (with the query's id: every checkpoint file carries it in its trailer)
  const sl::checkpoint_dir dir_api(cp, sl::read_checkpoint_file(fs::path(cp) / "offsets" / "0").query_id);
  auto entry = dir_api.read_offsets(0, 2);
  REQUIRE(entry.conf.contains("multiple_watermark_policy"));
  entry.conf.clear();
  fs::remove(dir_api.offsets_path(0));
  dir_api.write_offsets(entry);
  {
    std::ifstream f(dir_api.offsets_path(0));
    const std::string text{std::istreambuf_iterator<char>(f), {}};
    REQUIRE(text.find("conf") == std::string::npos);
  }
  REQUIRE_NOTHROW(st::test_stream(
      event_seconds(a, b), sl::output_mode::append,
      st::start_stream({.multiple_watermark_policy = sl::watermark_policy::max, .checkpoint = cp}),
      st::multi_add_data(st::add_data(a, at({120})), st::add_data(b, at({130}))),
      st::check_last_batch(120, 130),
      st::assert_watermark(110s)));  // min(110, 115)
}

// Watermark semantics, case by case after Spark's EventTimeWatermarkSuite and the Structured
// Streaming programming guide ("Handling Late Data and Watermarking"):
//   - a batch uses the watermark computed at the end of the previous batch;
//   - the watermark is max(event time) - delay, never decreasing;
//   - append emits a window once its end <= watermark, update emits changed groups, both
//     evict closed windows and drop late rows (window end <= watermark), counted in
//     stateOperators[].numRowsDroppedByWatermark; complete mode never drops or evicts;
//   - several inputs: min (default) or max of the per-input watermarks, an input without data
//     yet counting as 0.
#include <catch2/catch.hpp>

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

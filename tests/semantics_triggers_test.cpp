// Trigger semantics (programming guide "Triggers"; EventTimeWatermarkSuite SPARK-24699):
//   - once: one batch with everything available (source limits ignored), no no-data batch;
//     the watermark it computes is used by the next run's batch;
//   - available_now: everything available at the start, in batches bounded by the source's
//     limits, then the query stops by itself;
//   - processing_time: batches at an interval.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
// A source of events 0s, 1s, 2s, ... (value i, key "k") with a per-batch limit, like a file
// source's max_files_per_trigger.
struct counter_offset {
  std::int64_t next = 0;
};
BOOST_DESCRIBE_STRUCT(counter_offset, (), (next))
struct counter_partition {
  std::int64_t from = 0, to = 0;
};

class limited_source {
 public:
  using row_type = Event;
  using offset_type = counter_offset;
  using partition_type = counter_partition;

  explicit limited_source(std::int64_t max_per_batch) : max_(max_per_batch), available_(std::make_shared<std::atomic<std::int64_t>>(0)) {}
  void make_available(std::int64_t n) { *available_ += n; }

  counter_offset initial_offset() { return {0}; }
  counter_offset latest_offset(const counter_offset& start, sl::read_limit limit) {
    const std::int64_t avail = *available_;
    if (limit.all || max_ <= 0) return {avail};
    return {std::min(avail, start.next + max_)};
  }
  std::vector<counter_partition> partitions(const counter_offset& start, const counter_offset& end) {
    return {{start.next, end.next}};
  }
  template <class Emit>
  void read(const counter_partition& p, Emit&& emit) {
    for (auto i = p.from; i < p.to; ++i) emit(Event{sl::timestamp{i * 1'000'000}, "k", i});
  }
  void commit(const counter_offset&) {}
  std::string description() const { return "LimitedSource"; }

 private:
  std::int64_t max_;
  std::shared_ptr<std::atomic<std::int64_t>> available_;
};

auto windowed(const sl::memory_stream<Event>& in) {
  return in | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
         sl::aggregate(sl::count());
}
std::vector<Event> at(std::initializer_list<int> seconds) {
  std::vector<Event> out;
  for (int s : seconds) out.push_back(ev(std::chrono::seconds(s)));
  return out;
}
auto runs_batches(std::size_t n) {
  return st::assert_on_query([n](sl::streaming_query& q) { return q.recent_progress().size() == n; },
                             "this run ran " + std::to_string(n) + " batch(es)");
}
auto terminated() {
  return st::assert_on_query([](sl::streaming_query& q) { return !q.is_active() && !q.exception(); },
                             "the run stopped by itself");
}
}  // namespace

TEST_CASE("triggers: once runs exactly one batch, and its watermark is used by the next run",
          "[semantics][triggers]") {
  auto in = sl::memory_stream<Event>();
  const sl::query_options once{.trigger = sl::trigger::once()};
  REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::append,
                                  // run 1: batch 0 with watermark 0; computes 5s
                                  st::add_data(in, at({10, 11, 12, 13, 14, 15})),
                                  st::start_stream(once),
                                  st::await_termination(),
                                  terminated(),
                                  st::check_new_answer(),
                                  runs_batches(1),  // no no-data batch, though the watermark moved
                                  st::assert_watermark(5s),
                                  // run 2: batch 1 with watermark 5s; computes 15s
                                  st::add_data(in, at({25})),
                                  st::start_stream(once),
                                  st::await_termination(),
                                  st::check_new_answer(),  // [10,15) would close at 15s: not in this run
                                  runs_batches(1),
                                  st::assert_watermark(15s),
                                  // run 3: batch 2 uses 15s: [10,15) closes
                                  st::add_data(in, at({26})),
                                  st::start_stream(once),
                                  st::await_termination(),
                                  st::check_new_answer(wc(10, 15, 5)),
                                  runs_batches(1),
                                  st::assert_on_query([](sl::streaming_query& q) {
                                    const auto p = q.last_progress();
                                    return p && p->batch_id == 2 && p->event_time.watermark == st::ts(15s);
                                  }, "batch 2 ran with watermark 15s")));
}

TEST_CASE("triggers: once with no new data runs no batch, not even a no-data batch", "[semantics][triggers]") {
  auto in = sl::memory_stream<Event>();
  const sl::query_options once{.trigger = sl::trigger::once()};
  REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::append,
                                  st::add_data(in, at({10})),
                                  st::start_stream(once),
                                  st::await_termination(),
                                  st::add_data(in, at({30})),  // watermark -> 20s: [10,15) could close
                                  st::start_stream(once),
                                  st::await_termination(),
                                  st::check_new_answer(),
                                  st::assert_watermark(20s),
                                  st::start_stream(once),  // nothing new: nothing runs
                                  st::await_termination(),
                                  runs_batches(0),
                                  st::check_new_answer(),
                                  st::start_stream(),  // the default trigger runs the no-data batch
                                  st::check_new_answer(wc(10, 15, 1))));
}

TEST_CASE("triggers: once takes everything available in one batch, ignoring source limits",
          "[semantics][triggers]") {
  limited_source src(2);
  src.make_available(5);
  auto q = src | sl::map([](const Event& e) { return e.value; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::start_stream({.trigger = sl::trigger::once()}),
                                  st::await_termination(),
                                  terminated(),
                                  runs_batches(1),
                                  st::check_last_batch(0, 1, 2, 3, 4)));
}

TEST_CASE("triggers: available_now processes everything available in batches within the source's limits, then stops",
          "[semantics][triggers]") {
  limited_source src(2);
  src.make_available(5);
  auto q = src | sl::map([](const Event& e) { return e.value; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::start_stream({.trigger = sl::trigger::available_now()}),
                                  st::await_termination(),
                                  terminated(),
                                  st::check_answer(0, 1, 2, 3, 4),
                                  st::assert_on_query([](sl::streaming_query& sq) {
                                    const auto p = sq.recent_progress();
                                    REQUIRE(p.size() == 3);
                                    CHECK(p[0].num_input_rows == 2);
                                    CHECK(p[1].num_input_rows == 2);
                                    CHECK(p[2].num_input_rows == 1);
                                    CHECK(p[2].sources.at(0).end_offset.at("next").as_int64() == 5);
                                  }),
                                  // data that arrives later is for the next run
                                  st::assert_on_query([src](sl::streaming_query&) mutable { src.make_available(2); }),
                                  st::check_answer(0, 1, 2, 3, 4),
                                  st::start_stream({.trigger = sl::trigger::available_now()}),
                                  st::await_termination(),
                                  st::check_new_answer(5, 6),
                                  runs_batches(1)));
}

TEST_CASE("triggers: available_now with a memory stream closes windows with its no-data batch and stops",
          "[semantics][triggers]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::append,
                                  st::add_data(in, at({10, 11})),
                                  st::add_data(in, at({25})),
                                  st::start_stream({.trigger = sl::trigger::available_now()}),
                                  st::await_termination(),
                                  terminated(),
                                  st::check_answer(wc(10, 15, 2)),
                                  runs_batches(2)));  // one batch with both units, one no-data batch
}

TEST_CASE("triggers: a processing-time trigger processes the data", "[semantics][triggers]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(windowed(in), sl::output_mode::update,
                                  st::start_stream({.trigger = sl::trigger::processing_time(20ms)}),
                                  st::add_data(in, at({10, 11})),
                                  st::check_new_answer(wc(10, 15, 2)),
                                  st::add_data(in, at({12})),
                                  st::check_new_answer(wc(10, 15, 3))));
}

TEST_CASE("triggers: process_all_available returns once a trigger-once run has ended by itself",
          "[semantics][triggers]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  in.add_data({ev(1s)});
  auto q = sl::start(in | sink, sl::output_mode::append, {.trigger = sl::trigger::once()});
  REQUIRE(q.await_termination(10s));
  CHECK_NOTHROW(q.process_all_available());  // Spark: returns at once on an inactive query
  CHECK(sink.rows().size() == 1);
}

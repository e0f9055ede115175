// Query listeners (Spark's StreamingQueryListener), the query manager (spark.streams) and the
// Prometheus text of its metrics: events and their fields, a throwing listener that must not
// stop the query, idle events paced by noDataProgressEventInterval, active / get /
// await_any_termination / reset_terminated, and metric values checked against progress.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sluice/manage/metrics.hpp>  // not in the umbrella: only the program that exposes metrics needs it

#include "semantics_support.hpp"

using namespace sem;

namespace {

// Records every event it is told of.
struct recorder : sl::query_listener {
  std::mutex m;
  std::vector<std::string> log;  // "started" / "progress N" / "idle" / "terminated"
  std::vector<sl::query_started_event> started;
  std::vector<sl::query_progress> progress;
  std::vector<sl::query_idle_event> idle;
  std::vector<sl::query_terminated_event> terminated;
  void on_query_started(const sl::query_started_event& e) override {
    std::lock_guard l(m);
    log.push_back("started");
    started.push_back(e);
  }
  void on_query_progress(const sl::query_progress_event& e) override {
    std::lock_guard l(m);
    log.push_back("progress " + std::to_string(e.progress.batch_id));
    progress.push_back(e.progress);
  }
  void on_query_idle(const sl::query_idle_event& e) override {
    std::lock_guard l(m);
    log.push_back("idle");
    idle.push_back(e);
  }
  void on_query_terminated(const sl::query_terminated_event& e) override {
    std::lock_guard l(m);
    log.push_back("terminated");
    terminated.push_back(e);
  }
  std::size_t idle_count() {
    std::lock_guard l(m);
    return idle.size();
  }
};

// Throws from every callback: a std::exception from some, something else from others.
struct thrower : sl::query_listener {
  std::atomic<int> calls{0};
  void on_query_started(const sl::query_started_event&) override {
    ++calls;
    throw std::runtime_error("listener failed at start");
  }
  void on_query_progress(const sl::query_progress_event&) override {
    ++calls;
    throw 42;
  }
  void on_query_idle(const sl::query_idle_event&) override {
    ++calls;
    throw std::logic_error("idle");
  }
  void on_query_terminated(const sl::query_terminated_event&) override {
    ++calls;
    throw std::runtime_error("terminated");
  }
};

auto failing_map(const sl::memory_stream<Event>& in) {
  return in | sl::map([](const Event& e) {
           if (e.value < 0) throw std::domain_error("negative value " + std::to_string(e.value));
           return e;
         });
}

}  // namespace

TEST_CASE("listener: started, progress and terminated with Spark's fields", "[manage][listener]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  auto rec = std::make_shared<recorder>();
  auto q = sl::start(in | sink, sl::output_mode::append,
                     {.name = "events", .listeners = {rec}, .no_data_progress_event_interval = std::chrono::hours(1)});
  {
    // Spark: onQueryStarted before start() returns.
    std::lock_guard l(rec->m);
    REQUIRE(rec->started.size() == 1);
    CHECK(rec->started[0].id == q.id());
    CHECK(rec->started[0].run_id == q.run_id());
    CHECK(rec->started[0].name == "events");
    const auto j = rec->started[0].to_json();
    CHECK(j.at("id").as_string() == q.id());
    CHECK(j.at("runId").as_string() == q.run_id());
    CHECK(j.at("name").as_string() == "events");
    CHECK(j.contains("timestamp"));
  }
  in.add_data({ev(1s), ev(2s)});
  q.process_all_available();
  in.add_data({ev(3s)});
  q.process_all_available();
  q.stop();
  std::lock_guard l(rec->m);
  REQUIRE(rec->progress.size() == 2);
  CHECK(rec->progress[0].batch_id == 0);
  CHECK(rec->progress[0].num_input_rows == 2);
  CHECK(rec->progress[1].num_input_rows == 1);
  CHECK(rec->progress[1].json() == q.recent_progress().back().json());  // the same progress the handle has
  REQUIRE(rec->terminated.size() == 1);
  CHECK(rec->terminated[0].id == q.id());
  CHECK(rec->terminated[0].run_id == q.run_id());
  CHECK_FALSE(rec->terminated[0].exception);
  CHECK(rec->terminated[0].to_json().at("exception").is_null());
  CHECK(rec->log.front() == "started");
  CHECK(rec->log.back() == "terminated");
  // One idle event at most: the interval is an hour (the first idle trigger sends one).
  CHECK(rec->idle.size() <= 1);
}

TEST_CASE("listener: a failed query's terminated event carries the exception", "[manage][listener]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  auto rec = std::make_shared<recorder>();
  auto q = sl::start(failing_map(in) | sink, sl::output_mode::append, {.listeners = {rec}});
  in.add_data({ev(1s, "a", -3)});
  CHECK_THROWS(q.process_all_available());
  // The event is sent before the query counts as terminated.
  std::lock_guard l(rec->m);
  REQUIRE(rec->terminated.size() == 1);
  REQUIRE(rec->terminated[0].exception);
  CHECK_THAT(*rec->terminated[0].exception, Catch::Contains("negative value -3") && Catch::Contains(q.id()));
  CHECK(rec->terminated[0].to_json().at("exception").as_string() == q.exception()->what());
}

TEST_CASE("listener: one that throws does not stop the query or the other listeners", "[manage][listener]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  auto bad = std::make_shared<thrower>();
  auto rec = std::make_shared<recorder>();
  auto q = sl::start(in | sink, sl::output_mode::append,
                     {.listeners = {bad, nullptr, rec}, .no_data_progress_event_interval = std::chrono::milliseconds(1)});
  for (int i = 0; i < 3; ++i) {
    in.add_data({ev(std::chrono::seconds(i))});
    q.process_all_available();
  }
  std::this_thread::sleep_for(50ms);  // idle triggers: the thrower throws from on_query_idle too
  CHECK(q.is_active());
  CHECK_FALSE(q.exception());
  CHECK(sink.rows().size() == 3);
  q.stop();
  CHECK_FALSE(q.exception());
  CHECK(bad->calls >= 1 + 3 + 1 + 1);  // started, 3 progress, idle, terminated
  std::lock_guard l(rec->m);
  CHECK(rec->started.size() == 1);
  CHECK(rec->progress.size() == 3);
  CHECK(rec->terminated.size() == 1);
  CHECK_FALSE(rec->idle.empty());
}

TEST_CASE("listener: idle events are paced by no_data_progress_event_interval", "[manage][listener]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  auto slow = std::make_shared<recorder>();
  auto fast = std::make_shared<recorder>();
  auto q1 = sl::start(in | sink, sl::output_mode::append,
                      {.listeners = {slow}, .no_data_progress_event_interval = std::chrono::hours(1)});
  auto in2 = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink2;
  auto q2 = sl::start(in2 | sink2, sl::output_mode::append,
                      {.listeners = {fast}, .no_data_progress_event_interval = std::chrono::milliseconds(20)});
  std::this_thread::sleep_for(300ms);
  q1.stop();
  q2.stop();
  CHECK(slow->idle_count() == 1);  // the first trigger without data, then none for an hour
  CHECK(fast->idle_count() >= 3);
  CHECK(fast->idle_count() <= 16);  // not one per polling trigger (every 10 ms)
  std::lock_guard l(fast->m);
  CHECK(fast->idle[0].id == q2.id());
  CHECK(fast->idle[0].run_id == q2.run_id());
}

TEST_CASE("manager: active, get by id or name, names and checkpoints unique among active queries",
          "[manage][manager]") {
  sl::query_manager streams;
  auto in1 = sl::memory_stream<Event>();
  auto in2 = sl::memory_stream<Event>();
  sl::memory_sink<Event> s1, s2, s3;
  auto a = streams.start(in1 | s1, sl::output_mode::append, {.name = "alpha"});
  auto b = streams.start(in2 | s2, sl::output_mode::append, {.name = "beta"});
  CHECK(streams.active().size() == 2);
  REQUIRE(streams.get(a.id()));
  CHECK(streams.get(a.id())->run_id() == a.run_id());
  REQUIRE(streams.get("beta"));
  CHECK(streams.get("beta")->id() == b.id());
  CHECK_FALSE(streams.get("gamma"));
  CHECK_THROWS_WITH(streams.start(in1 | s3, sl::output_mode::append, {.name = "alpha"}),
                    Catch::Contains("name alpha") && Catch::Contains("already active"));

  const auto dir = std::filesystem::path(SLUICE_TESTS_BINARY_DIR) / "work" / "manage_checkpoint";
  std::filesystem::remove_all(dir);
  auto in3 = sl::memory_stream<Event>();
  auto c = streams.start(in3 | s3, sl::output_mode::append, {.checkpoint = dir.string()});
  sl::memory_sink<Event> s4;
  CHECK_THROWS_WITH(streams.start(in3 | s4, sl::output_mode::append, {.checkpoint = (dir / ".").string()}),
                    Catch::Contains("checkpoint") && Catch::Contains(c.id()));

  // The manager holds its queries: dropping the caller's handle does not stop one.
  const std::string a_id = a.id();
  a = b;
  in1.add_data({ev(1s)});
  streams.get(a_id)->process_all_available();
  CHECK(s1.rows().size() == 1);

  streams.get(a_id)->stop();
  CHECK(streams.active().size() == 2);
  CHECK_FALSE(streams.get(a_id));
  CHECK_FALSE(streams.get("alpha"));
  // A stopped query's name is free again.
  auto again = streams.start(in1 | s3, sl::output_mode::append, {.name = "alpha"});
  CHECK(streams.get("alpha")->run_id() == again.run_id());
  const auto all = streams.queries();
  CHECK(all.size() == 4);
  CHECK(std::count_if(all.begin(), all.end(), [](const auto& q) { return !q.active; }) == 1);
}

TEST_CASE("manager: await_any_termination and reset_terminated", "[manage][manager]") {
  sl::query_manager streams;
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  auto q = streams.start(in | sink, sl::output_mode::append);
  CHECK_FALSE(streams.await_any_termination(50ms));
  std::thread stopper([q]() mutable {
    std::this_thread::sleep_for(50ms);
    q.stop();
  });
  CHECK(streams.await_any_termination(10s));
  stopper.join();
  CHECK(streams.await_any_termination(1ms));  // still terminated until reset
  streams.reset_terminated();
  CHECK_FALSE(streams.await_any_termination(20ms));

  auto in2 = sl::memory_stream<Event>();
  auto failing = streams.start(failing_map(in2) | sink, sl::output_mode::append, {.name = "failing"});
  in2.add_data({ev(1s, "a", -1)});
  CHECK_THROWS_AS(streams.await_any_termination(), sl::streaming_query_error);
  CHECK_THROWS_WITH(streams.await_any_termination(), Catch::Contains("negative value -1"));
  streams.reset_terminated();
  CHECK_FALSE(streams.await_any_termination(10ms));
  CHECK(streams.active().empty());
}

TEST_CASE("manager: listeners get the events of every managed query, removed ones get no more", "[manage][manager]") {
  sl::query_manager streams;
  auto rec = std::make_shared<recorder>();
  auto bad = std::make_shared<thrower>();
  streams.add_listener(bad);
  streams.add_listener(rec);
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  auto q = streams.start(in | sink, sl::output_mode::append, {.name = "one"});
  in.add_data({ev(1s)});
  q.process_all_available();
  streams.remove_listener(rec);
  in.add_data({ev(2s)});
  q.process_all_available();
  q.stop();
  CHECK(sink.rows().size() == 2);
  std::lock_guard l(rec->m);
  CHECK(rec->started.size() == 1);
  CHECK(rec->started[0].name == "one");
  CHECK(rec->progress.size() == 1);
  CHECK(rec->terminated.empty());
}

TEST_CASE("manager: keeps the newest terminated queries only", "[manage][manager]") {
  sl::query_manager streams(2);
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  std::vector<std::string> runs;
  for (int i = 0; i < 4; ++i) {
    auto q = streams.start(in | sink, sl::output_mode::append, {.name = "run" + std::to_string(i)});
    runs.push_back(q.run_id());
    q.stop();
  }
  auto live = streams.start(in | sink, sl::output_mode::append, {.name = "live"});
  const auto all = streams.queries();
  REQUIRE(all.size() == 3);
  CHECK(all[0].run_id == runs[2]);
  CHECK(all[1].run_id == runs[3]);
  CHECK(all[2].run_id == live.run_id());
  CHECK(all[2].active);
}

TEST_CASE("metrics: Prometheus text from the manager's queries", "[manage][metrics]") {
  sl::query_manager streams;
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<window_count> sink;
  auto plan = in | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
              sl::aggregate(sl::count()) | sink;
  auto q = streams.start(std::move(plan), sl::output_mode::append, {.name = "win\"dows\\"});
  in.add_data({ev(1s), ev(2s), ev(7s)});
  q.process_all_available();
  in.add_data({ev(30s), ev(31s)});
  q.process_all_available();
  in.add_data({ev(1s)});  // late: behind the watermark of 21 s
  q.process_all_available();
  const auto progress = q.recent_progress();
  const auto text = sl::prometheus_text(streams, sl::timestamp{100'000'000});
  const std::string labels = "{query_id=\"" + q.id() + "\",query_name=\"win\\\"dows\\\\\"}";
  std::int64_t rows = 0, dropped = 0;
  for (const auto& p : progress) {
    rows += p.num_input_rows;
    for (const auto& s : p.state_operators) dropped += s.num_rows_dropped_by_watermark;
  }
  CHECK(rows == 6);
  CHECK(dropped == 1);
  CHECK_THAT(text, Catch::Contains("# TYPE sluice_streaming_records_processed_total counter\n"));
  CHECK_THAT(text, Catch::Contains("sluice_streaming_records_processed_total" + labels + " 6\n"));
  CHECK_THAT(text, Catch::Contains("sluice_streaming_batches_total" + labels + " " + std::to_string(progress.size()) + "\n"));
  CHECK_THAT(text, Catch::Contains("sluice_streaming_rows_dropped_by_watermark_total" + labels + " 1\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE sluice_streaming_batch_duration_ms histogram\n"));
  const std::string inf_labels = labels.substr(0, labels.size() - 1) + ",le=\"+Inf\"}";
  CHECK_THAT(text, Catch::Contains("sluice_streaming_batch_duration_ms_bucket" + inf_labels + " " +
                                   std::to_string(progress.size()) + "\n"));
  CHECK_THAT(text, Catch::Contains("sluice_streaming_batch_duration_ms_count" + labels + " " +
                                   std::to_string(progress.size()) + "\n"));
  const auto& last = progress.back();
  CHECK_THAT(text, Catch::Contains("sluice_streaming_batch_id" + labels + " " + std::to_string(last.batch_id) + "\n"));
  REQUIRE(last.event_time.watermark);
  const double wm = static_cast<double>(last.event_time.watermark->micros) / 1e6;
  CHECK(wm == 21.0);
  CHECK_THAT(text, Catch::Contains("sluice_streaming_watermark_seconds" + labels + " 21\n"));
  CHECK_THAT(text, Catch::Contains("sluice_streaming_watermark_lag_seconds" + labels + " 79\n"));  // 100 s - 21 s
  REQUIRE(last.state_operators.size() == 1);
  const std::string op_labels = labels.substr(0, labels.size() - 1) + ",operator=\"0\",operator_name=\"" +
                                last.state_operators[0].operator_name + "\"}";
  CHECK_THAT(text, Catch::Contains("sluice_streaming_state_rows" + op_labels + " " +
                                   std::to_string(last.state_operators[0].num_rows_total) + "\n"));
  CHECK_THAT(text, Catch::Contains("sluice_streaming_query_active" + labels + " 1\n"));
  q.stop();
  CHECK_THAT(sl::prometheus_text(streams), Catch::Contains("sluice_streaming_query_active" + labels + " 0\n"));
}

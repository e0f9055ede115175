// The query handle (Spark's StreamingQuery) and failures: a stage or sink that throws stops the
// query; exception() holds the error, await_termination() and process_all_available() throw
// streaming_query_error; id is stable across restarts, run_id is not; status() and
// recent_progress() with Spark's field names.
#include <catch2/catch.hpp>

#include <filesystem>

#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
auto throwing_map(const sl::memory_stream<Event>& in) {
  return in | sl::map([](const Event& e) {
           if (e.value < 0) throw std::domain_error("negative value " + std::to_string(e.value));
           return e;
         });
}
}  // namespace

TEST_CASE("query: a throwing stage stops the query with its error", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  auto q = sl::start(throwing_map(in) | sink, sl::output_mode::append, {.name = "failing"});
  in.add_data({ev(1s, "a", 1)});
  q.process_all_available();
  REQUIRE(sink.rows().size() == 1);
  CHECK_FALSE(q.exception());

  in.add_data({ev(2s, "a", 2), ev(3s, "a", -5)});
  CHECK_THROWS_WITH(q.process_all_available(), Catch::Contains("negative value -5"));
  CHECK_FALSE(q.is_active());
  const auto error = q.exception();
  REQUIRE(error);
  CHECK(error->batch_id() == 1);
  CHECK_THAT(error->what(), Catch::Contains("failing") && Catch::Contains(q.id()) && Catch::Contains(q.run_id()) &&
                                Catch::Contains("negative value -5"));
  CHECK_THROWS_AS(std::rethrow_exception(error->cause()), std::domain_error);
  CHECK_THROWS_AS(q.await_termination(), sl::streaming_query_error);
  CHECK_THROWS_WITH(q.await_termination(), Catch::Contains("negative value -5"));
  CHECK_THROWS_AS(q.process_all_available(), sl::streaming_query_error);  // again: still failed
  CHECK(q.status().message == "Stopped");
  CHECK(sink.rows().size() == 1);  // the failed batch delivered nothing
  CHECK(sink.last_batch_id() == 0);
  q.stop();  // no hang, no throw
}

TEST_CASE("query: a throwing sink stops the query with its error", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  std::vector<std::int64_t> seen;
  auto sink = sl::foreach_batch([&seen](std::span<const Event> rows, std::int64_t batch_id) {
    seen.push_back(batch_id);
    if (!rows.empty() && rows[0].key == "bad") throw std::runtime_error("sink refused batch " + std::to_string(batch_id));
  });
  auto q = sl::start(in | sink, sl::output_mode::append);
  in.add_data({ev(1s, "ok")});
  q.process_all_available();
  in.add_data({ev(1s, "bad")});
  CHECK_THROWS_AS(q.await_termination(), sl::streaming_query_error);
  CHECK_FALSE(q.is_active());
  REQUIRE(q.exception());
  CHECK_THAT(q.exception()->what(), Catch::Contains("sink refused batch 1"));
  CHECK(seen == std::vector<std::int64_t>{0, 1});
}

TEST_CASE("query: a throwing grouping key or aggregate input stops an aggregation", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::group_by(sl::expr<"k">([](const Event& e) {
             if (e.key.empty()) throw std::invalid_argument("empty key");
             return e.key;
           })) |
           sl::aggregate(sl::count());
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::update,
                                  st::add_data(in, {ev(1s, "a")}),
                                  st::check_new_answer(R{{"a"}, {1}}),
                                  st::add_data(in, {ev(1s, "")}),
                                  st::expect_failure<std::invalid_argument>("empty key"),
                                  st::assert_on_query([](sl::streaming_query& sq) {
                                    return !sq.is_active() && sq.exception()->batch_id() == 1;
                                  })));
}

TEST_CASE("query: awaiting a failing query from another thread returns with the error", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  auto q = sl::start(throwing_map(in) | sink, sl::output_mode::append);
  CHECK_FALSE(q.await_termination(20ms));  // running: the timeout passes
  in.add_data({ev(1s, "a", -1)});
  CHECK_THROWS_AS(q.await_termination(30s), sl::streaming_query_error);
}

TEST_CASE("query: stop ends the query cleanly, await_termination then returns", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  auto q = sl::start(in | sink, sl::output_mode::append);
  CHECK(q.is_active());
  q.stop();
  CHECK_FALSE(q.is_active());
  CHECK_FALSE(q.exception());
  CHECK_NOTHROW(q.await_termination());
  CHECK(q.await_termination(1ms));
  CHECK_NOTHROW(q.process_all_available());  // Spark: returns on an inactive query
  CHECK(q.status().message == "Stopped");
  CHECK_FALSE(q.status().is_trigger_active);
}

TEST_CASE("query: dropping the last handle stops the query", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  std::weak_ptr<sl::detail::query_core> weak;
  {
    auto q = sl::start(in | sink, sl::output_mode::append);
    weak = q.core();
    in.add_data({ev(1s)});
    q.process_all_available();
  }
  CHECK(weak.expired());
  CHECK(sink.rows().size() == 1);
}

TEST_CASE("query: the id survives a restart, the run id does not", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  std::vector<std::string> ids, run_ids;
  auto record = st::assert_on_query([&](sl::streaming_query& q) {
    ids.push_back(q.id());
    run_ids.push_back(q.run_id());
  });
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
           sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::update,
                                  st::add_data(in, {ev(10s), ev(30s)}),
                                  st::check_new_answer(wc(10, 15, 1), wc(30, 35, 1)),
                                  record,
                                  st::stop_stream(),
                                  st::start_stream({.name = "second"}),
                                  // state, offsets, watermark and batch ids carry over
                                  st::assert_watermark(20s),
                                  st::add_data(in, {ev(31s), ev(12s)}),  // 12 is late at 20s
                                  st::check_new_answer(wc(30, 35, 2)),
                                  st::assert_dropped(1),
                                  record,
                                  st::assert_on_query([](sl::streaming_query& sq) {
                                    const auto p = sq.recent_progress();  // this run's only
                                    return !p.empty() && p.front().batch_id == 2 && sq.name() == "second" &&
                                           p.front().sources.at(0).start_offset.at("batches").as_int64() == 1;
                                  }, "the second run goes on from batch 2 and offset 1")));
  REQUIRE(ids.size() == 2);
  CHECK(ids[0] == ids[1]);
  CHECK(run_ids[0] != run_ids[1]);
}

TEST_CASE("query: status while waiting for data", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(in | sl::map([](const Event& e) { return e.value; }), sl::output_mode::append,
                                  st::add_data(in, {ev(1s)}),
                                  st::process_all_available(),
                                  st::assert_on_query([](sl::streaming_query& q) {
                                    const auto s = q.status();
                                    CHECK(s.message == "Waiting for data to arrive");
                                    CHECK_FALSE(s.is_data_available);
                                    CHECK_FALSE(s.is_trigger_active);
                                    const auto j = s.to_json();
                                    CHECK(j.contains("message"));
                                    CHECK(j.contains("isDataAvailable"));
                                    CHECK(j.contains("isTriggerActive"));
                                  })));
}

TEST_CASE("query: progress JSON uses Spark's StreamingQueryProgress field names", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
           sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(
      q, sl::output_mode::update, st::start_stream({.name = "progress"}),
      st::add_data(in, {ev(10s), ev(11s)}),  // batch 0; watermark -> 1s, so no-data batch 1
      st::check_new_answer(wc(10, 15, 2)),
      st::add_data(in, {ev(12s)}),  // batch 2; watermark -> 2s, so no-data batch 3
      st::check_new_answer(wc(10, 15, 3)),
      st::assert_on_query([](sl::streaming_query& sq) {
        const auto all = sq.recent_progress();
        REQUIRE(all.size() == 4);
        REQUIRE(sq.last_progress());
        CHECK(sq.last_progress()->batch_id == 3);

        const auto j0 = all[0].to_json();
        CHECK(j0.at("id").as_string() == sq.id());
        CHECK(j0.at("runId").as_string() == sq.run_id());
        CHECK(j0.at("name").as_string() == "progress");
        CHECK(j0.at("timestamp").as_string().ends_with("Z"));
        CHECK(j0.at("batchId").as_int64() == 0);
        CHECK(j0.at("numInputRows").as_int64() == 2);
        CHECK(j0.at("inputRowsPerSecond").is_number());
        CHECK(j0.at("processedRowsPerSecond").is_number());
        const auto& d = j0.at("durationMs").as_object();
        CHECK(d.contains("triggerExecution"));
        CHECK(d.contains("addBatch"));
        CHECK(d.contains("latestOffset"));
        const auto& et = j0.at("eventTime").as_object();
        CHECK(et.at("watermark").as_string() == "1970-01-01T00:00:00.000Z");
        CHECK(et.at("min").as_string() == "1970-01-01T00:00:10.000Z");
        CHECK(et.at("max").as_string() == "1970-01-01T00:00:11.000Z");
        CHECK(et.at("avg").as_string() == "1970-01-01T00:00:10.500Z");
        const auto& op = j0.at("stateOperators").as_array().at(0).as_object();
        CHECK(op.at("operatorName").is_string());
        CHECK(op.at("numRowsTotal").as_int64() == 1);
        CHECK(op.at("numRowsUpdated").as_int64() == 1);
        CHECK(op.at("numRowsRemoved").as_int64() == 0);
        CHECK(op.at("numRowsDroppedByWatermark").as_int64() == 0);
        CHECK(op.at("memoryUsedBytes").is_int64());
        const auto& src = j0.at("sources").as_array().at(0).as_object();
        CHECK(src.at("description").as_string() == "MemoryStream");
        CHECK(src.at("endOffset") == boost::json::value{{"batches", 1}});
        CHECK(src.at("numInputRows").as_int64() == 2);
        CHECK(src.at("inputRowsPerSecond").is_number());
        const auto& sink = j0.at("sink").as_object();
        CHECK(sink.at("description").is_string());
        CHECK(sink.at("numOutputRows").as_int64() == 1);

        const auto j1 = all[1].to_json();  // the no-data batch
        CHECK(j1.at("numInputRows").as_int64() == 0);
        CHECK(j1.at("eventTime").at("watermark").as_string() == "1970-01-01T00:00:01.000Z");
        CHECK(j1.at("sources").at(0).at("startOffset") == j1.at("sources").at(0).at("endOffset"));

        const auto j2 = all[2].to_json();
        CHECK(j2.at("batchId").as_int64() == 2);
        // A batch starts where the previous one ended.
        CHECK(j2.at("sources").at(0).at("startOffset") == j0.at("sources").at(0).at("endOffset"));
        CHECK(j2.at("sources").at(0).at("endOffset") == boost::json::value{{"batches", 2}});
        CHECK(j2.at("stateOperators").at(0).at("numRowsUpdated").as_int64() == 1);
        CHECK(j2.at("sink").at("numOutputRows").as_int64() == 1);
        // and the JSON text parses back to the same fields (doubles may differ in the last bit)
        const auto parsed = boost::json::parse(all[2].json()).as_object();
        CHECK(parsed.size() == j2.size());
        for (const auto& kv : j2) CHECK(parsed.contains(kv.key()));
        CHECK(parsed.at("sources").at(0).at("endOffset") == j2.at("sources").at(0).at("endOffset"));
        CHECK(parsed.at("stateOperators") == j2.at("stateOperators"));
      })));
}

TEST_CASE("query: recent_progress keeps the last progress_retention batches", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  sl::memory_sink<Event> sink;
  auto q = sl::start(in | sink, sl::output_mode::append, {.progress_retention = 2});
  for (int i = 0; i < 5; ++i) {
    in.add_data({ev(1s)});
    q.process_all_available();
  }
  const auto p = q.recent_progress();
  REQUIRE(p.size() == 2);
  CHECK(p[0].batch_id == 3);
  CHECK(p[1].batch_id == 4);
  CHECK(sink.rows().size() == 5);
}

TEST_CASE("query: foreach_batch sees consecutive batch ids, no-data batches included", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  std::mutex m;
  std::vector<std::pair<std::int64_t, std::size_t>> seen;
  auto counts = in | sl::with_watermark(sl::col<"timestamp">, 0s) |
                sl::group_by(sl::window(sl::col<"timestamp">, 5s)) | sl::aggregate(sl::count());
  using R = decltype(counts)::row_type;
  auto q = sl::start(std::move(counts) | sl::foreach_batch([&](std::span<const R> rows, std::int64_t id) {
                       std::lock_guard lock(m);
                       seen.emplace_back(id, rows.size());
                     }),
                     sl::output_mode::append);
  in.add_data({ev(1s), ev(2s)});
  q.process_all_available();
  in.add_data({ev(7s)});  // closes [0,5) in the no-data batch after it
  q.process_all_available();
  q.stop();
  std::lock_guard lock(m);
  // 0: data (watermark -> 2s), 1: no-data, 2: data (-> 7s), 3: no-data emits [0,5)
  CHECK(seen == std::vector<std::pair<std::int64_t, std::size_t>>{{0, 0}, {1, 0}, {2, 0}, {3, 1}});
}

// ---------------------------------------------------------------- restart after a failure
// Spark re-runs the failed batch from its offsets against the state store's previous version,
// so every row counts once however often a batch is attempted.

TEST_CASE("query: after a failure, a restart re-runs the batch and its rows count once", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  auto fail_once = std::make_shared<std::atomic<bool>>(true);
  auto counts = in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::count());
  using R = decltype(counts)::row_type;
  // fails downstream of the aggregation, after it has taken the batch's rows
  auto q = std::move(counts) | sl::map([fail_once](const R& r) {
             if (sl::get<"count">(r) >= 2 && fail_once->exchange(false)) throw std::runtime_error("transient");
             return r;
           });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                  st::add_data(in, {ev(1s, "a"), ev(1s, "b")}),
                                  st::check_last_batch(R{{"a"}, {1}}, R{{"b"}, {1}}),
                                  st::add_data(in, {ev(1s, "a"), ev(1s, "c")}),
                                  st::expect_failure<std::runtime_error>("transient"),
                                  st::start_stream(),
                                  st::check_last_batch(R{{"a"}, {2}}, R{{"b"}, {1}}, R{{"c"}, {1}}),
                                  st::assert_state_rows(3),
                                  st::assert_on_query([](sl::streaming_query& sq) {
                                    const auto p = sq.recent_progress();
                                    return !p.empty() && p.front().batch_id == 1;  // the failed batch, again
                                  }, "the restart ran batch 1 again")));
}

TEST_CASE("query: a failed batch that closed windows runs again after a restart, and emits them once",
          "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  auto fail_once = std::make_shared<std::atomic<bool>>(true);
  std::mutex m;
  std::vector<std::pair<std::int64_t, window_count>> delivered;
  auto counts = in | sl::with_watermark(sl::col<"timestamp">, 10s) |
                sl::group_by(sl::window(sl::col<"timestamp">, 5s)) | sl::aggregate(sl::count());
  auto sink = sl::foreach_batch([&](std::span<const window_count> rows, std::int64_t id) {
    if (!rows.empty() && fail_once->exchange(false)) throw std::runtime_error("sink down");
    std::lock_guard lock(m);
    for (const auto& r : rows) delivered.emplace_back(id, r);
  });
  // The state of the failed batch's predecessor comes back from the checkpoint.
  const auto checkpoint = std::filesystem::temp_directory_path() / ("sluice-rerun-" + sl::detail::random_uuid());
  const sl::query_options options{.checkpoint = checkpoint.string()};
  auto q = sl::start(std::move(counts) | sink, sl::output_mode::append, options);
  in.add_data({ev(10s), ev(11s), ev(12s)});
  q.process_all_available();
  in.add_data({ev(25s)});  // watermark -> 15s: the no-data batch 3 emits [10,15), the sink fails
  CHECK_THROWS_WITH(q.process_all_available(), Catch::Contains("sink down"));
  REQUIRE(q.exception()->batch_id() == 3);
  // Restart the same query (what st::start_stream does).
  auto again = sl::detail::launch(q.core()->runner(), options);
  again.process_all_available();
  REQUIRE_FALSE(again.exception());
  again.stop();
  std::lock_guard lock(m);
  REQUIRE(delivered.size() == 1);
  CHECK(delivered[0].first == 3);
  CHECK(delivered[0].second == wc(10, 15, 3));
  const auto p = again.recent_progress();
  REQUIRE(!p.empty());
  CHECK(p.front().batch_id == 3);
  CHECK(p.front().state_operators.at(0).num_rows_removed == 1);
  CHECK(p.front().state_operators.at(0).num_rows_total == 1);  // [25,30)
  std::filesystem::remove_all(checkpoint);
}

TEST_CASE("query: a failed stateful query without a checkpoint refuses to run the batch again",
          "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  auto fail_once = std::make_shared<std::atomic<bool>>(true);
  auto counts = in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::count());
  using Row = decltype(counts)::row_type;
  auto sink = sl::foreach_batch([fail_once](std::span<const Row>, std::int64_t) {
    if (fail_once->exchange(false)) throw std::runtime_error("sink down");
  });
  auto q = sl::start(std::move(counts) | sink, sl::output_mode::update);
  in.add_data({ev(10s)});
  CHECK_THROWS_WITH(q.process_all_available(), Catch::Contains("sink down"));
  // Its state may hold half of the failed batch: without a checkpoint it cannot be restored.
  auto again = sl::detail::launch(q.core()->runner(), {});
  CHECK_THROWS_WITH(again.await_termination(), Catch::Contains("no checkpoint"));
}

TEST_CASE("query: a re-run batch reports its own event-time statistics, not the failed run's too",
          "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  auto fail_once = std::make_shared<std::atomic<bool>>(true);
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::map([fail_once](const Event& e) {
             if (e.value == 2 && fail_once->exchange(false)) throw std::runtime_error("transient");
             return e.value;
           });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(10s, "a", 1), ev(20s, "a", 2), ev(30s, "a", 3)}),
                                  st::expect_failure("transient"),
                                  st::start_stream(),
                                  st::check_answer(1, 2, 3),
                                  st::assert_watermark(20s),
                                  st::assert_on_query([](sl::streaming_query& sq) {
                                    const auto p = sq.recent_progress();
                                    REQUIRE(!p.empty());
                                    CHECK(p.front().num_input_rows == 3);
                                    CHECK(p.front().event_time.min == st::ts(10s));
                                    CHECK(p.front().event_time.avg == st::ts(20s));
                                  })));
}

TEST_CASE("query: sort and limit keep no rows from a failed run", "[semantics][query]") {
  auto in = sl::memory_stream<Event>();
  auto fail_once = std::make_shared<std::atomic<bool>>(true);
  auto sorted = in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::count()) | sl::sort_by(sl::col<"key">);
  using R = decltype(sorted)::row_type;
  // fails while sort_by hands its rows on, after limit has taken some
  auto q = std::move(sorted) | sl::map([fail_once](const R& r) {
             if (sl::get<"key">(r) == "b" && fail_once->exchange(false)) throw std::runtime_error("transient");
             return r;
           }) |
           sl::limit(3);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                  st::add_data(in, {ev(1s, "c"), ev(1s, "a"), ev(1s, "b"), ev(1s, "d")}),
                                  st::expect_failure("transient"),
                                  st::start_stream(),
                                  st::check_last_batch_in_order(R{{"a"}, {1}}, R{{"b"}, {1}}, R{{"c"}, {1}})));
}

// sluice::testing itself: each action passes when it should, and fails (throwing
// stream_test_failure with a useful message) when it should.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
auto windowed_counts(const sl::memory_stream<Event>& in) {
  return in | sl::with_watermark(sl::col<"timestamp">, 10s) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
         sl::aggregate(sl::count());
}

// Runs f, requires a stream_test_failure, and returns its message.
template <class F>
std::string failure_of(F&& f) {
  try {
    f();
  } catch (const st::stream_test_failure& e) {
    return e.what();
  }
  FAIL("expected a stream_test_failure");
  return {};
}

struct Total {
  std::string key;
  std::int64_t total = 0;
};
BOOST_DESCRIBE_STRUCT(Total, (), (key, total))
}  // namespace

TEST_CASE("testing: the README example passes", "[testing]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(windowed_counts(in), sl::output_mode::append,
                                  st::add_data(in, {ev(10s), ev(11s), ev(12s)}),
                                  st::check_new_answer(),
                                  st::add_data(in, {ev(25s)}),  // watermark -> 15s
                                  st::check_new_answer(wc(10, 15, 3)),
                                  st::assert_watermark(15s),
                                  st::assert_state_rows(1),
                                  st::stop_stream(),
                                  st::start_stream(),
                                  st::add_data(in, {ev(10s)}),  // late
                                  st::check_new_answer(),
                                  st::assert_dropped(1),
                                  st::check_answer(wc(10, 15, 3))));
}

TEST_CASE("testing: wrong rows fail with expected and actual rows as JSON", "[testing]") {
  auto in = sl::memory_stream<Event>();
  const auto msg = failure_of([&] {
    st::test_stream(windowed_counts(in), sl::output_mode::update, st::add_data(in, {ev(10s), ev(11s)}),
                    st::check_new_answer(wc(10, 15, 3)));
  });
  CHECK_THAT(msg, Catch::Contains("wrong rows in the rows since the last check"));
  CHECK_THAT(msg, Catch::Contains("expected (1 row, any order)"));
  CHECK_THAT(msg, Catch::Contains(R"({"window":{"start":"1970-01-01T00:00:10.000Z","end":"1970-01-01T00:00:15.000Z"},"count":3})"));
  CHECK_THAT(msg, Catch::Contains(R"("count":2)"));
  CHECK_THAT(msg, Catch::Contains("=> CheckNewAnswer"));  // the failing action is marked
  CHECK_THAT(msg, Catch::Contains("== Sink =="));
  CHECK_THAT(msg, Catch::Contains("Output mode: update"));
}

TEST_CASE("testing: check_new_answer sees only rows since the last check, check_answer all of them", "[testing]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::map([](const Event& e) { return e.value; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a", 1), ev(2s, "a", 2)}),
                                  st::check_new_answer(2, 1),  // any order
                                  st::add_data(in, {ev(3s, "a", 3)}),
                                  st::check_new_answer(std::int64_t{3}),
                                  st::check_new_answer(),
                                  st::check_answer(1, 2, 3),
                                  st::check_answer_in_order(1, 2, 3),
                                  st::check_last_batch(3)));
  // And the negative cases.
  CHECK_THAT(failure_of([&] {
               auto in2 = sl::memory_stream<Event>();
               st::test_stream(in2 | sl::map([](const Event& e) { return e.value; }), sl::output_mode::append,
                               st::add_data(in2, {ev(1s, "a", 1)}), st::check_new_answer(1),
                               st::add_data(in2, {ev(2s, "a", 2)}), st::check_new_answer(1, 2));
             }),
             Catch::Contains("missing from actual:\n    1"));
  CHECK_THAT(failure_of([&] {
               auto in2 = sl::memory_stream<Event>();
               st::test_stream(in2 | sl::map([](const Event& e) { return e.value; }), sl::output_mode::append,
                               st::add_data(in2, {ev(1s, "a", 2), ev(1s, "a", 1)}), st::check_answer_in_order(1, 2));
             }),
             Catch::Contains("in this order"));
}

TEST_CASE("testing: doubles compare with a small tolerance, numbers across int and double", "[testing]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::map([](const Event& e) { return static_cast<double>(e.value) / 3.0; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append, st::add_data(in, {ev(1s, "a", 1), ev(1s, "a", 3)}),
                                  st::check_answer(0.3333333333, 1)));
  auto in2 = sl::memory_stream<Event>();
  auto q2 = in2 | sl::map([](const Event& e) { return static_cast<double>(e.value) / 3.0; });
  CHECK_THROWS_AS(st::test_stream(q2, sl::output_mode::append, st::add_data(in2, {ev(1s, "a", 1)}),
                                  st::check_answer(0.3334)),
                  st::stream_test_failure);
}

TEST_CASE("testing: expected rows may be a described struct with the same field names", "[testing]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::sum(sl::col<"value">).as<"total">());
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                  st::add_data(in, {ev(1s, "a", 1), ev(1s, "b", 5), ev(1s, "a", 2)}),
                                  st::check_answer(Total{"a", 3}, Total{"b", 5}),
                                  st::check_last_batch(std::vector<Total>{{"a", 3}, {"b", 5}})));
}

TEST_CASE("testing: make_row builds generated rows with conversions", "[testing]") {
  using R = sl::row<sl::field<"key", std::string>, sl::field<"avg", double>, sl::field<"n", std::int64_t>>;
  const R r = st::make_row<R>("x", 2, 7);
  CHECK(sl::get<"key">(r) == "x");
  CHECK(sl::get<"avg">(r) == 2.0);
  CHECK(sl::get<"n">(r) == 7);
  CHECK(st::ts(1500ms).micros == 1'500'000);
  CHECK(st::win(10s, 15s) == sl::time_window{sl::timestamp{10'000'000}, sl::timestamp{15'000'000}});
}

TEST_CASE("testing: assert_watermark, assert_state_rows and assert_dropped fail with both values", "[testing]") {
  auto run = [&](auto action) {
    return failure_of([&] {
      auto in = sl::memory_stream<Event>();
      st::test_stream(windowed_counts(in), sl::output_mode::append, st::add_data(in, {ev(20s), ev(3s)}), action);
    });
  };
  auto msg = run(st::assert_watermark(11s));
  CHECK_THAT(msg, Catch::Contains("wrong watermark"));
  CHECK_THAT(msg, Catch::Contains("1970-01-01T00:00:11.000Z"));
  CHECK_THAT(msg, Catch::Contains("1970-01-01T00:00:10.000Z"));
  msg = run(st::assert_state_rows(5));
  CHECK_THAT(msg, Catch::Contains("expected: 5"));
  CHECK_THAT(msg, Catch::Contains("actual:   1"));  // [0s, 5s) was evicted by the no-data batch
  msg = run(st::assert_dropped(1));
  CHECK_THAT(msg, Catch::Contains("expected: 1"));
  CHECK_THAT(msg, Catch::Contains("actual:   0"));
}

TEST_CASE("testing: assert_on_query passes the query, false or a throw fails the test", "[testing]") {
  auto in = sl::memory_stream<Event>();
  std::string id;
  REQUIRE_NOTHROW(st::test_stream(in | sl::filter([](const Event&) { return true; }), sl::output_mode::append,
                                  st::assert_on_query([&](sl::streaming_query& q) { id = q.id(); }),
                                  st::assert_on_query([](sl::streaming_query& q) { return q.is_active(); })));
  CHECK(id.size() == 36);
  CHECK_THAT(failure_of([&] {
               auto in2 = sl::memory_stream<Event>();
               st::test_stream(in2 | sl::filter([](const Event&) { return true; }), sl::output_mode::append,
                               st::assert_on_query([](sl::streaming_query&) { return false; }, "is it false?"));
             }),
             Catch::Contains("=> AssertOnQuery: is it false?"));
  CHECK_THAT(failure_of([&] {
               auto in2 = sl::memory_stream<Event>();
               st::test_stream(in2 | sl::filter([](const Event&) { return true; }), sl::output_mode::append,
                               st::assert_on_query([](sl::streaming_query&) { throw std::logic_error("boom"); }));
             }),
             Catch::Contains("boom"));
}

TEST_CASE("testing: expect_failure checks the exception type and message", "[testing]") {
  auto make = [](const sl::memory_stream<Event>& in) {
    return in | sl::map([](const Event& e) {
             if (e.value < 0) throw std::domain_error("negative value " + std::to_string(e.value));
             return e;
           });
  };
  {
    auto in = sl::memory_stream<Event>();
    REQUIRE_NOTHROW(st::test_stream(make(in), sl::output_mode::append, st::add_data(in, {ev(1s, "a", 1)}),
                                    st::check_answer(ev(1s, "a", 1)), st::add_data(in, {ev(2s, "a", -7)}),
                                    st::expect_failure<std::domain_error>("negative value -7"),
                                    // restart: the failed batch runs again, and fails again
                                    st::start_stream(), st::expect_failure<std::domain_error>()));
  }
  {
    auto in = sl::memory_stream<Event>();
    const auto msg = failure_of([&] {
      st::test_stream(make(in), sl::output_mode::append, st::add_data(in, {ev(2s, "a", -7)}),
                      st::expect_failure<std::invalid_argument>());
    });
    CHECK_THAT(msg, Catch::Contains("wrong exception type"));
    CHECK_THAT(msg, Catch::Contains("std::domain_error"));
  }
  {  // the type is the cause's: a logic_error cause is not a runtime_error, though the
     // streaming_query_error wrapping it is
    auto in = sl::memory_stream<Event>();
    CHECK_THAT(failure_of([&] {
                 st::test_stream(make(in), sl::output_mode::append, st::add_data(in, {ev(2s, "a", -7)}),
                                 st::expect_failure<std::runtime_error>());
               }),
               Catch::Contains("wrong exception type"));
    auto in2 = sl::memory_stream<Event>();
    CHECK_NOTHROW(st::test_stream(make(in2), sl::output_mode::append, st::add_data(in2, {ev(2s, "a", -7)}),
                                  st::expect_failure<std::logic_error>("negative"),
                                  st::stop_stream(), st::start_stream(),
                                  st::expect_failure<sl::streaming_query_error>("terminated with exception in batch 0")));
  }
  {
    auto in = sl::memory_stream<Event>();
    CHECK_THAT(failure_of([&] {
                 st::test_stream(make(in), sl::output_mode::append, st::add_data(in, {ev(2s, "a", 1)}),
                                 st::expect_failure());
               }),
               Catch::Contains("expected the query to fail, but it processed all available data"));
  }
  {  // an unexpected failure is reported by the next check, with its cause
    auto in = sl::memory_stream<Event>();
    const auto msg = failure_of([&] {
      st::test_stream(make(in), sl::output_mode::append, st::add_data(in, {ev(2s, "a", -3)}), st::check_answer());
    });
    CHECK_THAT(msg, Catch::Contains("the query failed unexpectedly"));
    CHECK_THAT(msg, Catch::Contains("negative value -3"));
  }
}

TEST_CASE("testing: start_stream before the first check replaces the implicit start", "[testing]") {
  auto in = sl::memory_stream<Event>();
  std::vector<std::string> runs;
  auto q = in | sl::map([](const Event& e) { return e.value; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a", 1)}),
                                  st::start_stream({.name = "manual"}),
                                  st::check_answer(1),
                                  st::assert_on_query([&](sl::streaming_query& sq) { runs.push_back(sq.run_id()); return sq.name() == "manual"; }),
                                  st::stop_stream(),
                                  st::add_data(in, {ev(1s, "a", 2)}),  // while stopped
                                  st::start_stream(),
                                  st::check_new_answer(2),
                                  st::assert_on_query([&](sl::streaming_query& sq) { runs.push_back(sq.run_id()); })));
  REQUIRE(runs.size() == 2);
  CHECK(runs[0] != runs[1]);
  CHECK_THAT(failure_of([&] {
               auto in2 = sl::memory_stream<Event>();
               st::test_stream(in2 | sl::map([](const Event& e) { return e.value; }), sl::output_mode::append,
                               st::check_answer(), st::start_stream());  // already started implicitly
             }),
             Catch::Contains("already running"));
}

TEST_CASE("testing: check_answer_by and check_last_batch_by get the typed rows", "[testing]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::aggregate(sl::count(), sl::approx_count_distinct(sl::col<"value">));
  using R = decltype(q)::row_type;
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete, st::add_data(in, {ev(1s, "a", 1), ev(1s, "a", 2)}),
                                  st::check_last_batch_by([](const std::vector<R>& rows) {
                                    return rows.size() == 1 && sl::get<"count">(rows[0]) == 2;
                                  })));
  auto in2 = sl::memory_stream<Event>();
  auto q2 = in2 | sl::aggregate(sl::count());
  using R2 = decltype(q2)::row_type;
  CHECK_THAT(failure_of([&] {
               st::test_stream(q2, sl::output_mode::complete, st::add_data(in2, {ev(1s)}),
                               st::check_answer_by([](const std::vector<R2>& rows) { return rows.empty(); }, "empty?"));
             }),
             Catch::Contains("the check function returned false (empty?)"));
}

TEST_CASE("testing: start_stream after stop_stream is a new query on the same checkpoint, from a fresh graph",
          "[testing]") {
  auto in = sl::memory_stream<Event>();
  // A stage that remembers rows in memory only: a restart (as in Spark) does not keep it.
  auto q = in | sl::map([n = std::int64_t{0}](const Event&) mutable { return ++n; });
  std::vector<std::string> ids;
  auto record_id = [&](sl::streaming_query& sq) { ids.push_back(sq.id()); };
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(in, {ev(1s), ev(2s)}), st::check_answer(1, 2),
                                  st::assert_on_query(record_id),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in, {ev(3s)}),
                                  st::check_new_answer(1),  // the rows before came from the checkpoint's offsets
                                  st::assert_on_query(record_id)));
  REQUIRE(ids.size() == 2);
  CHECK(ids[0] == ids[1]);  // the query id is the checkpoint's
}

TEST_CASE("testing: multi_add_data puts the units of several streams in one batch", "[testing]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  auto q = sl::union_all(a, b) | sl::map([](const Event& e) { return e.value; });
  std::size_t batches = 0;
  auto both = [&](std::int64_t x, std::int64_t y) {
    return st::multi_add_data(st::add_data(a, {ev(1s, "a", x)}), st::add_data(b, {ev(1s, "b", y)}));
  };
  // Many times, while the query runs: without the lock a batch could be planned in between.
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  both(1, 2), st::check_last_batch(1, 2), both(3, 4), both(5, 6), both(7, 8),
                                  st::process_all_available(), both(9, 10), st::check_new_answer(3, 4, 5, 6, 7, 8, 9, 10),
                                  st::assert_on_query([&](sl::streaming_query& sq) {
                                    for (const auto& p : sq.recent_progress()) {
                                      ++batches;
                                      CHECK(p.num_input_rows % 2 == 0);
                                      CHECK(p.sources.at(0).num_input_rows == p.sources.at(1).num_input_rows);
                                    }
                                  })));
  CHECK(batches >= 2);
  // Before the query starts, too: the implicit start waits for it.
  auto c = sl::memory_stream<Event>();
  auto d = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(sl::union_all(c, d) | sl::map([](const Event& e) { return e.value; }),
                                  sl::output_mode::append,
                                  st::multi_add_data(st::add_data(c, {ev(1s, "c", 1)}), st::add_data(d, {ev(1s, "d", 2)})),
                                  st::check_last_batch(1, 2)));
  CHECK_THAT(st::multi_add_data(st::add_data(c, {ev(1s)}), st::add_data(d, {ev(2s)})).describe(),
             Catch::StartsWith("MultiAddData: [ AddData to MemoryStream") && Catch::Contains(" | AddData"));
}

TEST_CASE("testing: assert_num_rows_dropped_by_watermark looks at the last batch with input rows", "[testing]") {
  auto in = sl::memory_stream<Event>();
  REQUIRE_NOTHROW(st::test_stream(windowed_counts(in), sl::output_mode::append,
                                  st::add_data(in, {ev(25s)}),  // watermark -> 15s (a no-data batch follows)
                                  st::assert_num_rows_dropped_by_watermark(0),
                                  st::add_data(in, {ev(1s), ev(2s), ev(26s)}),  // two late rows
                                  st::assert_num_rows_dropped_by_watermark(2),
                                  st::add_data(in, {ev(3s)}),
                                  st::assert_num_rows_dropped_by_watermark(1),
                                  st::assert_dropped(3)));  // every batch
  const auto msg = failure_of([&] {
    auto in2 = sl::memory_stream<Event>();
    st::test_stream(windowed_counts(in2), sl::output_mode::append, st::add_data(in2, {ev(25s)}),
                    st::process_all_available(), st::add_data(in2, {ev(1s), ev(26s)}),
                    st::assert_num_rows_dropped_by_watermark(2));
  });
  CHECK_THAT(msg, Catch::Contains("numRowsDroppedByWatermark of the last batch with input rows"));
  CHECK_THAT(msg, Catch::Contains("expected: 2"));
  CHECK_THAT(msg, Catch::Contains("actual:   1"));
  CHECK_THAT(failure_of([&] {
               auto in3 = sl::memory_stream<Event>();
               st::test_stream(windowed_counts(in3), sl::output_mode::append,
                               st::assert_num_rows_dropped_by_watermark(0));
             }),
             Catch::Contains("no batch with input rows"));
}

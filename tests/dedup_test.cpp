// Deduplication, after Spark's StreamingDeduplicationSuite and
// StreamingDeduplicationWithinWatermarkSuite (case by case, event times in seconds): the first
// row of a key is emitted, later ones dropped; the state is evicted by the watermark when the
// event-time column is a key (drop_duplicates) or at event time + delay (within watermark);
// late rows are dropped and counted; restarts keep the state; chained with an aggregation.
// Then a property test against a plain reference on random out-of-order input, random batch
// boundaries and restarts from the checkpoint.
#include <catch2/catch.hpp>

#include <sluice/checkpoint/inspect.hpp>

#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "semantics_support.hpp"
#include "stateful_property_support.hpp"

using namespace sem;

namespace {
struct Word {
  std::string value;
};
BOOST_DESCRIBE_STRUCT(Word, (), (value))

struct Pair {  // Spark's (String, Int) tuples
  std::string _1;
  std::int64_t _2 = 0;
};
BOOST_DESCRIBE_STRUCT(Pair, (), (_1, _2))

struct Timed {  // (id, time) with the time as an event-time column
  std::int64_t id = 0;
  sl::timestamp time;
};
BOOST_DESCRIBE_STRUCT(Timed, (), (id, time))

Timed timed(std::int64_t time_s, std::int64_t id) { return {id, st::ts(std::chrono::seconds(time_s))}; }

struct TimeOnly {
  sl::timestamp eventTime;
};
BOOST_DESCRIBE_STRUCT(TimeOnly, (), (eventTime))
TimeOnly at(std::int64_t s) { return {st::ts(std::chrono::seconds(s))}; }

// The state rows of each stateful operator in the last progress, in graph order.
auto state_totals(std::vector<std::int64_t> expected) {
  return st::assert_on_query([expected](sl::streaming_query& q) {
    const auto p = q.last_progress();
    REQUIRE(p);
    std::vector<std::int64_t> actual;
    for (const auto& op : p->state_operators) actual.push_back(op.num_rows_total);
    CHECK(actual == expected);
    return actual == expected;
  });
}
}  // namespace

TEST_CASE("dedup: all columns (Spark: deduplicate with all columns)", "[dedup]") {
  auto in = sl::memory_stream<Word>();
  REQUIRE_NOTHROW(st::test_stream(in | sl::drop_duplicates(), sl::output_mode::append,
                                  st::add_data(in, {{"a"}}), st::check_last_batch(Word{"a"}),
                                  st::assert_state_rows(1, 1), st::assert_dropped(0),
                                  st::add_data(in, {{"a"}}), st::check_last_batch(),
                                  st::assert_state_rows(1), st::add_data(in, {{"b"}}),
                                  st::check_last_batch(Word{"b"}), st::assert_state_rows(2, 1)));
}

TEST_CASE("dedup: some columns (Spark: deduplicate with some columns)", "[dedup]") {
  auto in = sl::memory_stream<Pair>();
  REQUIRE_NOTHROW(st::test_stream(in | sl::drop_duplicates(sl::col<"_1">), sl::output_mode::append,
                                  st::add_data(in, {{"a", 1}}), st::check_last_batch(Pair{"a", 1}),
                                  st::assert_state_rows(1, 1),
                                  st::add_data(in, {{"a", 2}}),  // dropped
                                  st::check_last_batch(), st::assert_state_rows(1),
                                  st::add_data(in, {{"b", 1}}), st::check_last_batch(Pair{"b", 1}),
                                  st::assert_state_rows(2, 1)));
}

TEST_CASE("dedup: within a batch the first row of a key wins, in arrival order", "[dedup]") {
  auto in = sl::memory_stream<Pair>();
  REQUIRE_NOTHROW(st::test_stream(in | sl::drop_duplicates(sl::col<"_1">), sl::output_mode::update,
                                  st::add_data(in, {{"b", 1}, {"a", 2}, {"b", 3}, {"a", 4}, {"c", 5}}),
                                  st::check_last_batch_in_order(Pair{"b", 1}, Pair{"a", 2}, Pair{"c", 5})));
}

TEST_CASE("dedup: multiple deduplicates (Spark: multiple deduplicates)", "[dedup]") {
  auto in = sl::memory_stream<Pair>();
  REQUIRE_NOTHROW(st::test_stream(in | sl::drop_duplicates() | sl::drop_duplicates(sl::col<"_1">),
                                  sl::output_mode::append, st::add_data(in, {{"a", 1}}),
                                  st::check_last_batch(Pair{"a", 1}), state_totals({1, 1}),
                                  st::add_data(in, {{"a", 2}}),  // dropped by the second
                                  st::check_last_batch(), state_totals({2, 1}),
                                  st::add_data(in, {{"b", 1}}), st::check_last_batch(Pair{"b", 1}),
                                  state_totals({3, 2})));
}

TEST_CASE("dedup: with a watermark on a key column, state is evicted and late rows dropped "
          "(Spark: deduplicate with watermark)",
          "[dedup]") {
  auto in = sl::memory_stream<TimeOnly>();
  std::vector<TimeOnly> first;
  for (int i = 0; i < 5; ++i)
    for (int s = 10; s <= 15; ++s) first.push_back(at(s));
  REQUIRE_NOTHROW(st::test_stream(
      in | sl::with_watermark(sl::col<"eventTime">, 10s) | sl::drop_duplicates(), sl::output_mode::append,
      st::add_data(in, first),
      st::check_answer(at(10), at(11), at(12), at(13), at(14), at(15)), st::assert_state_rows(6, 6),
      st::add_data(in, {at(25)}),  // watermark -> 15 s; the no-data batch evicts 10..15
      st::check_new_answer(at(25)), st::assert_state_rows(1, 1),
      st::add_data(in, {at(10)}),  // late
      st::check_new_answer(), st::assert_state_rows(1), st::assert_dropped(1),
      st::add_data(in, {at(45)}),  // watermark -> 35 s; the no-data batch evicts 25
      st::check_new_answer(at(45)), st::assert_state_rows(1, 1),
      st::add_data(in, {at(25)}),  // late
      st::check_new_answer(), st::assert_state_rows(1), st::assert_dropped(2)));
}

TEST_CASE("dedup: the watermark filter uses the keys' event time, whatever their order (Spark: SPARK-19841)",
          "[dedup]") {
  auto in = sl::memory_stream<Timed>();
  auto q = in | sl::with_watermark(sl::col<"time">, 1s) | sl::drop_duplicates(sl::col<"id">, sl::col<"time">) |
           sl::map([](const Timed& t) { return Word{std::to_string(t.id)}; });
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append, st::add_data(in, {timed(1, 1), timed(1, 1), timed(1, 2)}),
      st::check_answer(Word{"1"}, Word{"2"}), st::add_data(in, {timed(1, 1), timed(2, 3), timed(2, 4)}),
      st::check_new_answer(Word{"3"}, Word{"4"}),
      st::add_data(in, {timed(1, 0), timed(1, 1), timed(3, 5), timed(3, 6)}),  // (1, 0), (1, 1) late
      st::check_new_answer(Word{"5"}, Word{"6"}), st::add_data(in, {timed(1, 0), timed(4, 7)}),  // (1, 0) late
      st::check_new_answer(Word{"7"}), st::assert_dropped(3)));
}

TEST_CASE("dedup: a watermark on a column that is not a key drops late rows but never evicts "
          "(Spark: SPARK-21546)",
          "[dedup]") {
  auto in = sl::memory_stream<Timed>();
  REQUIRE_NOTHROW(st::test_stream(
      in | sl::with_watermark(sl::col<"time">, 1s) | sl::drop_duplicates(sl::col<"id">), sl::output_mode::append,
      st::add_data(in, {timed(1, 1), timed(2, 1), timed(2, 2)}), st::check_answer(timed(1, 1), timed(2, 2)),
      st::add_data(in, {timed(100, 3)}),  // watermark -> 99 s
      st::check_new_answer(timed(100, 3)),
      st::add_data(in, {timed(200, 1), timed(50, 4)}),  // id 1 is still known; (50, 4) is late
      st::check_new_answer(), st::assert_state_rows(3), st::assert_dropped(1)));
}

TEST_CASE("dedup: the state survives a restart from the checkpoint", "[dedup][checkpoint]") {
  // Each run builds the graph again, as a new process would: the state comes from the checkpoint.
  const auto dir = std::filesystem::temp_directory_path() / ("sluice-dedup-restart-" + std::to_string(std::random_device{}()));
  std::filesystem::remove_all(dir);
  sl::memory_stream<TimeOnly> in;
  std::mutex m;
  std::vector<std::string> out;
  auto run = [&](std::vector<TimeOnly> rows, std::int64_t snapshot_interval) {
    auto q = sl::start(in | sl::with_watermark(sl::col<"eventTime">, 10s) | sl::drop_duplicates() |
                           sl::foreach_batch([&](std::span<const TimeOnly> rs, std::int64_t) {
                             std::lock_guard lock(m);
                             for (const auto& r : rs) out.push_back(sl::to_json_string(r));
                           }),
                       sl::output_mode::append,
                       {.checkpoint = (dir / "ck").string(), .state_snapshot_interval = snapshot_interval});
    in.add_data(std::move(rows));
    q.process_all_available();
    const auto p = q.last_progress();
    q.stop();
    std::vector<std::string> got;
    std::swap(got, out);
    return std::make_pair(got, p->state_operators.at(0).num_rows_total);
  };
  auto json = [](std::initializer_list<std::int64_t> ss) {
    std::vector<std::string> v;
    for (auto s : ss) v.push_back(sl::to_json_string(at(s)));
    return v;
  };
  CHECK(run({at(10), at(11), at(10)}, 2) == std::make_pair(json({10, 11}), std::int64_t{2}));
  CHECK(run({at(11), at(12)}, 2) == std::make_pair(json({12}), std::int64_t{3}));  // 11 is known after the restart
  CHECK(run({at(30)}, 2) == std::make_pair(json({30}), std::int64_t{1}));  // watermark -> 20 s: 10..12 evicted
  CHECK(run({at(30), at(31), at(15)}, 2) == std::make_pair(json({31}), std::int64_t{2}));  // 30 known, 15 late
  std::filesystem::remove_all(dir);
}

TEST_CASE("dedup: followed by an aggregation in append mode (Spark: deduplicate with aggregate - append mode)",
          "[dedup]") {
  auto in = sl::memory_stream<TimeOnly>();
  auto q = in | sl::with_watermark(sl::col<"eventTime">, 10s) | sl::drop_duplicates() |
           sl::group_by(sl::window(sl::col<"eventTime">, 5s)) | sl::aggregate(sl::count());
  std::vector<TimeOnly> first;
  for (int i = 0; i < 5; ++i)
    for (int s = 10; s <= 15; ++s) first.push_back(at(s));
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append, st::add_data(in, first), st::check_new_answer(),
      state_totals({6, 2}),  // dedup 10..15; windows [10, 15) and [15, 20)
      st::add_data(in, {at(25)}),  // watermark -> 15 s
      st::check_new_answer(wc(10, 15, 5)), state_totals({1, 2}),
      st::add_data(in, {at(10)}),  // late, dropped by the deduplication
      st::check_new_answer(), state_totals({1, 2}), st::assert_dropped(1),
      st::add_data(in, {at(40)}),  // watermark -> 30 s
      st::check_new_answer(wc(15, 20, 1), wc(25, 30, 1)), state_totals({1, 1})));
}

TEST_CASE("dedup: followed by an aggregation in update and complete mode "
          "(Spark: deduplicate with aggregate - update mode, complete mode)",
          "[dedup]") {
  using R = sl::row<sl::field<"_1", std::string>, sl::field<"sum(_2)", std::int64_t>>;
  auto r = [](const char* k, std::int64_t s) { return R{{k}, {s}}; };
  SECTION("update") {
    auto in = sl::memory_stream<Pair>();
    auto q = in | sl::drop_duplicates() | sl::group_by(sl::col<"_1">) | sl::aggregate(sl::sum(sl::col<"_2">));
    REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update, st::add_data(in, {{"a", 1}}),
                                    st::check_last_batch(r("a", 1)), state_totals({1, 1}),
                                    st::add_data(in, {{"a", 1}}),  // dropped
                                    st::check_last_batch(), state_totals({1, 1}), st::add_data(in, {{"a", 2}}),
                                    st::check_last_batch(r("a", 3)), state_totals({2, 1}),
                                    st::add_data(in, {{"b", 1}}), st::check_last_batch(r("b", 1)),
                                    state_totals({3, 2})));
  }
  SECTION("complete") {
    auto in = sl::memory_stream<Pair>();
    auto q = in | sl::drop_duplicates() | sl::group_by(sl::col<"_1">) | sl::aggregate(sl::sum(sl::col<"_2">));
    REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::complete, st::add_data(in, {{"a", 1}}),
                                    st::check_last_batch(r("a", 1)), st::add_data(in, {{"a", 1}}),
                                    st::check_last_batch(r("a", 1)), st::add_data(in, {{"a", 2}}),
                                    st::check_last_batch(r("a", 3)), st::add_data(in, {{"b", 1}}),
                                    st::check_last_batch(r("a", 3), r("b", 1))));
  }
}

TEST_CASE("dedup: a no-data batch evicts once the watermark moves, and not with the option off "
          "(Spark: test no-data flag)",
          "[dedup]") {
  auto in = sl::memory_stream<TimeOnly>();
  auto check = [](std::int64_t batches, std::int64_t state) {
    return st::assert_on_query([=](sl::streaming_query& q) {
      const auto p = q.last_progress();
      return p && p->batch_id + 1 == batches && p->state_operators.at(0).num_rows_total == state;
    });
  };
  SECTION("on") {
    REQUIRE_NOTHROW(st::test_stream(
        in | sl::with_watermark(sl::col<"eventTime">, 10s) | sl::drop_duplicates(), sl::output_mode::append,
        st::add_data(in, {at(10), at(11)}), st::check_new_answer(at(10), at(11)),
        st::add_data(in, {at(25)}),  // watermark -> 15 s, then a no-data batch evicts 10 and 11
        st::check_new_answer(at(25)), check(4, 1)));
  }
  SECTION("off") {
    REQUIRE_NOTHROW(st::test_stream(
        in | sl::with_watermark(sl::col<"eventTime">, 10s) | sl::drop_duplicates(), sl::output_mode::append,
        st::start_stream({.no_data_micro_batches = false}), st::add_data(in, {at(10), at(11)}),
        st::check_new_answer(at(10), at(11)), st::add_data(in, {at(25)}), st::check_new_answer(at(25)),
        check(2, 3)));
  }
}

// ---- drop_duplicates_within_watermark (Spark 3.5)

TEST_CASE("dedup within watermark: a key is a duplicate until its event time + delay passes the watermark "
          "(Spark: StreamingDeduplicationWithinWatermarkSuite, deduplicate with watermark)",
          "[dedup]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 2s) | sl::drop_duplicates_within_watermark(sl::col<"key">);
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::add_data(in, {ev(17s, "a")}),  // expires at 19; watermark -> 15
      st::check_new_answer(ev(17s, "a")), st::assert_state_rows(1, 1), st::assert_on_query([](sl::streaming_query& q) {
        return q.last_progress()->state_operators.at(0).operator_name == "dedupeWithinWatermark";
      }),
      st::add_data(in, {ev(16s, "a")}),  // a duplicate
      st::check_new_answer(), st::assert_state_rows(1),
      st::add_data(in, {ev(13s, "a")}),  // late
      st::check_new_answer(), st::assert_dropped(1),
      st::add_data(in, {ev(22s, "b"), ev(21s, "c")}),  // expire at 24 and 23; watermark -> 20 evicts "a"
      st::check_new_answer(ev(22s, "b"), ev(21s, "c")), st::assert_state_rows(2, 2),
      st::add_data(in, {ev(21s, "a")}),  // "a" again: its state was evicted; expires at 23
      st::check_new_answer(ev(21s, "a")), st::assert_state_rows(3, 1),
      st::add_data(in, {ev(25s, "a")}),  // a duplicate; watermark -> 23 evicts "a" and "c"
      st::check_new_answer(), st::assert_state_rows(1),
      st::stop_stream(), st::start_stream(),
      st::add_data(in, {ev(26s, "b"), ev(26s, "c")}),  // "b" (expires 24) is still there: a duplicate
      st::check_new_answer(ev(26s, "c")),                // watermark -> 24: the no-data batch evicts "b"
      st::assert_state_rows(1), st::assert_dropped(1)));
}

TEST_CASE("dedup within watermark: followed by a window aggregation in append mode", "[dedup]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 2s) | sl::drop_duplicates_within_watermark(sl::col<"key">) |
           sl::group_by(sl::window(sl::col<"timestamp">, 5s)) | sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::append,
                                  st::add_data(in, {ev(1s, "a"), ev(2s, "a"), ev(3s, "b"), ev(4s, "c")}),
                                  st::check_new_answer(),
                                  st::add_data(in, {ev(11s, "a")}),  // watermark -> 9 s closes [0, 5)
                                  st::check_new_answer(wc(0, 5, 3))));
}

// ---- property: random out-of-order input, random batches, restarts

namespace {
struct reference_dedup {
  bool within;
  reference_watermark watermark;
  std::map<std::pair<std::string, std::int64_t>, std::int64_t> state;  // key -> expiry
  std::vector<std::string> out;

  std::pair<std::string, std::int64_t> key(const Event& e) const {
    return within ? std::make_pair(e.key, std::int64_t{0}) : std::make_pair(e.key, e.timestamp.micros);
  }
  void batch(const std::vector<Event>& rows) {
    watermark.batch(
        rows,
        [&](const Event& e) {
          if (watermark.defined && e.timestamp.micros <= watermark.value) return;  // late
          if (state.try_emplace(key(e), within ? e.timestamp.micros + watermark.delay : e.timestamp.micros).second)
            out.push_back(sl::to_json_string(e));
        },
        [&] { std::erase_if(state, [&](const auto& kv) { return kv.second <= watermark.value; }); });
  }
};

template <bool Within>
void dedup_property(unsigned seed) {
  std::mt19937 rng(seed);
  const std::int64_t delay = 3'000'000;
  sl::memory_stream<Event> in;
  batch_outputs outputs;
  auto make = [&] {
    auto dedup = [] {
      if constexpr (Within) return sl::drop_duplicates_within_watermark(sl::col<"key">);
      else return sl::drop_duplicates(sl::col<"key">, sl::col<"timestamp">);
    }();
    return in | sl::with_watermark(sl::col<"timestamp">, std::chrono::microseconds(delay)) | dedup |
           outputs.sink<Event>([](const Event& e) { return sl::to_json_string(e); });
  };
  reference_dedup ref{Within, {delay}, {}, {}};
  std::int64_t base = 10'000'000;
  run_with_restarts(rng, "dedup-property", 25, 5, make, [&](int) {
    std::vector<Event> rows;
    const int n = std::uniform_int_distribution<int>(0, 12)(rng);
    for (int i = 0; i < n; ++i) {
      // Seconds around a slowly advancing front: out of order, some late, repeated keys.
      const std::int64_t t = base + std::uniform_int_distribution<std::int64_t>(-6, 4)(rng) * 1'000'000;
      rows.push_back({sl::timestamp{t}, std::string(1, static_cast<char>('a' + rng() % 4)), 0});
    }
    base += std::uniform_int_distribution<std::int64_t>(0, 2)(rng) * 1'000'000;
    in.add_data(rows);
    ref.batch(rows);
  });
  INFO("seed " << seed);
  CHECK(ref.out.size() > 5);
  CHECK(outputs.all() == std::multiset<std::string>(ref.out.begin(), ref.out.end()));
}
}  // namespace

TEST_CASE("dedup: property, random out-of-order batches and restarts against a reference", "[dedup][property]") {
  for (unsigned seed = 1; seed <= 6; ++seed) {
    dedup_property<false>(seed);
    dedup_property<true>(seed);
  }
}

namespace {
struct PageVisit {
  std::int64_t id = 0;
  std::string page;
  sl::timestamp ts;
};
BOOST_DESCRIBE_STRUCT(PageVisit, (), (id, page, ts))
PageVisit page_visit(std::int64_t id, const char* page, std::int64_t s) { return {id, page, sl::timestamp{s * 1'000'000}}; }

auto visits_query(sl::memory_stream<PageVisit>& in) {
  return in | sl::with_watermark(sl::col<"ts">, 10s) | sl::drop_duplicates(sl::col<"id">) |
         sl::drop_duplicates_within_watermark(sl::col<"page">);
}

// Each operator's state rows in the checkpoint's last version, as sorted JSON text.
std::vector<std::vector<std::string>> checkpoint_state(const std::filesystem::path& ck) {
  std::vector<std::vector<std::string>> out(2);
  for (std::size_t op = 0; op < 2; ++op) {
    sl::read_checkpoint_state(ck, op, std::nullopt,
                              [&](boost::json::object o) { out[op].push_back(boost::json::serialize(o)); });
    std::sort(out[op].begin(), out[op].end());
  }
  return out;
}
}  // namespace

TEST_CASE("dedup: batches that leave state partitions unchanged write no delta for them: restarts read through the "
          "gaps, and a lost delta is refused naming it",
          "[dedup][checkpoint]") {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("sluice-dedup-gaps-" + std::to_string(std::random_device{}()));
  fs::remove_all(dir);
  // Batch by batch (ids, then pages kept until their time + 10 s): the second leaves both
  // states unchanged (a known id), the third and fourth change only the ids' (known pages); the
  // fifth moves the watermark to 20 s, and a no-data batch (version 5) evicts pages a and b; the
  // last changes nothing (a known id).
  const std::vector<std::vector<PageVisit>> batches = {
      {page_visit(1, "a", 1), page_visit(2, "b", 2)},
      {page_visit(1, "c", 3)},
      {page_visit(3, "a", 4)},
      {page_visit(4, "b", 5), page_visit(5, "b", 6)},
      {page_visit(6, "d", 30)},
      {page_visit(7, "a", 25)},
      {page_visit(7, "e", 26)}};
  const std::vector<std::vector<std::int64_t>> expected = {{1, 2}, {}, {}, {}, {6}, {7}, {}};
  auto ids = [](const sl::memory_sink<PageVisit>& sink) {
    std::vector<std::int64_t> v;
    for (const auto& r : sink.rows()) v.push_back(r.id);
    std::sort(v.begin(), v.end());
    return v;
  };
  const sl::query_options one_run{.checkpoint = (dir / "one-run").string(), .state_snapshot_interval = 3};
  const sl::query_options restarts{.checkpoint = (dir / "restarts").string(), .state_snapshot_interval = 3,
                                   .parallelism = 2};
  {  // One run, and a restart before each batch (two workers): the same rows and the same state.
    sl::memory_stream<PageVisit> in;
    sl::memory_sink<PageVisit> sink;
    auto q = sl::start(visits_query(in) | sink, sl::output_mode::append, one_run);
    for (std::size_t b = 0; b < batches.size(); ++b) {
      INFO("batch " << b);
      sink.clear();
      in.add_data(batches[b]);
      q.process_all_available();
      CHECK(ids(sink) == expected[b]);
    }
    q.stop();
  }
  sl::memory_stream<PageVisit> in;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    INFO("batch " << b << " after a restart");
    sl::memory_sink<PageVisit> sink;
    auto q = sl::start(visits_query(in) | sink, sl::output_mode::append, restarts);
    in.add_data(batches[b]);
    q.process_all_available();
    q.stop();
    CHECK(ids(sink) == expected[b]);
  }
  const auto ck = dir / "restarts";
  CHECK(checkpoint_state(ck) == checkpoint_state(dir / "one-run"));
  CHECK(checkpoint_state(ck)[0].size() == 7);  // ids 1 to 7
  CHECK(checkpoint_state(ck)[1].size() == 2);  // pages d and a
  // Versions 1 and 7 changed nothing: no delta in any partition of either operator; the page
  // deduplication has none for versions 2 and 3 either.
  const sl::checkpoint_dir cd(ck, "");
  auto deltas_of = [&](std::size_t op, std::int64_t v) {
    int n = 0;
    for (std::size_t p = 0; p < sl::default_shuffle_partitions; ++p)
      n += fs::exists(ck / "state" / std::to_string(op) / std::to_string(p) / (std::to_string(v) + ".delta"));
    return n;
  };
  for (std::size_t op = 0; op < 2; ++op) {
    CHECK(deltas_of(op, 1) == 0);
    CHECK(deltas_of(op, 7) == 0);
  }
  CHECK(deltas_of(0, 2) == 1);
  CHECK(deltas_of(1, 2) == 0);
  CHECK(deltas_of(1, 3) == 0);
  CHECK(deltas_of(1, 5) > 0);  // the no-data batch's evictions
  // The delta of batch 6 (id 7) lost: refused, naming it, not read as an unchanged partition.
  const auto last = sl::list_log_entries(ck / "commits").back();
  REQUIRE(last == 7);
  const auto files = sl::detail::recorded_state_files(cd, 0, last);
  REQUIRE(files);
  fs::path lost;
  for (std::size_t p = 0; p < files->size(); ++p)
    if (fs::exists(ck / "state" / "0" / std::to_string(p) / "6.delta")) lost = ck / "state" / "0" / std::to_string(p) / "6.delta";
  REQUIRE(!lost.empty());
  fs::remove(lost);
  std::string error;
  try {
    sl::memory_sink<PageVisit> sink;
    auto q = sl::start(visits_query(in) | sink, sl::output_mode::append, restarts);
    q.process_all_available();
    q.stop();
    if (auto e = q.exception()) throw *e;
  } catch (const std::exception& e) {
    error = e.what();
  }
  CHECK_THAT(error, Catch::Contains(lost.string() + ": missing, and commits/6 counts it") &&
                        Catch::Contains("a state file of a committed batch is missing"));
  fs::remove_all(dir);
}

// sluice/sources/rate.hpp: the rate source with an injected clock. Row v has value v and is
// due at start + v / rows_per_second (after the ramp-up); after t seconds rate * t rows are
// due (rate * t^2 / (2 * ramp) while ramping up).
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace rate_test {
constexpr std::int64_t S = 1'000'000;
const sl::timestamp t0 = *sl::parse_timestamp("2024-01-15T10:30:00Z");

// A clock the test moves by hand; copies share it (the query reads it from its own thread).
struct manual_clock {
  std::shared_ptr<std::atomic<std::int64_t>> now = std::make_shared<std::atomic<std::int64_t>>(t0.micros);
  sl::timestamp operator()() const { return sl::timestamp{now->load()}; }
  void set(sl::duration since_t0) const { now->store(t0.micros + since_t0.count()); }
};

template <class Source>
std::vector<sl::rate_row> read_all(Source& src, sl::rate_offset from, sl::rate_offset to) {
  std::vector<sl::rate_row> rows;
  for (const auto& p : src.partitions(from, to)) src.read(p, [&](const sl::rate_row& r) { rows.push_back(r); });
  return rows;
}

std::int64_t latest(auto& src, std::int64_t start = 0, sl::read_limit lim = sl::read_limit::source_default()) {
  return src.latest_offset(sl::rate_offset{start}, lim).rows;
}

struct Tick {
  std::int64_t n = 0;
  sl::timestamp at;
  std::int64_t doubled = 0;
};
BOOST_DESCRIBE_STRUCT(Tick, (), (n, at, doubled))
}  // namespace rate_test

using namespace rate_test;

TEST_CASE("rate: rows due grow with the clock at rows_per_second", "[rate]") {
  manual_clock clock;
  auto src = sl::rate({.rows_per_second = 10, .start_time = t0, .clock = clock});
  CHECK(src.initial_offset().rows == 0);
  CHECK(latest(src) == 0);
  clock.set(50ms);
  CHECK(latest(src) == 0);
  clock.set(100ms);
  CHECK(latest(src) == 1);
  clock.set(999ms);
  CHECK(latest(src) == 9);
  clock.set(1s);
  CHECK(latest(src) == 10);
  clock.set(2550ms);
  CHECK(latest(src) == 25);
  clock.set(1h);
  CHECK(latest(src) == 36'000);
  // Never behind the start it is asked from (a clock that went backwards).
  clock.set(1s);
  CHECK(latest(src, 25) == 25);
}

TEST_CASE("rate: values and due timestamps", "[rate]") {
  manual_clock clock;
  auto src = sl::rate({.rows_per_second = 4, .start_time = t0, .clock = clock});
  clock.set(3s);
  const auto end = src.latest_offset({0}, sl::read_limit::source_default());
  REQUIRE(end.rows == 12);
  const auto rows = read_all(src, {0}, end);
  REQUIRE(rows.size() == 12);
  for (std::int64_t v = 0; v < 12; ++v) {
    CHECK(rows[static_cast<std::size_t>(v)].value == v);
    CHECK(rows[static_cast<std::size_t>(v)].timestamp == t0 + sl::duration{v * 250'000});
    CHECK(rows[static_cast<std::size_t>(v)].timestamp <= clock());  // never emitted before it is due
  }
  // A later range continues the sequence.
  clock.set(4s);
  const auto more = read_all(src, end, src.latest_offset(end, sl::read_limit::source_default()));
  REQUIRE(more.size() == 4);
  CHECK(more.front().value == 12);
  CHECK(more.front().timestamp == t0 + 3s);
  CHECK(more.back().timestamp == t0 + 3750ms);
  // Fractional rates.
  auto slow = sl::rate({.rows_per_second = 2.5, .start_time = t0, .clock = clock});
  clock.set(2s);
  const auto slow_rows = read_all(slow, {0}, slow.latest_offset({0}, sl::read_limit::source_default()));
  REQUIRE(slow_rows.size() == 5);
  CHECK(slow_rows[4].timestamp == t0 + 1600ms);
}

TEST_CASE("rate: start_time defaults to the first use of the source", "[rate]") {
  manual_clock clock;
  clock.set(10s);
  auto src = sl::rate({.rows_per_second = 100, .clock = clock});
  CHECK(src.initial_offset().rows == 0);
  clock.set(10s + 50ms);
  const auto end = src.latest_offset({0}, sl::read_limit::source_default());
  CHECK(end.rows == 5);
  const auto rows = read_all(src, {0}, end);
  REQUIRE(rows.size() == 5);
  CHECK(rows[0].timestamp == t0 + 10s);
  CHECK(rows[4].timestamp == t0 + 10040ms);
}

TEST_CASE("rate: ramp-up grows the rate linearly to rows_per_second", "[rate]") {
  manual_clock clock;
  auto src = sl::rate({.rows_per_second = 10, .ramp_up_time = 2s, .start_time = t0, .clock = clock});
  // rate * t^2 / (2 * ramp) while ramping, rate * (t - ramp / 2) after.
  const std::pair<sl::duration, std::int64_t> expected[] = {
      {0s, 0}, {500ms, 0}, {1s, 2}, {1500ms, 5}, {2s, 10}, {3s, 20}, {12s, 110}};
  for (const auto& [at, rows] : expected) {
    clock.set(at);
    INFO("at " << at.count() << " us");
    CHECK(latest(src) == rows);
  }
  CHECK(src.rows_due(1.0) == 2);
  CHECK(src.rows_due(2.0) == 10);
  // Due times: the inverse of the count, increasing, one every 100 ms once ramped up.
  clock.set(12s);
  const auto rows = read_all(src, {0}, {110});
  REQUIRE(rows.size() == 110);
  CHECK(rows[0].timestamp == t0);
  for (std::size_t v = 1; v < rows.size(); ++v) {
    INFO("value " << v);
    CHECK(rows[v - 1].timestamp < rows[v].timestamp);
    const double elapsed = static_cast<double>((rows[v].timestamp - t0).count()) / 1e6;
    // Row v is the first row not yet due just before its due time.
    CHECK(src.rows_due(elapsed + 1e-4) >= static_cast<std::int64_t>(v));
    CHECK(src.rows_due(elapsed - 1e-4) <= static_cast<std::int64_t>(v));
  }
  CHECK(rows[1].timestamp == t0 + sl::duration{632'456});  // sqrt(2 * 2 s * 1 / 10)
  CHECK(rows[10].timestamp == t0 + 2s);
  CHECK(rows[11].timestamp - rows[10].timestamp == 100ms);
  CHECK(rows[109].timestamp == t0 + 11900ms);
}

TEST_CASE("rate: partitions split a range evenly and cover it exactly once", "[rate]") {
  manual_clock clock;
  auto src = sl::rate({.rows_per_second = 10, .num_partitions = 3, .start_time = t0, .clock = clock});
  const auto parts = src.partitions({5}, {15});
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].from == 5);
  CHECK(parts[0].to == 8);
  CHECK(parts[1].from == 8);
  CHECK(parts[1].to == 11);
  CHECK(parts[2].from == 11);
  CHECK(parts[2].to == 15);
  CHECK(src.partitions({5}, {7}).size() == 2);  // no empty partitions
  CHECK(src.partitions({5}, {5}).empty());
  for (std::int64_t n = 0; n < 40; ++n) {
    std::int64_t next = 100;
    for (const auto& p : src.partitions({100}, {100 + n})) {
      CHECK(p.from == next);
      CHECK(p.to > p.from);
      next = p.to;
    }
    CHECK(next == 100 + n);
  }
}

TEST_CASE("rate: invalid options are refused", "[rate]") {
  CHECK_THROWS_AS(sl::rate({.rows_per_second = 0}), std::invalid_argument);
  CHECK_THROWS_AS(sl::rate({.rows_per_second = -1}), std::invalid_argument);
  CHECK_THROWS_AS(sl::rate({.rows_per_second = 1, .num_partitions = 0}), std::invalid_argument);
  CHECK_THROWS_AS(sl::rate({.rows_per_second = 1, .ramp_up_time = -1s}), std::invalid_argument);
}

TEST_CASE("rate in a query: max_rows_per_trigger bounds each batch", "[rate]") {
  manual_clock clock;
  clock.set(10s);  // 100 rows due before the query starts
  sl::memory_sink<sl::rate_row> sink;
  auto q = sl::start(sl::rate({.rows_per_second = 10,
                               .num_partitions = 4,
                               .max_rows_per_trigger = 30,
                               .start_time = t0,
                               .clock = clock}) |
                         sink,
                     sl::output_mode::append);
  q.process_all_available();
  std::vector<std::int64_t> sizes;
  for (const auto& b : sink.batches()) sizes.push_back(static_cast<std::int64_t>(b.rows.size()));
  CHECK(sizes == std::vector<std::int64_t>{30, 30, 30, 10});
  auto progress = q.recent_progress();
  REQUIRE(progress.size() == 4);
  CHECK(progress[1].num_input_rows == 30);
  CHECK(progress[1].sources.at(0).start_offset == boost::json::parse(R"({"rows":30})"));
  CHECK(progress[1].sources.at(0).end_offset == boost::json::parse(R"({"rows":60})"));
  // The clock moves: the next batch takes what became due since.
  clock.set(10500ms);
  q.process_all_available();
  q.stop();
  const auto rows = sink.rows();
  REQUIRE(rows.size() == 105);
  for (std::size_t v = 0; v < rows.size(); ++v) {
    INFO("row " << v);
    CHECK(rows[v].value == static_cast<std::int64_t>(v));  // partitions in order, every value once
    CHECK(rows[v].timestamp == t0 + sl::duration{static_cast<std::int64_t>(v) * 100'000});
  }
  CHECK(sink.batches().back().rows.size() == 5);
}

TEST_CASE("rate in a query: trigger once takes everything due, ignoring max_rows_per_trigger", "[rate]") {
  manual_clock clock;
  clock.set(10s);
  sl::memory_sink<sl::rate_row> sink;
  auto q = sl::start(sl::rate({.rows_per_second = 10, .max_rows_per_trigger = 30, .start_time = t0, .clock = clock}) | sink,
                     sl::output_mode::append, {.trigger = sl::trigger::once()});
  q.await_termination();
  REQUIRE(sink.batches().size() == 1);
  CHECK(sink.rows().size() == 100);
}

TEST_CASE("rate in a query: rows made by a function, windowed by their due time", "[rate]") {
  manual_clock clock;
  clock.set(10s);
  auto ticks = sl::rate({.rows_per_second = 10, .start_time = t0, .clock = clock},
                        [](std::int64_t v, sl::timestamp t) { return Tick{v, t, 2 * v}; });
  auto per_second = ticks | sl::group_by(sl::window(sl::col<"at">, 1s)) |
                    sl::aggregate(sl::count(), sl::sum(sl::col<"doubled">));
  sl::memory_sink<decltype(per_second)::row_type> sink;
  auto q = sl::start(std::move(per_second) | sink, sl::output_mode::complete);
  q.process_all_available();
  q.stop();
  const auto rows = sink.rows();
  REQUIRE(rows.size() == 10);
  for (const auto& r : rows) {
    const std::int64_t second = (sl::get<"window">(r).start - t0).count() / S;
    CHECK(sl::get<"count">(r) == 10);
    // values 10 s .. 10 s + 9, doubled
    CHECK(sl::get<"sum(doubled)">(r) == 2 * (100 * second + 45));
  }
}

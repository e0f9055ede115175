// Sliding windows aggregated through slices (gcd(duration, slide)) and combined per window must
// give exactly what copying each row into every window gives (Spark's method, kept as
// `.with_per_window_copies()`): the same rows in every batch, in append, update and complete
// mode, with the same state metrics and late-row counts, also when the sliced query is stopped
// and restarted from its checkpoint between batches. And the two window aggregators (subtract
// on evict, DABA Lite) against a recomputation from scratch.
#include <catch2/catch.hpp>

#include <sluice/detail/sliding_aggregator.hpp>
#include <sluice/sluice.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace sliding_test {
struct Reading {
  std::int64_t key = 0;
  sl::timestamp ts;
  std::int64_t v = 0;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (key, ts, v))

constexpr std::int64_t S = 1'000'000;

// ---------------------------------------------------------------- the aggregators alone
// String concatenation: associative, not commutative, no inverse; an evicted or reordered
// element shows in the result.
struct concat_ops {
  void merge(std::string& s, const std::string& o) const { s += o; }
};
struct sum_ops {
  void merge(std::int64_t& s, const std::int64_t& o) const { s += o; }
  void unmerge(std::int64_t& s, const std::int64_t& o) const { s -= o; }
};

template <class Window, class Ops, class Make>
void check_fifo_against_recomputation(std::uint64_t seed, Ops ops, Make make) {
  std::mt19937_64 rng(seed);
  Window w;
  std::deque<std::pair<std::int64_t, decltype(make(0))>> reference;
  std::int64_t next = 0;
  for (int step = 0; step < 5000; ++step) {
    const auto action = rng() % 10;
    if (action < 6 || reference.empty()) {
      const auto v = make(rng());
      w.push(ops, next, v);
      reference.emplace_back(next, v);
      next += 1 + static_cast<std::int64_t>(rng() % 3);  // starts with gaps, as slices have
    } else if (action < 9) {
      const std::int64_t cut = reference.front().first + 1 + static_cast<std::int64_t>(rng() % 4);
      w.evict_before(ops, cut);
      while (!reference.empty() && reference.front().first < cut) reference.pop_front();
    } else if (rng() % 20 == 0) {
      w.clear();
      reference.clear();
    }
    decltype(make(0)) expected{};
    for (const auto& [start, v] : reference) ops.merge(expected, v);
    INFO("seed " << seed << " step " << step << " size " << reference.size());
    REQUIRE(w.size() == reference.size());
    REQUIRE(w.query(ops) == expected);
  }
}

TEST_CASE("sliding aggregators: DABA Lite equals recomputing the window in order", "[sliding]") {
  for (std::uint64_t seed : {1u, 2u, 3u, 4u})
    check_fifo_against_recomputation<sl::detail::daba_lite_window<std::string>>(
        seed, concat_ops{}, [](std::uint64_t r) { return std::string(1, static_cast<char>('a' + r % 26)); });
}

TEST_CASE("sliding aggregators: subtract-on-evict equals recomputing the window", "[sliding]") {
  for (std::uint64_t seed : {5u, 6u})
    check_fifo_against_recomputation<sl::detail::invertible_window<std::int64_t>>(
        seed, sum_ops{}, [](std::uint64_t r) { return static_cast<std::int64_t>(r % 1000) - 500; });
}

// ---------------------------------------------------------------- sliced against per-window copies
struct window_case {
  std::int64_t length, slide, offset, delay;  // microseconds
};

// Random out-of-order input: event times drift forward with jitter of up to 25 s (so some rows
// are late), at microsecond precision (so slice boundaries are crossed), keys 0..3.
std::vector<std::vector<Reading>> random_batches(std::mt19937_64& rng) {
  std::vector<std::vector<Reading>> batches(8 + rng() % 8);
  std::int64_t clock = 0;
  for (auto& b : batches) {
    const auto n = rng() % 25;  // some batches are empty
    for (std::size_t i = 0; i < n; ++i) {
      clock += static_cast<std::int64_t>(rng() % (2 * S));
      const std::int64_t t = clock - static_cast<std::int64_t>(rng() % (25 * S)) + 5 * S;
      b.push_back({static_cast<std::int64_t>(rng() % 4), sl::timestamp{t}, static_cast<std::int64_t>(rng() % 101) - 50});
    }
  }
  return batches;
}

window_case random_case(std::mt19937_64& rng) {
  window_case c{};
  c.slide = (1 + static_cast<std::int64_t>(rng() % 6)) * S;
  switch (rng() % 3) {
    case 0: c.length = c.slide * (2 + static_cast<std::int64_t>(rng() % 12)); break;     // divides
    case 1: c.length = c.slide + (1 + static_cast<std::int64_t>(rng() % 20)) * S / 2; break;  // gcd < slide
    default: c.length = c.slide * (20 + static_cast<std::int64_t>(rng() % 40)); break;   // high ratio
  }
  if (c.length <= c.slide) c.length = c.slide * 2;
  c.offset = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(2 * c.slide - 1)) - (c.slide - 1);
  c.offset -= c.offset % (S / 4);  // still any sign, on a quarter second
  c.delay = static_cast<std::int64_t>(rng() % 4) * 5 * S;
  return c;
}

// What a run produced: per batch id, the sorted output rows and the state metrics.
struct run_record {
  std::map<std::int64_t, std::vector<std::string>> rows;
  std::map<std::int64_t, std::vector<std::int64_t>> metrics;
};

// Runs the query over the batches; a stop and restart from the checkpoint before each batch
// in `restart_before`. Invertible: count, sum, avg; otherwise min, max, count_distinct, count.
template <bool Invertible, class Mode>
run_record run(const window_case& c, bool per_window_copies, const std::vector<std::vector<Reading>>& batches, Mode mode, const std::vector<bool>& restart_before, const fs::path& checkpoint) {
  auto window = sl::window(sl::col<"ts">, sl::duration{c.length}, sl::duration{c.slide}, sl::duration{c.offset});
  if (per_window_copies) window = window.with_per_window_copies();
  sl::memory_stream<Reading> input;
  auto make_plan = [&] {
    auto grouped = input | sl::with_watermark(sl::col<"ts">, sl::duration{c.delay}) |
                   sl::group_by(window, sl::col<"key">);
    if constexpr (Invertible)
      return std::move(grouped) | sl::aggregate(sl::count(), sl::sum(sl::col<"v">), sl::avg(sl::col<"v">));
    else
      return std::move(grouped) | sl::aggregate(sl::min(sl::col<"v">), sl::max(sl::col<"v">),
                                                sl::count_distinct(sl::col<"v">), sl::count());
  };
  using Row = typename decltype(make_plan())::row_type;
  sl::memory_sink<Row> sink;
  run_record out;
  const sl::query_options opts{.checkpoint = checkpoint.string(), .state_snapshot_interval = 3};
  auto collect = [&](auto& q) {
    for (const auto& p : q.recent_progress()) {
      const auto& s = p.state_operators.at(0);
      out.metrics[p.batch_id] = {s.num_rows_total, s.num_rows_updated, s.num_rows_dropped_by_watermark,
                                 s.num_rows_removed};
    }
  };
  auto query = std::make_unique<sl::streaming_query>(sl::start(make_plan() | sink, mode, opts));
  for (std::size_t b = 0; b < batches.size(); ++b) {
    if (restart_before[b]) {
      collect(*query);
      query->stop();
      query = std::make_unique<sl::streaming_query>(sl::start(make_plan() | sink, mode, opts));
    }
    input.add_data(batches[b]);
    query->process_all_available();
  }
  collect(*query);
  query->stop();
  for (const auto& batch : sink.batches()) {
    auto& rows = out.rows[batch.batch_id];
    for (const auto& r : batch.rows) rows.push_back(sl::to_json_string(r));
    std::sort(rows.begin(), rows.end());
  }
  return out;
}

fs::path fresh_dir(std::uint64_t seed) {
  std::random_device rd;
  auto dir = fs::temp_directory_path() / ("sluice-sliding-" + std::to_string(seed) + "-" + std::to_string(rd()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

template <bool Invertible, class Mode>
void compare_paths(std::uint64_t seed, Mode mode) {
  std::mt19937_64 rng(seed);
  const auto c = random_case(rng);
  const auto batches = random_batches(rng);
  std::vector<bool> restarts(batches.size());
  for (std::size_t b = 1; b < restarts.size(); ++b) restarts[b] = rng() % 3 == 0;
  const auto dir = fresh_dir(seed);
  INFO("seed " << seed << ", mode " << sl::to_string(Mode::value) << ", duration " << c.length << " us, slide " << c.slide
               << " us, offset " << c.offset << " us, delay " << c.delay << " us, "
               << (Invertible ? "count/sum/avg" : "min/max/count_distinct/count"));
  const auto reference = run<Invertible>(c, true, batches, mode, std::vector<bool>(batches.size()), dir / "copies");
  const auto sliced = run<Invertible>(c, false, batches, mode, restarts, dir / "sliced");
  fs::remove_all(dir);
  std::size_t rows = 0;
  for (const auto& [id, r] : reference.rows) rows += r.size();
  REQUIRE(rows > 0);  // the case does produce output to compare
  for (const auto& [id, expected] : reference.rows) {
    INFO("batch " << id);
    REQUIRE(sliced.rows.count(id) == 1);
    CHECK(sliced.rows.at(id) == expected);
  }
  CHECK(sliced.rows.size() == reference.rows.size());
  // numRowsTotal, numRowsUpdated, numRowsDroppedByWatermark, numRowsRemoved, batch by batch.
  for (const auto& [id, expected] : reference.metrics) {
    INFO("metrics of batch " << id << " (total, updated, dropped, removed)");
    REQUIRE(sliced.metrics.count(id) == 1);
    CHECK(sliced.metrics.at(id) == expected);
  }
}
}  // namespace sliding_test

using namespace sliding_test;

TEST_CASE("sliding windows: slices give the per-window results in append mode, with restarts", "[sliding]") {
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    compare_paths<true>(seed, sl::output_mode::append);
    compare_paths<false>(seed + 100, sl::output_mode::append);
  }
}

TEST_CASE("sliding windows: slices give the per-window results in update mode, with restarts", "[sliding]") {
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    compare_paths<true>(seed + 200, sl::output_mode::update);
    compare_paths<false>(seed + 300, sl::output_mode::update);
  }
}

TEST_CASE("sliding windows: slices give the per-window results in complete mode, with restarts", "[sliding]") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    compare_paths<true>(seed + 400, sl::output_mode::complete);
    compare_paths<false>(seed + 500, sl::output_mode::complete);
  }
}

TEST_CASE("sliding windows: a checkpoint of the sliced state does not restore a per-window query", "[sliding]") {
  const auto dir = fresh_dir(9999);
  const window_case c{10 * S, 2 * S, 0, 0};
  const std::vector<std::vector<Reading>> one{{{1, sl::timestamp{3 * S}, 5}}};
  run<true>(c, false, one, sl::output_mode::update, {false}, dir / "ck");
  CHECK_THROWS(run<true>(c, true, one, sl::output_mode::update, {false}, dir / "ck"));
  fs::remove_all(dir);
}

// Streaming deduplication with a watermark (drop_duplicates on an id and the watermarked event
// time, so keys leave the state by the watermark) through the engine's dedup node, against a
// hand-written loop doing the same work: per row the late check and one insert-or-find in a
// hash map of (id, time) -> expiry, the first occurrence emitted; per batch the keys at or
// below the watermark evicted. 2^18 rows in 16 batches, half of them repeats of a row up to
// 256 rows earlier; ids 1K and 100K. The state stays bounded (about 2 s of event time).
// Items: input rows.
#include <benchmark/benchmark.h>

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include <sluice/sluice.hpp>

#include "support/batches.hpp"

namespace sl = sluice;
using namespace std::chrono_literals;

struct Click {
  std::int64_t id;
  sl::timestamp time;
  double value;
};
BOOST_DESCRIBE_STRUCT(Click, (), (id, time, value))

namespace {
constexpr std::size_t kRows = 1 << 18;
constexpr std::size_t kBatches = 16;
constexpr std::size_t kPerBatch = kRows / kBatches;
constexpr std::int64_t kStep = 100;  // us of event time between distinct rows
constexpr std::int64_t kDelay = 2'000'000;

// Even rows are new (id, time) pairs, odd rows repeat one of the last 256 rows (a new one
// being a duplicate of itself then and there is fine: it is dropped all the same).
std::vector<Click> make_input(std::int64_t ids) {
  std::mt19937_64 rng(11);
  std::vector<Click> v(kRows);
  for (std::size_t i = 0; i < kRows; ++i) {
    if (i % 2 == 1 && i > 256) v[i] = v[i - 1 - rng() % 256];
    else
      v[i] = {static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(ids)),
              sl::timestamp{static_cast<std::int64_t>(i) * kStep}, static_cast<double>(rng() % 1000)};
  }
  return v;
}
const std::vector<Click>& input_for(std::int64_t ids) { return bench::input_for(ids, make_input); }

// A repeat is never later than the newest row before it: the watermark is that of distinct rows.
std::int64_t watermark_for(std::size_t b) { return bench::watermark_after(b, kPerBatch, kStep, kDelay); }

void engine(benchmark::State& state) {
  const auto& in = input_for(state.range(0));
  std::size_t out = 0, current = 0;
  for (auto _ : state) {
    auto node = sl::source_node<bench::batch_source<Click>>{{&in, &current, kPerBatch}} |
                sl::with_watermark(sl::col<"time">, 2s) | sl::drop_duplicates(sl::col<"id">, sl::col<"time">);
    sl::graph_controls controls;
    node.visit(controls);
    bench::run_batches(node, controls, current, kBatches, watermark_for, out);
    benchmark::DoNotOptimize(out);
  }
  state.counters["out_rows_per_iter"] = static_cast<double>(out) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}

struct key_hash {
  std::size_t operator()(const std::pair<std::int64_t, std::int64_t>& k) const noexcept {
    return boost::hash_value(k);
  }
};

void hand_loop(benchmark::State& state) {
  const auto& in = input_for(state.range(0));
  std::size_t out = 0;
  for (auto _ : state) {
    boost::unordered_flat_map<std::pair<std::int64_t, std::int64_t>, std::int64_t, key_hash> seen;
    std::int64_t min_expiry = std::numeric_limits<std::int64_t>::max();
    for (std::size_t b = 0; b < kBatches; ++b) {
      const std::int64_t wm = watermark_for(b);
      for (std::size_t i = b * kPerBatch; i < (b + 1) * kPerBatch; ++i) {
        const Click& c = in[i];
        if (c.time.micros <= wm) continue;  // late
        if (!seen.try_emplace({c.id, c.time.micros}, c.time.micros).second) continue;
        min_expiry = std::min(min_expiry, c.time.micros);
        Click first = c;
        benchmark::DoNotOptimize(&first), ++out;
      }
      if (wm >= min_expiry) {
        std::int64_t left = std::numeric_limits<std::int64_t>::max();
        boost::unordered::erase_if(seen, [&](const auto& kv) {
          if (kv.second > wm) {
            left = std::min(left, kv.second);
            return false;
          }
          return true;
        });
        min_expiry = left;
      }
    }
    benchmark::DoNotOptimize(out);
  }
  state.counters["out_rows_per_iter"] = static_cast<double>(out) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}
}  // namespace

BENCHMARK(hand_loop)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(engine)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();

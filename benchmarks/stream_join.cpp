// Stream-stream inner join on a key and a time range (leftTime within rightTime +/- 5 s) with
// watermarks, through the engine's join node, against a hand-written symmetric hash join
// doing the same work: per row a probe of the other side's state, the range check and one
// output row per match, then the row appended to its side's state; per batch, the rows below
// each side's state watermark evicted. 2^18 rows per side in 16 batches, keys 1K and 100K;
// the state stays bounded (about 10 s of rows per side). Items: input rows of both sides.
// engine_partitions: the join's state in 8 state partitions, on one thread and on a pool of 2
// workers (each state partition a task); its rates are per CPU second of the whole process.
#include <benchmark/benchmark.h>

#include <boost/unordered/unordered_flat_map.hpp>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include <sluice/engine/workers.hpp>
#include <sluice/sluice.hpp>

#include "support/batches.hpp"

namespace sl = sluice;
using namespace std::chrono_literals;

struct Left {
  std::int64_t lk;
  sl::timestamp lt;
  double lv;
};
BOOST_DESCRIBE_STRUCT(Left, (), (lk, lt, lv))
struct Right {
  std::int64_t rk;
  sl::timestamp rt;
  double rv;
};
BOOST_DESCRIBE_STRUCT(Right, (), (rk, rt, rv))

namespace {
constexpr std::size_t kRows = 1 << 18;
constexpr std::size_t kBatches = 16;
constexpr std::size_t kPerBatch = kRows / kBatches;
constexpr std::int64_t kStep = 100;  // us between rows: 26 s of event time per side
constexpr std::int64_t kRange = 5'000'000, kDelay = 2'000'000;

template <class Row>
std::vector<Row> make_input(std::int64_t keys, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Row> v(kRows);
  for (std::size_t i = 0; i < kRows; ++i)
    v[i] = {static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(keys)),
            sl::timestamp{static_cast<std::int64_t>(i) * kStep}, static_cast<double>(rng() % 1000)};
  return v;
}

struct inputs {
  std::vector<Left> left;
  std::vector<Right> right;
};
const inputs& input_for(std::int64_t keys) {
  return bench::input_for(keys, [](std::int64_t k) { return inputs{make_input<Left>(k, 7), make_input<Right>(k, 8)}; });
}
std::int64_t watermark_for(std::size_t b) { return bench::watermark_after(b, kPerBatch, kStep, kDelay); }

// range(1): state partitions (1 before they existed), range(2): workers (0: none).
void engine(benchmark::State& state) {
  const auto& in = input_for(state.range(0));
  const auto partitions = static_cast<std::size_t>(state.range(1));
  std::optional<sl::worker_pool> pool;
  if (state.range(2) > 0) pool.emplace(static_cast<std::size_t>(state.range(2)));
  std::size_t out = 0, current = 0;
  for (auto _ : state) {
    auto node = (sl::source_node<bench::batch_source<Left>>{{&in.left, &current, kPerBatch}} |
                 sl::with_watermark(sl::col<"lt">, 2s)) |
                sl::join(sl::source_node<bench::batch_source<Right>>{{&in.right, &current, kPerBatch}} |
                             sl::with_watermark(sl::col<"rt">, 2s),
                         sl::col<"lk">, sl::col<"rk">,
                         sl::time_range(sl::col<"lt">, sl::col<"rt">, -5s, 5s));
    sl::graph_controls controls;
    node.visit(controls);
    bench::run_batches(node, controls, current, kBatches, watermark_for, out, pool ? &*pool : nullptr, partitions);
    benchmark::DoNotOptimize(out);
  }
  state.counters["out_rows_per_iter"] = static_cast<double>(out) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 2 * kRows));
}

// The output row of the hand loop: what the engine's generated row holds.
struct joined {
  std::int64_t lk;
  sl::timestamp lt;
  double lv;
  std::int64_t rk;
  sl::timestamp rt;
  double rv;
};

template <class Row>
struct side {
  boost::unordered_flat_map<std::int64_t, std::vector<Row>> rows;
  std::int64_t min_time = std::numeric_limits<std::int64_t>::max();
  template <class Time>
  void evict(std::int64_t state_wm, Time time) {
    if (state_wm < min_time) return;
    std::int64_t left_min = std::numeric_limits<std::int64_t>::max();
    boost::unordered::erase_if(rows, [&](auto& kv) {
      std::erase_if(kv.second, [&](const Row& r) {
        if (time(r) > state_wm) {
          left_min = std::min(left_min, time(r));
          return false;
        }
        return true;
      });
      return kv.second.empty();
    });
    min_time = left_min;
  }
};

void hand_loop(benchmark::State& state) {
  const auto& in = input_for(state.range(0));
  std::size_t out = 0;
  for (auto _ : state) {
    side<Left> ls;
    side<Right> rs;
    for (std::size_t b = 0; b < kBatches; ++b) {
      const std::int64_t wm = watermark_for(b);
      for (std::size_t i = b * kPerBatch; i < (b + 1) * kPerBatch; ++i) {
        const Left& l = in.left[i];
        if (l.lt.micros <= wm) continue;
        if (auto it = rs.rows.find(l.lk); it != rs.rows.end())
          for (const Right& r : it->second)
            if (l.lt.micros >= r.rt.micros - kRange && l.lt.micros <= r.rt.micros + kRange) {
              joined j{l.lk, l.lt, l.lv, r.rk, r.rt, r.rv};
              benchmark::DoNotOptimize(&j), ++out;
            }
        if (l.lt.micros <= wm - kRange - 1) continue;
        ls.rows[l.lk].push_back(l);
        ls.min_time = std::min(ls.min_time, l.lt.micros);
      }
      for (std::size_t i = b * kPerBatch; i < (b + 1) * kPerBatch; ++i) {
        const Right& r = in.right[i];
        if (r.rt.micros <= wm) continue;
        if (auto it = ls.rows.find(r.rk); it != ls.rows.end())
          for (const Left& l : it->second)
            if (l.lt.micros >= r.rt.micros - kRange && l.lt.micros <= r.rt.micros + kRange) {
              joined j{l.lk, l.lt, l.lv, r.rk, r.rt, r.rv};
              benchmark::DoNotOptimize(&j), ++out;
            }
        if (r.rt.micros <= wm - kRange - 1) continue;
        rs.rows[r.rk].push_back(r);
        rs.min_time = std::min(rs.min_time, r.rt.micros);
      }
      ls.evict(wm - kRange - 1, [](const Left& l) { return l.lt.micros; });
      rs.evict(wm - kRange - 1, [](const Right& r) { return r.rt.micros; });
    }
    benchmark::DoNotOptimize(out);
  }
  state.counters["out_rows_per_iter"] = static_cast<double>(out) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 2 * kRows));
}
}  // namespace

BENCHMARK(hand_loop)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(engine)->Args({1000, 1, 0})->Args({100000, 1, 0})->Unit(benchmark::kMillisecond);
BENCHMARK(engine)
    ->Name("engine_partitions")
    ->Args({1000, 8, 0})
    ->Args({100000, 8, 0})
    ->Args({1000, 8, 2})
    ->Args({100000, 8, 2})
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();

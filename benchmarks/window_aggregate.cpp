// Keyed tumbling-window aggregation (count, sum, avg per window and key) through the engine's
// aggregate stage, against a hand-written loop over boost::unordered_flat_map doing the same
// work: window assignment, late check, group lookup, three aggregates. Keys: 1K, 100K, 1M,
// and unkeyed (window only).
#include <benchmark/benchmark.h>

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <random>
#include <vector>

#include <sluice/sluice.hpp>

namespace sl = sluice;
using namespace std::chrono_literals;

struct Reading {  // 24 bytes
  std::int64_t key;
  sl::timestamp ts;
  double value;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (key, ts, value))

namespace {
constexpr std::size_t kRows = 1 << 20;
constexpr std::int64_t kWindow = 60'000'000;  // 1 minute

// Events over 4 windows, keys uniform in [0, keys).
std::vector<Reading> make_input(std::int64_t keys) {
  std::mt19937_64 rng(7);
  std::vector<Reading> v(kRows);
  for (std::size_t i = 0; i < kRows; ++i)
    v[i] = {static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(keys)),
            sl::timestamp{static_cast<std::int64_t>(i) * (4 * kWindow / static_cast<std::int64_t>(kRows))},
            static_cast<double>(rng() % 1000)};
  return v;
}

struct vector_source {
  using row_type = Reading;
  struct offset {
    std::int64_t end = 0;
  };
  using offset_type = offset;
  using partition_type = offset;
  const std::vector<Reading>* rows;
  offset initial_offset() { return {0}; }
  offset latest_offset(const offset&, sl::read_limit) { return {static_cast<std::int64_t>(rows->size())}; }
  std::vector<offset> partitions(const offset&, const offset& e) { return {e}; }
  template <class Emit>
  void read(const offset& p, Emit&& emit) {
    const Reading* data = rows->data();
    for (std::int64_t i = 0; i < p.end; ++i) emit(data[i]);
  }
  void commit(const offset&) {}
  std::string description() const { return "vector"; }
};
BOOST_DESCRIBE_STRUCT(vector_source::offset, (), (end))

template <class Node>
void run_engine(benchmark::State& state, Node node) {
  sl::graph_controls controls;
  node.visit(controls);
  std::size_t out = 0;
  std::int64_t batch = 0;
  for (auto _ : state) {
    for (auto* s : controls.sources) s->plan_batch(sl::read_limit::all_available());
    sl::batch_context ctx;
    ctx.batch_id = batch++;
    ctx.mode = sl::output_mode_kind::append;  // watermark 0: windows stay open, nothing emitted
    ctx.has_watermark = true;
    for (auto* st : controls.stateful) st->begin_batch(ctx);
    auto collect = [&out](auto&&) { ++out; };
    node.run(ctx, collect);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}

void engine_keyed(benchmark::State& state) {
  static std::map<std::int64_t, std::vector<Reading>> inputs;
  auto& in = inputs.try_emplace(state.range(0), make_input(state.range(0))).first->second;
  run_engine(state, sl::source_node<vector_source>{vector_source{&in}} |
                        sl::with_watermark(sl::col<"ts">, 1min) |
                        sl::group_by(sl::window(sl::col<"ts">, 1min), sl::col<"key">) |
                        sl::aggregate(sl::count(), sl::sum(sl::col<"value">), sl::avg(sl::col<"value">)));
}

void hand_keyed(benchmark::State& state) {
  static std::map<std::int64_t, std::vector<Reading>> inputs;
  auto& in = inputs.try_emplace(state.range(0), make_input(state.range(0))).first->second;
  struct agg {
    std::int64_t count = 0;
    double sum = 0;
    double avg_sum = 0;
    std::int64_t avg_n = 0;
  };
  struct key_hash {
    std::size_t operator()(const std::pair<std::int64_t, std::int64_t>& k) const {
      return sl::detail::mix64(static_cast<std::uint64_t>(k.first) * 0x9E3779B97F4A7C15ULL ^
                               static_cast<std::uint64_t>(k.second));
    }
  };
  boost::unordered_flat_map<std::pair<std::int64_t, std::int64_t>, agg, key_hash> groups;
  std::int64_t max_ts = 0;
  const std::int64_t watermark = 0;
  for (auto _ : state) {
    for (const Reading& r : in) {
      max_ts = std::max(max_ts, r.ts.micros);
      const std::int64_t start = r.ts.micros - sl::detail::floor_mod(r.ts.micros, kWindow);
      if (start + kWindow <= watermark) continue;
      agg& a = groups[{start, r.key}];
      ++a.count;
      a.sum += r.value;
      a.avg_sum += r.value;
      ++a.avg_n;
    }
    benchmark::DoNotOptimize(groups.size());
    benchmark::DoNotOptimize(max_ts);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}

void engine_unkeyed(benchmark::State& state) {
  static const auto in = make_input(1);
  run_engine(state, sl::source_node<vector_source>{vector_source{&in}} | sl::with_watermark(sl::col<"ts">, 1min) |
                        sl::group_by(sl::window(sl::col<"ts">, 1min)) |
                        sl::aggregate(sl::count(), sl::sum(sl::col<"value">), sl::avg(sl::col<"value">)));
}
void hand_unkeyed(benchmark::State& state) {
  static const auto in = make_input(1);
  struct agg {
    std::int64_t count = 0;
    double sum = 0, avg_sum = 0;
    std::int64_t avg_n = 0;
  };
  boost::unordered_flat_map<std::int64_t, agg> groups;
  std::int64_t max_ts = 0;
  for (auto _ : state) {
    for (const Reading& r : in) {
      max_ts = std::max(max_ts, r.ts.micros);
      const std::int64_t start = r.ts.micros - sl::detail::floor_mod(r.ts.micros, kWindow);
      agg& a = groups[start];
      ++a.count;
      a.sum += r.value;
      a.avg_sum += r.value;
      ++a.avg_n;
    }
    benchmark::DoNotOptimize(groups.size());
    benchmark::DoNotOptimize(max_ts);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}
}  // namespace

BENCHMARK(hand_keyed)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(engine_keyed)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(hand_unkeyed)->Unit(benchmark::kMillisecond);
BENCHMARK(engine_unkeyed)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();

// Arbitrary keyed state: a running count and sum per key through the engine's
// flat_map_groups_with_state node and its transform_with_state node (a value state), against a
// hand-written loop doing the same work: per batch the rows grouped by key (a key's rows
// together, keys in the order they first appear, as the function receives them), then per
// key one lookup of its state in a hash map, the update, and one output row. 2^18 rows in 16
// batches, keys 1K (about 16 rows per key and batch) and 100K (about 0.16). The engine runs
// with 1 state partition and with 8 on one thread. Items: input rows.
#include <benchmark/benchmark.h>

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
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
struct Running {
  std::int64_t count = 0;
  double sum = 0;
};
BOOST_DESCRIBE_STRUCT(Running, (), (count, sum))
struct Out {
  std::int64_t id;
  std::int64_t count;
  double sum;
};
BOOST_DESCRIBE_STRUCT(Out, (), (id, count, sum))

namespace {
constexpr std::size_t kRows = 1 << 18;
constexpr std::size_t kBatches = 16;
constexpr std::size_t kPerBatch = kRows / kBatches;

std::vector<Click> make_input(std::int64_t ids) {
  std::mt19937_64 rng(7);
  std::vector<Click> v(kRows);
  for (std::size_t i = 0; i < kRows; ++i)
    v[i] = {static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(ids)),
            sl::timestamp{static_cast<std::int64_t>(i) * 100}, static_cast<double>(rng() % 1000)};
  return v;
}
const std::vector<Click>& input_for(std::int64_t ids) { return bench::input_for(ids, make_input); }
std::int64_t no_watermark(std::size_t) { return 0; }

// The state function all three run: the key's running count and sum, one row out.
Running add(Running s, std::span<const Click> values) {
  for (const Click& c : values) ++s.count, s.sum += c.value;
  return s;
}

std::optional<Out> running(const std::int64_t& id, std::span<const Click> values, sl::group_state<Running>& state) {
  const Running s = add(state.get_option().value_or(Running{}), values);
  state.update(s);
  return Out{id, s.count, s.sum};
}

struct RunningProcessor {
  sl::value_state<Running> total;
  void init(sl::processor_handle& h) { total = h.get_value_state<Running>("total"); }
  std::vector<Out> handle_input_rows(const std::int64_t& id, std::span<const Click> values, const sl::timer_values&) {
    const Running s = add(total.get_option().value_or(Running{}), values);
    total.update(s);
    return {Out{id, s.count, s.sum}};
  }
};

template <class Node>
void run(benchmark::State& state, Node make_node) {
  const auto& in = input_for(state.range(0));
  const auto partitions = static_cast<std::size_t>(state.range(1));
  std::size_t out = 0, current = 0;
  for (auto _ : state) {
    auto node = make_node(sl::source_node<bench::batch_source<Click>>{{&in, &current, kPerBatch}});
    sl::graph_controls controls;
    node.visit(controls);
    bench::run_batches(node, controls, current, kBatches, no_watermark, out, nullptr, partitions);
    benchmark::DoNotOptimize(out);
  }
  state.counters["out_rows_per_iter"] = static_cast<double>(out) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}

void engine_group_state(benchmark::State& state) {
  run(state, [](auto source) {
    return std::move(source) | sl::group_by_key(sl::col<"id">) |
           sl::flat_map_groups_with_state<Running>(running, sl::output_mode::append);
  });
}

void engine_transform_with_state(benchmark::State& state) {
  run(state, [](auto source) {
    return std::move(source) | sl::group_by_key(sl::col<"id">) |
           sl::transform_with_state(RunningProcessor{}, sl::time_mode::none, sl::output_mode::append);
  });
}

void hand_loop(benchmark::State& state) {
  const auto& in = input_for(state.range(0));
  std::size_t out = 0;
  for (auto _ : state) {
    boost::unordered_flat_map<std::int64_t, Running> states;
    boost::unordered_flat_map<std::int64_t, std::uint32_t> group_of;  // this batch's keys
    std::vector<std::int64_t> keys;
    std::vector<std::uint32_t> starts, row_group;
    std::vector<Click> grouped(kPerBatch);
    for (std::size_t b = 0; b < kBatches; ++b) {
      group_of.clear(), keys.clear(), row_group.clear();
      const Click* rows = in.data() + b * kPerBatch;
      for (std::size_t i = 0; i < kPerBatch; ++i) {
        const auto [it, fresh] = group_of.try_emplace(rows[i].id, static_cast<std::uint32_t>(keys.size()));
        if (fresh) keys.push_back(rows[i].id);
        row_group.push_back(it->second);
      }
      starts.assign(keys.size() + 1, 0);  // a key's rows together, in arrival order
      for (const auto g : row_group) ++starts[g + 1];
      for (std::size_t g = 0; g < keys.size(); ++g) starts[g + 1] += starts[g];
      std::vector<std::uint32_t> next(starts.begin(), starts.end() - 1);
      for (std::size_t i = 0; i < kPerBatch; ++i) grouped[next[row_group[i]]++] = rows[i];
      for (std::size_t g = 0; g < keys.size(); ++g) {
        Running& s = states[keys[g]];
        s = add(s, std::span<const Click>(grouped.data() + starts[g], starts[g + 1] - starts[g]));
        Out o{keys[g], s.count, s.sum};
        benchmark::DoNotOptimize(&o), ++out;
      }
    }
    benchmark::DoNotOptimize(out);
  }
  state.counters["out_rows_per_iter"] = static_cast<double>(out) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}
}  // namespace

BENCHMARK(hand_loop)->Args({1000, 1})->Args({100000, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(engine_group_state)->Args({1000, 1})->Args({100000, 1})->Args({1000, 8})->Args({100000, 8})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(engine_transform_with_state)->Args({1000, 1})->Args({100000, 1})->Args({1000, 8})->Args({100000, 8})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();

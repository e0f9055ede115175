// Per-batch overhead through the real engine: add one row to a memory stream and wait until
// the query has processed and committed it (process_all_available), so each iteration is one
// micro-batch from a row's arrival to its sink. Without a checkpoint, with a checkpoint and no
// state, and with a checkpoint over an aggregation holding 100K groups (each batch updates a
// few; a full snapshot every 10 batches).
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

namespace sl = sluice;
namespace fs = std::filesystem;

struct Hit {
  std::int64_t key;
  std::int64_t value;
};
BOOST_DESCRIBE_STRUCT(Hit, (), (key, value))

namespace {
fs::path scratch(const char* name) {
  auto dir = fs::temp_directory_path() / ("sluice-bench-" + std::string(name) + "-" + sl::detail::random_uuid());
  fs::remove_all(dir);
  return dir;
}

template <class Plan>
void run_batches(benchmark::State& state, sl::memory_stream<Hit>& in, Plan plan, sl::query_options options,
                 std::int64_t keys) {
  auto q = sl::start(std::move(plan), sl::output_mode::update, options);
  std::int64_t i = 0;
  for (auto _ : state) {
    in.add_data({Hit{(i * 7919) % keys, i}});
    q.process_all_available();
    ++i;
  }
  q.stop();
  state.counters["batches"] = static_cast<double>(i);
}

void no_checkpoint_stateless(benchmark::State& state) {
  sl::memory_stream<Hit> in;
  std::atomic<std::int64_t> seen{0};
  auto plan = in | sl::map([](const Hit& h) { return h; }) |
              sl::foreach_batch([&seen](std::span<const Hit> rows, std::int64_t) { seen += static_cast<std::int64_t>(rows.size()); });
  run_batches(state, in, std::move(plan), {}, 1);
}

void checkpoint_stateless(benchmark::State& state) {
  sl::memory_stream<Hit> in;
  std::atomic<std::int64_t> seen{0};
  const auto dir = scratch("stateless");
  auto plan = in | sl::map([](const Hit& h) { return h; }) |
              sl::foreach_batch([&seen](std::span<const Hit> rows, std::int64_t) { seen += static_cast<std::int64_t>(rows.size()); });
  run_batches(state, in, std::move(plan), {.checkpoint = dir.string()}, 1);
  fs::remove_all(dir);
}

template <bool Checkpoint>
void state_100k(benchmark::State& state) {
  constexpr std::int64_t keys = 100'000;
  sl::memory_stream<Hit> in;
  std::vector<Hit> seed;
  seed.reserve(keys);
  for (std::int64_t k = 0; k < keys; ++k) seed.push_back({k, 1});
  in.add_data(std::move(seed));  // the first batch builds the 100K groups
  auto counts = in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::count(), sl::sum(sl::col<"value">));
  using Row = decltype(counts)::row_type;
  std::atomic<std::int64_t> seen{0};
  auto plan = std::move(counts) |
              sl::foreach_batch([&seen](std::span<const Row> rows, std::int64_t) { seen += static_cast<std::int64_t>(rows.size()); });
  const auto dir = scratch("state");
  sl::query_options options;
  if (Checkpoint) options.checkpoint = dir.string();
  run_batches(state, in, std::move(plan), options, keys);
  fs::remove_all(dir);
}
}  // namespace

BENCHMARK(no_checkpoint_stateless)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(checkpoint_stateless)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(state_100k<false>)->Name("no_checkpoint_100k_groups")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(state_100k<true>)->Name("checkpoint_100k_groups")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_MAIN();

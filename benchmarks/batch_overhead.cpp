// Per-batch overhead through the real engine: add one row (or an empty unit: a batch with no
// rows) to a memory stream and wait until the query has processed and committed it
// (process_all_available), so each iteration is one micro-batch from a row's arrival to its
// sink. Without a checkpoint, with a checkpoint and no state, and with a checkpoint over an
// aggregation holding 100K groups (each batch updates a few; a full snapshot every 10
// batches). Last, the latency a row sees under the default trigger, where nobody asks the
// query to hurry: rows arrive at random moments while the loop idles between polls.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
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

// A batch whose source advanced by an empty unit: the batch runs, writes its log entries and
// gives the sink zero rows. Spark plans such a batch too when a source's offset moves.
template <bool Checkpoint>
void empty_batch(benchmark::State& state) {
  sl::memory_stream<Hit> in;
  std::atomic<std::int64_t> batches{0};
  auto plan = in | sl::foreach_batch([&batches](std::span<const Hit>, std::int64_t) { ++batches; });
  const auto dir = scratch("empty");
  sl::query_options options;
  if (Checkpoint) options.checkpoint = dir.string();
  auto q = sl::start(std::move(plan), sl::output_mode::append, options);
  for (auto _ : state) {
    in.add_data(std::vector<Hit>{});
    q.process_all_available();
  }
  q.stop();
  state.counters["batches"] = static_cast<double>(batches.load());
  fs::remove_all(dir);
}

// Arrival to sink under the default trigger (micro-batches as fast as possible, an idle poll
// every polling_delay = 10 ms as in Spark): each iteration waits a random 0-15 ms, adds one row
// stamped with the time, and times until the sink has it. Reports the mean (the iteration
// time) and the median and 99th percentile as counters.
template <bool Checkpoint>
void default_trigger_latency(benchmark::State& state) {
  using clock = std::chrono::steady_clock;
  sl::memory_stream<Hit> in;
  std::mutex m;
  std::condition_variable cv;
  std::int64_t delivered_at = 0, delivered = 0;
  auto plan = in | sl::foreach_batch([&](std::span<const Hit> rows, std::int64_t) {
                if (rows.empty()) return;
                std::lock_guard lock(m);
                delivered_at = clock::now().time_since_epoch().count();
                delivered += static_cast<std::int64_t>(rows.size());
                cv.notify_all();
              });
  const auto dir = scratch("latency");
  sl::query_options options;
  if (Checkpoint) options.checkpoint = dir.string();
  auto q = sl::start(std::move(plan), sl::output_mode::append, options);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> pause_us(0, 15'000);
  std::vector<double> latencies_us;
  std::int64_t sent = 0;
  for (auto _ : state) {
    std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));
    const auto t0 = clock::now().time_since_epoch().count();
    in.add_data({Hit{sent, t0}});
    ++sent;
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return delivered >= sent; });
    const double us = std::chrono::duration<double, std::micro>(clock::duration(delivered_at - t0)).count();
    latencies_us.push_back(us);
    state.SetIterationTime(us / 1e6);
  }
  q.stop();
  std::sort(latencies_us.begin(), latencies_us.end());
  if (!latencies_us.empty()) {
    state.counters["p50_us"] = latencies_us[latencies_us.size() / 2];
    state.counters["p99_us"] = latencies_us[std::min(latencies_us.size() - 1, latencies_us.size() * 99 / 100)];
  }
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
BENCHMARK(empty_batch<false>)->Name("no_checkpoint_empty_batch")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(empty_batch<true>)->Name("checkpoint_empty_batch")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(state_100k<false>)->Name("no_checkpoint_100k_groups")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(state_100k<true>)->Name("checkpoint_100k_groups")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(default_trigger_latency<false>)->Name("default_trigger_latency")->Unit(benchmark::kMicrosecond)->UseManualTime()->Iterations(200);
BENCHMARK(default_trigger_latency<true>)->Name("default_trigger_latency_checkpoint")->Unit(benchmark::kMicrosecond)->UseManualTime()->Iterations(200);
BENCHMARK_MAIN();

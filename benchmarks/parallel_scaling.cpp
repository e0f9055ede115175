// Scaling with the query's workers (query_options::parallelism, issue #15): the same query
// over the same JSON-lines files with parallelism 1 and 2, in one run. Each batch takes 8
// files (max_files_per_trigger), the batch's partitions; decode_threads 1, so that with
// parallelism 1 one thread does everything and with 2 the workers read files at once.
//
//   keyed_tumbling  window(timestamp, 5 min), user_id -> count, avg(value); append mode
//   seed004         seed 004's Example 2: window(timestamp, 5 min), event_type -> count,
//                   avg(value); update mode, with a checkpoint (as benchmarks/spark)
//
//   big_file        keyed_tumbling over one 100 MB file and 7 small ones (one batch): the
//                   large file cut into blocks (json_lines_options::max_partition_bytes), the
//                   batch's partitions; the second argument 0 keeps it whole (one partition, as
//                   before blocks), for comparison
//   big_file_partitions  the same batch's partitions (as planned for 2 workers) read one after
//                   another on one thread through the source's own API, each timed on the
//                   thread's CPU clock: the largest partition (read_largest_partition_s) is a
//                   floor on the batch's wall time however many cores, and the partitions
//                   claimed in order by 2 threads (read_on_2_threads_s) the time reading takes
//                   on 2 free cores; load on the machine does not move these
//
// Input: 32 files of 25,000 seed-004 events (examples/common/event.hpp), about 100 MB,
// written once to a temporary directory; for big_file, the same 800,000 events in one file
// beside 7 files of 3,125. Counters: events/s (items_per_second, wall time),
// events per CPU second of the whole process (cpu_events_per_s: the per-core rate, which
// other load on the machine does not change), the process's CPU seconds and the query
// thread's (query_thread_cpu_s, the whole run: the batch loop, the stateful finish, the sink,
// the checkpoint and the query thread's share of the tasks; with 2 threads the wall time
// cannot go below it, nor below half the process's CPU). docs/performance.md ("Parallel
// execution") has the figures and their ratio.
#include <benchmark/benchmark.h>

#include <sluice/files.hpp>
#include <sluice/sluice.hpp>

#include "../examples/common/event.hpp"

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>

namespace sl = sluice;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
constexpr std::int64_t kFiles = 32, kPerFile = 25'000;

constexpr std::int64_t kSmallFiles = 7, kPerSmallFile = 3'125;

fs::path created_dir, created_big_dir;  // removed at exit

const fs::path& input_dir() {
  static const fs::path dir = [] {
    const fs::path d = fs::temp_directory_path() / ("sluice-bench-parallel-" + sl::detail::random_uuid());
    fs::create_directories(d);
    created_dir = d;
    for (std::int64_t n = 0; n < kFiles; ++n) {
      std::string text;
      for (const auto& e : seed_events(n, kPerFile)) {
        text += sl::to_json_string(e);
        text += '\n';
      }
      std::ofstream(d / ("batch_" + std::to_string(1000 + n) + ".json"), std::ios::binary) << text;
    }
    return d;
  }();
  return dir;
}

// One file of kFiles * kPerFile events (file batch_1000's events, then batch_1001's...) and
// kSmallFiles small ones after it.
const fs::path& big_input_dir() {
  static const fs::path dir = [] {
    const fs::path d = fs::temp_directory_path() / ("sluice-bench-parallel-big-" + sl::detail::random_uuid());
    fs::create_directories(d);
    created_big_dir = d;
    {
      std::ofstream out(d / "batch_0_big.json", std::ios::binary);
      for (std::int64_t n = 0; n < kFiles; ++n) {
        std::string text;
        for (const auto& e : seed_events(n, kPerFile)) {
          text += sl::to_json_string(e);
          text += '\n';
        }
        out << text;
      }
    }
    for (std::int64_t n = 0; n < kSmallFiles; ++n) {
      std::string text;
      for (const auto& e : seed_events(kFiles + n, kPerSmallFile)) {
        text += sl::to_json_string(e);
        text += '\n';
      }
      std::ofstream(d / ("batch_" + std::to_string(1 + n) + "_small.json"), std::ios::binary) << text;
    }
    return d;
  }();
  return dir;
}

double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
// The CPU time of the calling thread (the query's, in a listener): a query's thread is new,
// so this is all it did so far.
double thread_cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}
std::atomic<double> query_thread_cpu{0};

// Records the query thread's CPU time when the query ends (listeners are told on its thread),
// after the last batch's state checkpoint and commit.
struct query_thread_clock final : sl::query_listener {
  void on_query_terminated(const sl::query_terminated_event&) override { query_thread_cpu = thread_cpu_seconds(); }
};

template <class Row>
auto sink() {
  return sl::foreach_batch([](std::span<const Row> rows, std::int64_t) { benchmark::DoNotOptimize(rows.data()); });
}

auto source() {
  return sl::files::json_lines<Event>(input_dir().string(),
                                      {.glob = "batch_*.json", .max_files_per_trigger = 8, .decode_threads = 1});
}

template <class Make>
void run_query(benchmark::State& state, Make make, std::int64_t expected_rows = kFiles * kPerFile) {
  const auto parallelism = static_cast<std::size_t>(state.range(0));
  std::int64_t rows = 0;
  double cpu = 0, query_cpu = 0;
  for (auto _ : state) {
    const fs::path ck = fs::temp_directory_path() / ("sluice-bench-parallel-ck-" + sl::detail::random_uuid());
    const double cpu0 = process_cpu_seconds();
    auto q = make(ck, parallelism);
    q.await_termination();
    cpu += process_cpu_seconds() - cpu0;
    query_cpu += query_thread_cpu.load();
    for (const auto& p : q.recent_progress()) rows += p.num_input_rows;
    fs::remove_all(ck);
  }
  if (rows != static_cast<std::int64_t>(state.iterations()) * expected_rows)
    state.SkipWithError("the query read fewer rows than the files hold");
  state.SetItemsProcessed(rows);
  const double n = static_cast<double>(state.iterations());
  state.counters["cpu_events_per_s"] = static_cast<double>(rows) / cpu;
  state.counters["cpu_s"] = cpu / n;
  state.counters["query_thread_cpu_s"] = query_cpu / n;
}

void keyed_tumbling(benchmark::State& state) {
  (void)input_dir();  // written before the timing starts
  run_query(state, [](const fs::path&, std::size_t parallelism) {
    auto agg = source() | sl::with_watermark(sl::col<"timestamp">, 10min) |
               sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"user_id">) |
               sl::aggregate(sl::count().as<"n">(), sl::avg(sl::col<"value">).as<"avg_value">());
    using Row = decltype(agg)::row_type;
    return sl::start(std::move(agg) | sink<Row>(),
                     sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(),
                      .progress_retention = 1000,
                      .listeners = {std::make_shared<query_thread_clock>()},
                      .parallelism = parallelism});
  });
}
BENCHMARK(keyed_tumbling)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void seed004(benchmark::State& state) {
  (void)input_dir();
  run_query(state, [](const fs::path& ck, std::size_t parallelism) {
    auto agg = source() | sl::with_watermark(sl::col<"timestamp">, 10min) |
               sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">) |
               sl::aggregate(sl::count().as<"event_count">(), sl::avg(sl::col<"value">).as<"avg_value">());
    using Row = decltype(agg)::row_type;
    return sl::start(std::move(agg) | sink<Row>(),
                     sl::output_mode::update,
                     {.trigger = sl::trigger::available_now(),
                      .checkpoint = ck.string(),
                      .progress_retention = 1000,
                      .listeners = {std::make_shared<query_thread_clock>()},
                      .parallelism = parallelism});
  });
}
BENCHMARK(seed004)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

auto big_file_source(bool cut) {
  return sl::files::json_lines<Event>(
      big_input_dir().string(),
      {.glob = "batch_*.json",
       .max_files_per_trigger = 8,
       .decode_threads = 1,
       // not cut: no block limit, and a batch needs no more partitions than one
       .max_partition_bytes = cut ? sl::files::default_max_partition_bytes : std::int64_t{1} << 40,
       .min_partitions = cut ? std::size_t{0} : std::size_t{1}});
}

void big_file(benchmark::State& state) {
  (void)big_input_dir();
  const bool cut = state.range(1) != 0;
  run_query(
      state,
      [cut](const fs::path&, std::size_t parallelism) {
        auto agg = big_file_source(cut) | sl::with_watermark(sl::col<"timestamp">, 10min) |
                   sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"user_id">) |
                   sl::aggregate(sl::count().as<"n">(), sl::avg(sl::col<"value">).as<"avg_value">());
        using Row = decltype(agg)::row_type;
        return sl::start(std::move(agg) | sink<Row>(), sl::output_mode::append,
                         {.trigger = sl::trigger::available_now(), .progress_retention = 1000, .parallelism = parallelism});
      },
      kFiles * kPerFile + kSmallFiles * kPerSmallFile);
}
BENCHMARK(big_file)->Args({1, 0})->Args({1, 1})->Args({2, 0})->Args({2, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

// A batch context with 2 workers, for planning: its tasks run in turn on the caller.
struct two_workers final : sl::task_runner {
  void run_tasks(std::size_t n, void (*task)(void*, std::size_t), void* arg) override {
    for (std::size_t i = 0; i < n; ++i) task(arg, i);
  }
  std::size_t workers() const override { return 2; }
};

void big_file_partitions(benchmark::State& state) {
  (void)big_input_dir();
  const bool cut = state.range(0) != 0;
  two_workers tasks;
  sl::batch_context ctx;
  ctx.tasks = &tasks;
  const sl::detail::batch_scope running(ctx);
  double total = 0, largest = 0, two = 0;
  std::size_t partitions = 0;
  std::int64_t rows = 0;
  for (auto _ : state) {
    auto src = big_file_source(cut);
    const auto start = src.initial_offset();
    const auto end = src.latest_offset(start, sl::read_limit::all_available());
    const auto parts = src.partitions(start, end);
    partitions = parts.size();
    double on[2] = {0, 0};  // each thread takes the next partition when it is free
    for (const auto& p : parts) {
      const double t0 = thread_cpu_seconds();
      src.read(p, [&](Event&& e) {
        benchmark::DoNotOptimize(e);
        ++rows;
      });
      const double cost = thread_cpu_seconds() - t0;
      total += cost;
      largest = std::max(largest, cost);
      on[on[0] <= on[1] ? 0 : 1] += cost;
    }
    two += std::max(on[0], on[1]);
  }
  if (rows != static_cast<std::int64_t>(state.iterations()) * (kFiles * kPerFile + kSmallFiles * kPerSmallFile))
    state.SkipWithError("the partitions held fewer rows than the files");
  const double n = static_cast<double>(state.iterations());
  state.counters["partitions"] = static_cast<double>(partitions);
  state.counters["read_cpu_s"] = total / n;
  state.counters["read_largest_partition_s"] = largest;
  state.counters["read_on_2_threads_s"] = two / n;
}
BENCHMARK(big_file_partitions)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The input directories go with the process.
struct cleanup {
  ~cleanup() {
    std::error_code ec;
    if (!created_dir.empty()) fs::remove_all(created_dir, ec);
    if (!created_big_dir.empty()) fs::remove_all(created_big_dir, ec);
  }
} at_exit;
}  // namespace

BENCHMARK_MAIN();

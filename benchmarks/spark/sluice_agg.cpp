// Seed 004's Example 2 in sluice, the counterpart of spark_agg.py over the same files:
// files::json_lines<Event>(dir, max_files_per_trigger = 1, decode_threads) -> watermark 10 min
// -> 5-minute tumbling windows per event_type -> count + avg(value), output mode update,
// trigger available-now, with a checkpoint (as Spark has one), sink foreach_batch keeping the
// latest row per (window, event_type).
//
// Usage: sluice_spark_compare INPUT_DIR --out RESULT.json [--runs N] [--decode-threads N]
//                             [--parallelism N]
// --decode-threads: the source's decode_threads (default 0: one per core; 1: the query's thread
// decodes alone, as before files were cut across threads).
// --parallelism: query_options::parallelism, the threads a batch runs on (default 0: one per
// core; 1: the query's thread alone). Spark's local[N] is the counterpart.
// Each run starts a fresh query (new checkpoint) and is timed from start() to the end of
// await_termination(), in wall and CPU seconds (all threads). RESULT.json: times, events/s,
// and the aggregates of the last run.
// Exits 1 if a run reads fewer rows than the files hold.
#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

#include "../../examples/common/event.hpp"  // Event (seed 004's schema)

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
namespace sl = sluice;
namespace fs = std::filesystem;

// CPU seconds (user + system) of this process, all threads: on a shared machine the steadier
// measure of the work done.
static double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char** argv) {
  const char* usage =
      "usage: sluice_spark_compare INPUT_DIR --out RESULT.json [--runs N] [--decode-threads N] [--parallelism N]\n";
  std::string input, out;
  int runs = 3;
  std::size_t decode_threads = 0;
  std::size_t parallelism = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) out = argv[++i];
    else if (a == "--runs" && i + 1 < argc) runs = std::stoi(argv[++i]);
    else if (a == "--decode-threads" && i + 1 < argc) decode_threads = std::stoul(argv[++i]);
    else if (a == "--parallelism" && i + 1 < argc) parallelism = std::stoul(argv[++i]);
    else if (!a.starts_with("--") && input.empty()) input = a;
    else {
      std::fprintf(stderr, "%s", usage);
      return 2;
    }
  }
  if (input.empty() || out.empty()) {
    std::fprintf(stderr, "%s", usage);
    return 2;
  }

  std::int64_t events = 0, files = 0;
  for (const auto& f : fs::directory_iterator(input)) {
    const auto name = f.path().filename().string();
    if (!name.starts_with("batch_") || !name.ends_with(".json")) continue;
    ++files;
    std::ifstream in(f.path(), std::ios::binary);
    for (std::string line; std::getline(in, line);) ++events;
  }

  boost::json::array run_results;
  std::map<std::pair<std::int64_t, std::string>, std::pair<std::int64_t, double>> latest;
  bool ok = true;
  for (int run = 0; run < runs; ++run) {
    latest.clear();
    const fs::path checkpoint = fs::temp_directory_path() / ("sluice-spark-compare-" + sl::detail::random_uuid());
    auto windowed = sl::files::json_lines<Event>(
                        input, {.glob = "batch_*.json", .max_files_per_trigger = 1, .decode_threads = decode_threads})
        | sl::with_watermark(sl::col<"timestamp">, 10min)
        | sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">)
        | sl::aggregate(sl::count().as<"event_count">(), sl::avg(sl::col<"value">).as<"avg_value">());
    using agg_row = decltype(windowed)::row_type;
    auto keep_latest = [&latest](std::span<const agg_row> rows, std::int64_t) {
      for (const auto& r : rows)
        latest[{sl::get<"window">(r).start.micros, sl::get<"event_type">(r)}] = {sl::get<"event_count">(r),
                                                                                  sl::get<"avg_value">(r)};
    };
    const double cpu0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    auto query = sl::start(windowed | sl::foreach_batch(keep_latest), sl::output_mode::update,
                           {.name = "spark-compare",
                            .trigger = sl::trigger::available_now(),
                            .checkpoint = checkpoint.string(),
                            .progress_retention = 100000,
                            .parallelism = parallelism});
    query.await_termination();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu_seconds = process_cpu_seconds() - cpu0;
    std::int64_t rows = 0;
    for (const auto& p : query.recent_progress()) rows += p.num_input_rows;
    std::error_code ec;
    fs::remove_all(checkpoint, ec);
    run_results.push_back({{"seconds", seconds},
                           {"cpu_seconds", cpu_seconds},
                           {"input_rows", rows},
                           {"progress_entries", query.recent_progress().size()},
                           {"events_per_s", seconds > 0 ? static_cast<double>(rows) / seconds : 0.0}});
    std::fprintf(stderr, "sluice run %d: %lld rows in %.3f s (%.3f s CPU) = %.1f K events/s\n", run + 1,
                 static_cast<long long>(rows), seconds, cpu_seconds, static_cast<double>(rows) / seconds / 1e3);
    if (rows != events) {
      std::fprintf(stderr, "sluice_spark_compare: run %d read %lld rows, the files hold %lld\n", run + 1,
                   static_cast<long long>(rows), static_cast<long long>(events));
      ok = false;
    }
  }

  boost::json::array aggregates;
  for (const auto& [k, v] : latest)
    aggregates.push_back(
        {{"window_start", k.first}, {"event_type", k.second}, {"event_count", v.first}, {"avg_value", v.second}});
  boost::json::object result{{"engine", "sluice"},
#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
                             {"json_decoder", "simdjson"},
#else
                             {"json_decoder", "boost.json"},
#endif
                             {"decode_threads", sl::files::detail::resolve_decode_threads(decode_threads)},
                             {"parallelism", parallelism != 0 ? parallelism : std::size_t{std::thread::hardware_concurrency()}},
                             {"events", events},
                             {"files", files},
                             {"runs", run_results},
                             {"aggregates", aggregates}};
  std::ofstream(out) << boost::json::serialize(result) << "\n";
  return ok ? 0 : 1;
}

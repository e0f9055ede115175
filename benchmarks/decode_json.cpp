// Decoding JSON lines into a described struct: seed 004's event (two strings, an ISO-8601
// timestamp, an integer, a double), 100,000 lines as seed 004's Python generator writes them
// (json.dumps: shortest round-trip doubles, datetime.isoformat() with microseconds).
//
//   boost_parse_per_line    boost::json::parse of each line, then sl::from_json<Event>
//   boost_library_path      the file sources' Boost.JSON path: a reused parser over a
//                           monotonic buffer, then from_json (UTF-8 check included)
//   boost_reused_hand       the same parser, fields looked up by hand (no from_json)
//   simdjson_library_path   the file sources' path with sluice::simdjson (SLUICE_HAS_SIMDJSON):
//                           simdjson DOM straight into the struct, Boost.JSON only as fallback
//   simdjson_ondemand_hand  simdjson's On-Demand API with the fields read by hand: the ceiling
//   read_file_*             sl::files::read_json_lines_file over the same lines in a file
//                           (file reading and line splitting included), one thread
//   read_file_threads       the same (simdjson) with decode_threads 1 and 2, wall time
//   split_threshold         small files forced through the parallel loop: where splitting pays
//   thread_start_join       what one helper thread costs
//
// Rows/s are items_per_second, input MB/s bytes_per_second. Before timing, every line is
// decoded by both library paths and the results compared (the program exits 1 if they
// differ; doubles may differ in the last bit: Boost.JSON 1.81's default parser is not
// correctly rounded, simdjson is; the count is printed).
#ifndef SLUICE_HAS_SIMDJSON
#error "bench_decode_json needs simdjson (libsimdjson-dev): link sluice::simdjson"
#endif

#include <benchmark/benchmark.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

#include "../examples/common/event.hpp"  // Event (seed 004's schema)

namespace sl = sluice;
namespace fs = std::filesystem;

// The same fields, kept to the Boost.JSON path so both run in one program.
struct EventBoost {
  std::string event_id;
  sl::timestamp timestamp;
  std::int64_t user_id;
  std::string event_type;
  double value;
};
BOOST_DESCRIBE_STRUCT(EventBoost, (), (event_id, timestamp, user_id, event_type, value))
template <>
inline constexpr bool sluice::detail::simd::enabled_for<EventBoost> = false;

namespace {

constexpr int line_count = 100'000;

struct data_set {
  std::vector<std::string> lines;
  std::size_t bytes = 0;
  fs::path file;
};

// Seed 004's generator: event_id "<batch>_<i>", timestamp now - 0..60 s (isoformat, with
// microseconds), user_id 1..1000, event_type click/view/purchase, value uniform 10..1000.
const data_set& data() {
  static const data_set d = [] {
    data_set d;
    std::mt19937_64 rng(4);
    const char* types[] = {"click", "view", "purchase"};
    const std::int64_t base = 1'705'312'800'000'000;  // 2024-01-15T10:00:00Z
    for (int i = 0; i < line_count; ++i) {
      const auto t = sl::timestamp{base + static_cast<std::int64_t>(i) * 3'000 +
                                   static_cast<std::int64_t>(rng() % 60'000'000)};
      std::string ts = sl::format_timestamp(t);  // "2024-01-15T10:00:23.123456Z" style
      if (!ts.empty() && ts.back() == 'Z') ts.pop_back();  // isoformat() of a naive datetime
      const double value = 10.0 + std::uniform_real_distribution<double>(0.0, 990.0)(rng);
      char num[64];
      const auto r = std::to_chars(num, num + sizeof num, value);  // shortest round-trip, as Python repr
      std::string line = "{\"event_id\": \"" + std::to_string(i / 100) + "_" + std::to_string(i % 100) +
                         "\", \"timestamp\": \"" + ts + "\", \"user_id\": " + std::to_string(1 + rng() % 1000) +
                         ", \"event_type\": \"" + types[rng() % 3] + "\", \"value\": " + std::string(num, r.ptr) + "}";
      d.bytes += line.size() + 1;
      d.lines.push_back(std::move(line));
    }
    d.file = fs::temp_directory_path() / ("sluice-bench-decode-" + sl::detail::random_uuid() + ".jsonl");
    std::ofstream out(d.file, std::ios::binary);
    for (const auto& l : d.lines) out << l << '\n';
    return d;
  }();
  return d;
}

void set_counters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(data().lines.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data().bytes));
}

// Both library paths must agree on every line before anything is timed.
bool check_paths_agree() {
  sl::files::detail::json_lines_parser<Event> fast;
  sl::files::detail::json_lines_parser<EventBoost> slow;
  Event a;
  EventBoost b;
  std::string reason;
  std::int64_t last_bit = 0;
  for (const auto& line : data().lines) {
    if (fast.parse(line, 1, a, reason) != sl::files::detail::parse_result::row ||
        slow.parse(line, 1, b, reason) != sl::files::detail::parse_result::row) {
      std::fprintf(stderr, "decode_json: a line did not decode: %s (%s)\n", line.c_str(), reason.c_str());
      return false;
    }
    if (a.event_id != b.event_id || a.timestamp != b.timestamp || a.user_id != b.user_id ||
        a.event_type != b.event_type || std::abs(a.value - b.value) > 1e-12 * std::abs(b.value)) {
      std::fprintf(stderr, "decode_json: simdjson and Boost.JSON paths differ on %s\n", line.c_str());
      return false;
    }
    last_bit += a.value != b.value;
  }
  std::fprintf(stderr, "decode_json: %zu lines, %.1f MB; both paths agree (%lld doubles differ in the last bit)\n",
               data().lines.size(), static_cast<double>(data().bytes) / 1e6, static_cast<long long>(last_bit));
  return true;
}

void boost_parse_per_line(benchmark::State& state) {
  for (auto _ : state) {
    for (const auto& line : data().lines) {
      auto e = sl::from_json<EventBoost>(boost::json::parse(line));
      benchmark::DoNotOptimize(e);
    }
  }
  set_counters(state);
}
BENCHMARK(boost_parse_per_line)->Unit(benchmark::kMillisecond);

template <class Row>
void library_path(benchmark::State& state) {
  sl::files::detail::json_lines_parser<Row> parser;
  Row row;
  std::string reason;
  for (auto _ : state) {
    for (const auto& line : data().lines) {
      if (parser.parse(line, 1, row, reason) != sl::files::detail::parse_result::row) state.SkipWithError("bad line");
      benchmark::DoNotOptimize(row);
    }
  }
  set_counters(state);
}
void boost_library_path(benchmark::State& state) { library_path<EventBoost>(state); }
void simdjson_library_path(benchmark::State& state) { library_path<Event>(state); }
BENCHMARK(boost_library_path)->Unit(benchmark::kMillisecond);
BENCHMARK(simdjson_library_path)->Unit(benchmark::kMillisecond);

void boost_reused_hand(benchmark::State& state) {
  unsigned char initial[8192];
  boost::json::monotonic_resource resource(initial, sizeof initial);
  boost::json::parser parser;
  Event e;
  for (auto _ : state) {
    for (const auto& line : data().lines) {
      parser.reset(boost::json::storage_ptr(&resource));
      parser.write(line.data(), line.size());
      const boost::json::value v = parser.release();
      const auto& o = v.get_object();
      const auto& id = o.at("event_id").get_string();
      e.event_id.assign(id.data(), id.size());
      e.timestamp = *sl::parse_timestamp(o.at("timestamp").get_string());
      e.user_id = o.at("user_id").to_number<std::int64_t>();
      const auto& type = o.at("event_type").get_string();
      e.event_type.assign(type.data(), type.size());
      e.value = o.at("value").to_number<double>();
      benchmark::DoNotOptimize(e);
      parser.reset();
      resource.release();
    }
  }
  set_counters(state);
}
BENCHMARK(boost_reused_hand)->Unit(benchmark::kMillisecond);

void simdjson_ondemand_hand(benchmark::State& state) {
  simdjson::ondemand::parser parser;
  std::string padded;
  Event e;
  for (auto _ : state) {
    for (const auto& line : data().lines) {
      padded.assign(line);
      padded.resize(line.size() + simdjson::SIMDJSON_PADDING);
      auto doc = parser.iterate(padded.data(), line.size(), padded.size());
      auto obj = doc.get_object();
      std::string_view s;
      if (obj["event_id"].get_string().get(s)) state.SkipWithError("event_id");
      e.event_id.assign(s);
      if (obj["timestamp"].get_string().get(s)) state.SkipWithError("timestamp");
      e.timestamp = *sl::parse_timestamp(s);
      if (obj["user_id"].get_int64().get(e.user_id)) state.SkipWithError("user_id");
      if (obj["event_type"].get_string().get(s)) state.SkipWithError("event_type");
      e.event_type.assign(s);
      if (obj["value"].get_double().get(e.value)) state.SkipWithError("value");
      benchmark::DoNotOptimize(e);
    }
  }
  set_counters(state);
}
BENCHMARK(simdjson_ondemand_hand)->Unit(benchmark::kMillisecond);

template <class Row>
void read_file(benchmark::State& state) {
  for (auto _ : state) {
    auto rows = sl::files::read_json_lines_file<Row>(data().file, {.decode_threads = 1});
    if (rows.size() != data().lines.size()) state.SkipWithError("wrong row count");
    benchmark::DoNotOptimize(rows);
  }
  set_counters(state);
}
void read_file_boost(benchmark::State& state) { read_file<EventBoost>(state); }
void read_file_simdjson(benchmark::State& state) { read_file<Event>(state); }
BENCHMARK(read_file_boost)->Unit(benchmark::kMillisecond);
BENCHMARK(read_file_simdjson)->Unit(benchmark::kMillisecond);

// The first lines of the data set, about `bytes` of them, in a file of their own (removed at exit).
std::vector<fs::path> prefix_files;
struct prefix_file {
  fs::path path;
  std::int64_t lines = 0, bytes = 0;
};
const prefix_file& file_of_size(std::int64_t bytes) {
  static std::map<std::int64_t, prefix_file> files;
  auto [it, added] = files.try_emplace(bytes);
  if (added) {
    auto& f = it->second;
    f.path = fs::temp_directory_path() / ("sluice-bench-decode-" + sl::detail::random_uuid() + ".jsonl");
    std::ofstream out(f.path, std::ios::binary);
    for (const auto& l : data().lines) {
      if (f.bytes >= bytes) break;
      out << l << '\n';
      f.bytes += static_cast<std::int64_t>(l.size()) + 1;
      ++f.lines;
    }
    prefix_files.push_back(f.path);
  }
  return it->second;
}

// read_json_lines_file (simdjson) with decode_threads = range(1), over files of range(0)
// bytes: what splitting a file across threads gains. Wall time: the helper threads' work is
// not on the calling thread's CPU clock.
void read_file_threads(benchmark::State& state) {
  const auto& f = file_of_size(state.range(0));
  const auto threads = static_cast<std::size_t>(state.range(1));
  for (auto _ : state) {
    auto rows = sl::files::read_json_lines_file<Event>(f.path, {.decode_threads = threads});
    if (static_cast<std::int64_t>(rows.size()) != f.lines) state.SkipWithError("wrong row count");
    benchmark::DoNotOptimize(rows);
  }
  state.SetItemsProcessed(state.iterations() * f.lines);
  state.SetBytesProcessed(state.iterations() * f.bytes);
}
BENCHMARK(read_file_threads)
    ->ArgsProduct({{4 << 20, 13'400'000}, {1, 2}})
    ->ArgNames({"bytes", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Where splitting starts to pay: the parallel reading loop forced to cut files of range(0)
// bytes into range(1) chunks whatever their size (read_json_lines_file only splits files of
// parallel_min_file_bytes or more, into chunks of parallel_min_chunk_bytes or more).
void split_threshold(benchmark::State& state) {
  namespace d = sl::files::detail;
  const auto& f = file_of_size(state.range(0));
  const auto threads = static_cast<std::size_t>(state.range(1));
  auto fail = [](auto&&...) { throw std::runtime_error("decode_json: a bad line"); };
  for (auto _ : state) {
    std::vector<Event> rows;
    d::record_reader reader(f.path, f.bytes, sl::files::default_max_line_bytes, std::nullopt,
                            threads * d::parallel_block_bytes_per_thread);
    d::json_lines_parser<Event> parser;
    d::read_lines_in_parallel<Event>(
        reader, threads, sl::files::default_max_line_bytes, true, parser,
        [] { return std::make_unique<d::json_lines_parser<Event>>(); }, fail,
        [&](Event&& e) { rows.push_back(std::move(e)); }, fail, /*min_chunk_bytes=*/1);
    if (static_cast<std::int64_t>(rows.size()) != f.lines) state.SkipWithError("wrong row count");
    benchmark::DoNotOptimize(rows);
  }
  state.SetItemsProcessed(state.iterations() * f.lines);
  state.SetBytesProcessed(state.iterations() * f.bytes);
}
BENCHMARK(split_threshold)
    ->ArgsProduct({{64 << 10, 256 << 10, 1 << 20}, {1, 2}})
    ->ArgNames({"bytes", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// What a helper thread costs per block: start and join one doing nothing.
void thread_start_join(benchmark::State& state) {
  for (auto _ : state) {
    std::jthread t([] {});
  }
}
BENCHMARK(thread_start_join)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const bool ok = check_paths_agree();
  if (ok) benchmark::RunSpecifiedBenchmarks();
  std::error_code ec;
  fs::remove(data().file, ec);
  for (const auto& f : prefix_files) fs::remove(f, ec);
  benchmark::Shutdown();
  return ok ? 0 : 1;
}

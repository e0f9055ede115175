// The Delta sink's write path per batch size: each iteration is one batch handed to the
// bound sink (sl::delta::sink(...).bind<Event>()), which encodes the rows to Parquet through
// Arrow, syncs the file, and creates the next log version put-if-absent (a checkpoint every
// 10 versions, as by default). Reported: rows/s (items_per_second) and MB/s of Parquet written
// (bytes_per_second, the committed files' sizes), per batch size and codec.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <sluice/delta.hpp>

namespace sl = sluice;
namespace fs = std::filesystem;

struct Event {
  std::string event_id;
  sl::timestamp timestamp;
  std::int64_t user_id = 0;
  std::string event_type;
  double value = 0;
  std::optional<std::int64_t> score;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_id, timestamp, user_id, event_type, value, score))

namespace {
std::vector<Event> make_rows(std::int64_t n) {
  static const char* types[] = {"click", "view", "purchase", "signup"};
  std::vector<Event> rows;
  rows.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    Event e;
    e.event_id = "evt-" + std::to_string(1'000'000'000 + i);
    e.timestamp = sl::timestamp{1'705'314'600'000'000 + i * 1'003};
    e.user_id = (i * 7919) % 100'000;
    e.event_type = types[i % 4];
    e.value = static_cast<double>(i % 1000) * 0.25;
    if (i % 5) e.score = i % 97;
    rows.push_back(std::move(e));
  }
  return rows;
}

void write_batches(benchmark::State& state, sl::delta::compression codec) {
  const auto rows = make_rows(state.range(0));
  const auto table = fs::temp_directory_path() / ("sluice-bench-delta-" + sl::detail::random_uuid());
  std::int64_t batch = 0;
  {
    auto sink = sl::delta::sink(table, {.codec = codec}).bind<Event>();
    sink.start({"bench", "", sl::output_mode_kind::append});
    for (auto _ : state) sink.add_batch(batch++, rows);
  }
  std::int64_t bytes = 0;
  for (const auto& [path, add] : sl::delta::load_snapshot(table).files) bytes += add.size;
  state.SetItemsProcessed(batch * state.range(0));
  state.SetBytesProcessed(bytes);
  state.counters["bytes_per_row"] = batch ? static_cast<double>(bytes) / static_cast<double>(batch * state.range(0)) : 0;
  fs::remove_all(table);
}

void snappy(benchmark::State& state) { write_batches(state, sl::delta::compression::snappy); }
void zstd(benchmark::State& state) { write_batches(state, sl::delta::compression::zstd); }
}  // namespace

BENCHMARK(snappy)->Arg(1'000)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(zstd)->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();

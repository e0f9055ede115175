// Sliding windows: cost per event as duration / slide grows from 1 to 3600 (slide 1 s,
// duration 1 s to 1 h), the library's sliced aggregation (each row into one slice of
// gcd(duration, slide); windows combine slices with subtract-on-evict or DABA Lite) beside
// the per-window copy Spark does (`.with_per_window_copies()`: each row into every window).
//
//   accept_*   one batch of rows into open windows (watermark 0: nothing closes), the per-row
//              path alone; 1K keys.
//   stream_*   the whole input in batches of 16K rows, in event-time order, with a watermark
//              5 s behind and append mode: every window closes and is emitted once (a last batch
//              flushes them). Counters: out_per_event (windows emitted per input row, the same
//              for both paths: the output itself grows with the ratio when keys are many).
//
// Aggregates: 0 = count, sum, avg of an integer column (invertible: subtract on evict);
// 1 = min, max (DABA Lite). Inputs have 4 rows per key and second; the per-window path gets
// fewer rows at high ratios (2^24 / ratio rows, at least 4096: about 2^24 window updates per
// iteration) so that one iteration stays short, also in CI's smoke run; figures are per row.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include <sluice/sluice.hpp>

namespace sl = sluice;
using namespace std::chrono_literals;

struct Event {  // 24 bytes
  std::int64_t key;
  sl::timestamp ts;
  std::int64_t value;
};
BOOST_DESCRIBE_STRUCT(Event, (), (key, ts, value))

namespace {
constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kRowsPerKeySecond = 4;
constexpr std::size_t kBatchRows = 1 << 14;

std::size_t rows_for(bool copies, std::int64_t ratio) {
  const std::size_t full = 1 << 20;
  if (!copies) return full;
  return std::clamp<std::size_t>((std::size_t{1} << 24) / static_cast<std::size_t>(ratio), 1 << 12, full);
}

// Rows in event-time order, keys uniform in [0, keys).
const std::vector<Event>& input(std::size_t rows, std::int64_t keys) {
  static std::map<std::pair<std::size_t, std::int64_t>, std::vector<Event>> cache;
  auto [it, inserted] = cache.try_emplace({rows, keys});
  if (inserted) {
    std::mt19937_64 rng(11);
    const std::int64_t step = kSecond / (keys * kRowsPerKeySecond);  // microseconds between rows
    it->second.resize(rows);
    for (std::size_t i = 0; i < rows; ++i)
      it->second[i] = {static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(keys)),
                       sl::timestamp{static_cast<std::int64_t>(i) * std::max<std::int64_t>(step, 1)},
                       static_cast<std::int64_t>(rng() % 1000)};
  }
  return it->second;
}

// Emits the rows of the current chunk, set by the benchmark before each batch.
struct chunk_source {
  using row_type = Event;
  struct offset {
    std::int64_t end = 0;
  };
  using offset_type = offset;
  using partition_type = offset;
  struct chunk {
    const Event* begin = nullptr;
    const Event* end = nullptr;
  };
  chunk* current;
  offset initial_offset() { return {0}; }
  offset latest_offset(const offset& start, sl::read_limit) { return {start.end + 1}; }
  std::vector<offset> partitions(const offset&, const offset& e) { return {e}; }
  template <class Emit>
  void read(const offset&, Emit&& emit) {
    for (const Event* r = current->begin; r != current->end; ++r) emit(*r);
  }
  void commit(const offset&) {}
  std::string description() const { return "chunk"; }
};
BOOST_DESCRIBE_STRUCT(chunk_source::offset, (), (end))

auto make_window(std::int64_t ratio, bool copies) {
  auto w = sl::window(sl::col<"ts">, std::chrono::seconds{ratio}, 1s);
  return copies ? w.with_per_window_copies() : w;
}

template <class Grouped>
auto with_aggregates(Grouped&& g, std::integral_constant<int, 0>) {
  return std::forward<Grouped>(g) | sl::aggregate(sl::count(), sl::sum(sl::col<"value">), sl::avg(sl::col<"value">));
}
template <class Grouped>
auto with_aggregates(Grouped&& g, std::integral_constant<int, 1>) {
  return std::forward<Grouped>(g) | sl::aggregate(sl::min(sl::col<"value">), sl::max(sl::col<"value">));
}

template <int Aggs>
auto make_node(chunk_source::chunk* chunk, std::int64_t ratio, bool copies) {
  auto src = sl::source_node<chunk_source>{chunk_source{chunk}} | sl::with_watermark(sl::col<"ts">, 5s);
  return with_aggregates(std::move(src) | sl::group_by(make_window(ratio, copies), sl::col<"key">),
                         std::integral_constant<int, Aggs>{});
}
template <int Aggs>
auto make_unkeyed_node(chunk_source::chunk* chunk, std::int64_t ratio, bool copies) {
  auto src = sl::source_node<chunk_source>{chunk_source{chunk}} | sl::with_watermark(sl::col<"ts">, 5s);
  return with_aggregates(std::move(src) | sl::group_by(make_window(ratio, copies)), std::integral_constant<int, Aggs>{});
}

// One micro-batch through the engine's batch loop: plan, begin, rows, finish.
template <class Node>
std::size_t run_batch(Node& node, sl::graph_controls& controls, std::int64_t batch_id, std::int64_t watermark) {
  for (auto* s : controls.sources) s->plan_batch(sl::read_limit::all_available());
  sl::batch_context ctx;
  ctx.batch_id = batch_id;
  ctx.mode = sl::output_mode_kind::append;
  ctx.has_watermark = true;
  ctx.watermark = watermark;
  for (auto* st : controls.stateful) st->begin_batch(ctx);
  std::size_t out = 0;
  auto collect = [&out](auto&& row) {
    benchmark::DoNotOptimize(row);
    ++out;
  };
  node.run(ctx, collect);
  return out;
}

template <int Aggs, bool Copies>
void accept_keyed(benchmark::State& state) {
  const std::int64_t ratio = state.range(0), keys = 1000;
  const auto& in = input(rows_for(Copies, ratio), keys);
  chunk_source::chunk chunk{in.data(), in.data() + in.size()};
  auto node = make_node<Aggs>(&chunk, ratio, Copies);
  sl::graph_controls controls;
  node.visit(controls);
  std::int64_t batch = 0;
  for (auto _ : state) benchmark::DoNotOptimize(run_batch(node, controls, batch++, 0));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
  state.counters["rows"] = static_cast<double>(in.size());
}

template <class MakeNode>
void run_stream(benchmark::State& state, const std::vector<Event>& in, MakeNode make) {
  std::size_t outputs = 0;
  for (auto _ : state) {
    chunk_source::chunk chunk{};
    auto node = make(&chunk);
    sl::graph_controls controls;
    node.visit(controls);
    std::int64_t batch = 0, watermark = 0, max_ts = 0;
    for (std::size_t i = 0; i < in.size(); i += kBatchRows) {
      chunk = {in.data() + i, in.data() + std::min(in.size(), i + kBatchRows)};
      outputs += run_batch(node, controls, batch++, watermark);
      max_ts = (chunk.end - 1)->ts.micros;
      watermark = std::max(watermark, max_ts - 5 * kSecond);
    }
    chunk = {nullptr, nullptr};  // a last batch closes every window
    outputs += run_batch(node, controls, batch++, max_ts + 4000 * kSecond);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
  state.counters["rows"] = static_cast<double>(in.size());
  state.counters["out_per_event"] =
      static_cast<double>(outputs) / static_cast<double>(state.iterations() * in.size());
}

template <int Aggs, bool Copies>
void stream_keyed(benchmark::State& state) {
  const std::int64_t ratio = state.range(0), keys = 1000;
  run_stream(state, input(rows_for(Copies, ratio), keys),
             [&](chunk_source::chunk* c) { return make_node<Aggs>(c, ratio, Copies); });
}

template <int Aggs, bool Copies>
void stream_unkeyed(benchmark::State& state) {
  const std::int64_t ratio = state.range(0);
  run_stream(state, input(rows_for(Copies, ratio), 1000),  // 4000 rows per second
             [&](chunk_source::chunk* c) { return make_unkeyed_node<Aggs>(c, ratio, Copies); });
}

void ratios(benchmark::internal::Benchmark* b) {
  for (std::int64_t r : {1, 2, 4, 10, 60, 360, 3600}) b->Arg(r);
  b->Unit(benchmark::kMillisecond);
}
}  // namespace

BENCHMARK_TEMPLATE(accept_keyed, 0, false)->Name("accept_keyed_count_sum_avg/sliced")->Apply(ratios);
BENCHMARK_TEMPLATE(accept_keyed, 0, true)->Name("accept_keyed_count_sum_avg/copies")->Apply(ratios);
BENCHMARK_TEMPLATE(accept_keyed, 1, false)->Name("accept_keyed_min_max/sliced")->Apply(ratios);
BENCHMARK_TEMPLATE(accept_keyed, 1, true)->Name("accept_keyed_min_max/copies")->Apply(ratios);
BENCHMARK_TEMPLATE(stream_unkeyed, 0, false)->Name("stream_unkeyed_count_sum_avg/sliced")->Apply(ratios);
BENCHMARK_TEMPLATE(stream_unkeyed, 0, true)->Name("stream_unkeyed_count_sum_avg/copies")->Apply(ratios);
BENCHMARK_TEMPLATE(stream_unkeyed, 1, false)->Name("stream_unkeyed_min_max/sliced")->Apply(ratios);
BENCHMARK_TEMPLATE(stream_unkeyed, 1, true)->Name("stream_unkeyed_min_max/copies")->Apply(ratios);
BENCHMARK_TEMPLATE(stream_keyed, 0, false)->Name("stream_keyed_count_sum_avg/sliced")->Apply(ratios);
BENCHMARK_TEMPLATE(stream_keyed, 0, true)->Name("stream_keyed_count_sum_avg/copies")->Apply(ratios);
BENCHMARK_TEMPLATE(stream_keyed, 1, false)->Name("stream_keyed_min_max/sliced")->Apply(ratios);
BENCHMARK_TEMPLATE(stream_keyed, 1, true)->Name("stream_keyed_min_max/copies")->Apply(ratios);
BENCHMARK_MAIN();

// Keyed tumbling-window aggregation (count, sum, avg per window and key) through the engine's
// aggregate stage, against a hand-written loop over boost::unordered_flat_map doing the same
// work: window assignment, late check, group lookup, three aggregates. Keys: 1K, 100K, 1M,
// and unkeyed (window only); engine_global: no group_by at all. engine_keyed_radix: the engine
// with its state in 8, 64 or 256 shuffle partitions (the radix exchange), one thread. Past 2^18
// groups (100K and 1M keys: about 370K and 900K groups over the four windows) rows go through
// the buckets, one partition too, and a partition of more than 4096 groups applies its rows
// with their table entries prefetched ahead (docs/performance.md).
//
// The same keyed hand loop over other hash maps, to tell whether the engine's map (Boost's
// unordered_flat_map) is the best baseline: hand_keyed_std (std::unordered_map),
// hand_keyed_boost_node (boost::unordered_map, node-based), hand_keyed_probe (a minimal
// open-addressing, linear-probing table written here). hand_keyed is the flat-map loop.
#include <benchmark/benchmark.h>

#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered_map.hpp>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <unordered_map>
#include <utility>
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
    const std::int64_t end = p.end;  // not re-read after each row's stores
    for (std::int64_t i = 0; i < end; ++i) emit(data[i]);
  }
  void commit(const offset&) {}
  std::string description() const { return "vector"; }
};
BOOST_DESCRIBE_STRUCT(vector_source::offset, (), (end))

// shuffle_partitions: the batch's state partitions (1: rows go straight into the one group
// table; more: the radix exchange, rows routed by key hash into per-partition buckets, then
// each partition's buckets applied to its own, smaller, table).
template <class Node>
void run_engine(benchmark::State& state, Node node, std::size_t shuffle_partitions = 1) {
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
    ctx.shuffle_partitions = shuffle_partitions;
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

// The same through the radix exchange into range(1) state partitions, on one thread.
void engine_keyed_radix(benchmark::State& state) {
  static std::map<std::int64_t, std::vector<Reading>> inputs;
  auto& in = inputs.try_emplace(state.range(0), make_input(state.range(0))).first->second;
  run_engine(state,
             sl::source_node<vector_source>{vector_source{&in}} | sl::with_watermark(sl::col<"ts">, 1min) |
                 sl::group_by(sl::window(sl::col<"ts">, 1min), sl::col<"key">) |
                 sl::aggregate(sl::count(), sl::sum(sl::col<"value">), sl::avg(sl::col<"value">)),
             static_cast<std::size_t>(state.range(1)));
}

struct keyed_agg {
  std::int64_t count = 0;
  double sum = 0;
  double avg_sum = 0;
  std::int64_t avg_n = 0;
};
using group_key = std::pair<std::int64_t, std::int64_t>;  // (window start, key)
struct group_key_hash {
  std::size_t operator()(const group_key& k) const {
    return sl::detail::mix64(static_cast<std::uint64_t>(k.first) * 0x9E3779B97F4A7C15ULL ^
                             static_cast<std::uint64_t>(k.second));
  }
};

// A minimal open-addressing table: linear probing, power-of-two capacity, load <= 1/2, the
// entries (key and aggregates, 48 bytes) inline; an empty slot has window start INT64_MIN.
// No erase: the benchmark never evicts.
class probe_map {
 public:
  probe_map() { rehash(1024); }
  keyed_agg& operator[](const group_key& k) {
    std::size_t i = group_key_hash{}(k) & mask_;
    for (;;) {
      slot& s = slots_[i];
      if (s.start == k.first && s.key == k.second) return s.agg;
      if (s.start == kEmpty) break;
      i = (i + 1) & mask_;
    }
    if (2 * (size_ + 1) > slots_.size()) {
      rehash(2 * slots_.size());
      i = group_key_hash{}(k) & mask_;
      while (slots_[i].start != kEmpty) i = (i + 1) & mask_;
    }
    ++size_;
    slots_[i].start = k.first;
    slots_[i].key = k.second;
    return slots_[i].agg;
  }
  std::size_t size() const { return size_; }

 private:
  static constexpr std::int64_t kEmpty = std::numeric_limits<std::int64_t>::min();
  struct slot {
    std::int64_t start = kEmpty;
    std::int64_t key = 0;
    keyed_agg agg;
  };
  void rehash(std::size_t capacity) {
    std::vector<slot> old(capacity);
    old.swap(slots_);
    mask_ = capacity - 1;
    for (const slot& s : old) {
      if (s.start == kEmpty) continue;
      std::size_t i = group_key_hash{}({s.start, s.key}) & mask_;
      while (slots_[i].start != kEmpty) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }
  std::vector<slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

// The hand loop over any map of group_key to keyed_agg with operator[].
template <class Map>
void hand_keyed_over(benchmark::State& state) {
  static std::map<std::int64_t, std::vector<Reading>> inputs;
  auto& in = inputs.try_emplace(state.range(0), make_input(state.range(0))).first->second;
  Map groups;
  std::int64_t max_ts = 0;
  const std::int64_t watermark = 0;
  for (auto _ : state) {
    for (const Reading& r : in) {
      max_ts = std::max(max_ts, r.ts.micros);
      const std::int64_t start = r.ts.micros - sl::detail::floor_mod(r.ts.micros, kWindow);
      if (start + kWindow <= watermark) continue;
      keyed_agg& a = groups[{start, r.key}];
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

// The flat-map loop keeps its historical name (scripts and docs refer to it).
void hand_keyed(benchmark::State& state) {
  hand_keyed_over<boost::unordered_flat_map<group_key, keyed_agg, group_key_hash>>(state);
}
void hand_keyed_std(benchmark::State& state) {
  hand_keyed_over<std::unordered_map<group_key, keyed_agg, group_key_hash>>(state);
}
void hand_keyed_boost_node(benchmark::State& state) {
  hand_keyed_over<boost::unordered_map<group_key, keyed_agg, group_key_hash>>(state);
}
void hand_keyed_probe(benchmark::State& state) { hand_keyed_over<probe_map>(state); }

// range(0): the state partitions (1, or the default 8).
void engine_unkeyed(benchmark::State& state) {
  static const auto in = make_input(1);
  run_engine(state,
             sl::source_node<vector_source>{vector_source{&in}} | sl::with_watermark(sl::col<"ts">, 1min) |
                 sl::group_by(sl::window(sl::col<"ts">, 1min)) |
                 sl::aggregate(sl::count(), sl::sum(sl::col<"value">), sl::avg(sl::col<"value">)),
             static_cast<std::size_t>(state.range(0)));
}

// A global aggregation (no group_by: one group), in range(0) state partitions: Spark plans it
// as one partition, so more must cost nothing.
void engine_global(benchmark::State& state) {
  static const auto in = make_input(1);
  run_engine(state,
             sl::source_node<vector_source>{vector_source{&in}} |
                 sl::aggregate(sl::count(), sl::sum(sl::col<"value">), sl::avg(sl::col<"value">)),
             static_cast<std::size_t>(state.range(0)));
}

// Unkeyed: the same loop keyed by the window start alone. RememberWindow: with the engine's
// shortcut for a window-only key, the previous row's window and its entry (rows come in
// event-time order, so nearly every row hits it).
template <bool RememberWindow>
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
    agg* last = nullptr;
    std::int64_t last_start = 0;
    for (const Reading& r : in) {
      max_ts = std::max(max_ts, r.ts.micros);
      const std::int64_t start = r.ts.micros - sl::detail::floor_mod(r.ts.micros, kWindow);
      agg* a = last;
      if (!RememberWindow || a == nullptr || start != last_start) {
        a = &groups[start];
        last = a;
        last_start = start;
      }
      ++a->count;
      a->sum += r.value;
      a->avg_sum += r.value;
      ++a->avg_n;
    }
    benchmark::DoNotOptimize(groups.size());
    benchmark::DoNotOptimize(max_ts);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}
}  // namespace

BENCHMARK(hand_keyed)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(hand_keyed_std)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(hand_keyed_boost_node)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(hand_keyed_probe)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(engine_keyed)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(engine_keyed_radix)
    ->ArgsProduct({{1000, 100000, 1000000}, {8, 64, 256}})
    ->ArgNames({"keys", "partitions"})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(hand_unkeyed<false>)->Name("hand_unkeyed")->Unit(benchmark::kMillisecond);
BENCHMARK(hand_unkeyed<true>)->Name("hand_unkeyed_cached")->Unit(benchmark::kMillisecond);
BENCHMARK(engine_unkeyed)->ArgName("partitions")->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond);
BENCHMARK(engine_global)->ArgName("partitions")->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();

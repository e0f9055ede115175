// Zero overhead: stateless chains (map/filter/flat_map) run through the engine's fused batch
// loop, against the same work written as one hand loop. Both read the same rows and append the
// survivors to a reused vector, as the engine's sink buffer does.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include <sluice/sluice.hpp>

namespace sl = sluice;

struct Tick {  // 32 bytes
  std::int64_t id;
  std::int64_t key;
  double price;
  double qty;
};
BOOST_DESCRIBE_STRUCT(Tick, (), (id, key, price, qty))

namespace {
constexpr std::size_t kRows = 1 << 16;

const std::vector<Tick>& input() {
  static const std::vector<Tick> rows = [] {
    std::mt19937_64 rng(42);
    std::vector<Tick> v(kRows);
    for (std::size_t i = 0; i < kRows; ++i)
      v[i] = {static_cast<std::int64_t>(i), static_cast<std::int64_t>(rng() % 1000),
              static_cast<double>(rng() % 10000) / 100.0, static_cast<double>(rng() % 100)};
    return v;
  }();
  return rows;
}

// The stages, shared by both sides so they do identical work. Lambdas, as users write them.
constexpr auto scale = [](const Tick& t) { return Tick{t.id, t.key, t.price * 1.01, t.qty}; };
constexpr auto keep = [](const Tick& t) { return t.qty > 10; };
constexpr auto shift = [](const Tick& t) { return Tick{t.id, t.key + 1, t.price, t.qty + 1}; };
constexpr auto cheap = [](const Tick& t) { return t.price < 90; };

template <class Node>
void run_engine(benchmark::State& state, Node node) {
  std::vector<Tick> out;
  out.reserve(kRows);
  sl::graph_controls controls;
  node.visit(controls);
  for (auto _ : state) {
    out.clear();
    for (auto* s : controls.sources) {
      s->plan_batch(sl::read_limit::all_available());
    }
    sl::batch_context ctx;
    auto collect = [&out](auto&& r) { out.push_back(r); };
    node.run(ctx, collect);
    benchmark::DoNotOptimize(out.data());  // no commit: the next iteration re-reads the batch
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}

// A source over a fixed vector: one batch holding every row.
struct vector_source {
  using row_type = Tick;
  struct offset { std::int64_t end = 0; };
  using offset_type = offset;
  using partition_type = offset;
  const std::vector<Tick>* rows;
  offset initial_offset() { return {0}; }
  offset latest_offset(const offset&, sl::read_limit) { return {static_cast<std::int64_t>(rows->size())}; }
  std::vector<offset> partitions(const offset&, const offset& e) { return {e}; }
  template <class Emit>
  void read(const offset& p, Emit&& emit) {
    const Tick* data = rows->data();
    for (std::int64_t i = 0; i < p.end; ++i) emit(data[i]);
  }
  void commit(const offset&) {}
  std::string description() const { return "vector"; }
};
BOOST_DESCRIBE_STRUCT(vector_source::offset, (), (end))

sl::source_node<vector_source> src() { return sl::source_node<vector_source>{vector_source{&input()}}; }

void engine_3(benchmark::State& s) { run_engine(s, src() | sl::map(scale) | sl::filter(keep) | sl::map(shift)); }
void hand_3(benchmark::State& state) {
  std::vector<Tick> out;
  out.reserve(kRows);
  for (auto _ : state) {
    out.clear();
    for (const Tick& t : input()) {
      Tick a = scale(t);
      if (!keep(a)) continue;
      out.push_back(shift(a));
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}

void engine_5(benchmark::State& s) {
  run_engine(s, src() | sl::map(scale) | sl::filter(keep) | sl::map(shift) | sl::filter(cheap) | sl::map(scale));
}
void hand_5(benchmark::State& state) {
  std::vector<Tick> out;
  out.reserve(kRows);
  for (auto _ : state) {
    out.clear();
    for (const Tick& t : input()) {
      Tick a = scale(t);
      if (!keep(a)) continue;
      Tick b = shift(a);
      if (!cheap(b)) continue;
      out.push_back(scale(b));
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}

void engine_10(benchmark::State& s) {
  auto dup = [](const Tick& t, auto&& emit) {
    emit(t);
    if (t.key % 7 == 0) emit(shift(t));
  };
  run_engine(s, src() | sl::map(scale) | sl::filter(keep) | sl::map(shift) | sl::filter(cheap) | sl::map(scale) |
                    sl::flat_map<Tick>(dup) | sl::map(shift) | sl::filter(keep) | sl::map(scale) | sl::map(shift));
}
void hand_10(benchmark::State& state) {
  std::vector<Tick> out;
  out.reserve(2 * kRows);
  for (auto _ : state) {
    out.clear();
    for (const Tick& t : input()) {
      Tick a = scale(t);
      if (!keep(a)) continue;
      Tick b = shift(a);
      if (!cheap(b)) continue;
      Tick c = scale(b);
      auto tail = [&](const Tick& d) {
        Tick e = shift(d);
        if (!keep(e)) return;
        out.push_back(shift(scale(e)));
      };
      tail(c);
      if (c.key % 7 == 0) tail(shift(c));
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}
}  // namespace

BENCHMARK(hand_3);
BENCHMARK(engine_3);
BENCHMARK(hand_5);
BENCHMARK(engine_5);
BENCHMARK(hand_10);
BENCHMARK(engine_10);
BENCHMARK_MAIN();

// Zero overhead: stateless chains (map/filter/flat_map) of 3, 5 and 10 stages run through the
// engine's fused batch loop, against the same work written as one hand loop, on rows of 16, 32
// and 64 bytes. Both read the same rows and append the survivors to a reused vector, as the
// engine's sink buffer does, both with the library's append_row (vector::emplace_back forced
// inline: left to itself GCC leaves a call per row on either side, depending on the chain).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include <sluice/sluice.hpp>

namespace sl = sluice;

struct Tick16 {
  std::int32_t id;
  std::int32_t key;
  float price;
  float qty;
};
BOOST_DESCRIBE_STRUCT(Tick16, (), (id, key, price, qty))

struct Tick32 {
  std::int64_t id;
  std::int64_t key;
  double price;
  double qty;
};
BOOST_DESCRIBE_STRUCT(Tick32, (), (id, key, price, qty))

struct Tick64 {
  std::int64_t id;
  std::int64_t key;
  double price;
  double qty;
  double bid;
  double ask;
  std::int64_t venue;
  std::int64_t flags;
};
BOOST_DESCRIBE_STRUCT(Tick64, (), (id, key, price, qty, bid, ask, venue, flags))

static_assert(sizeof(Tick16) == 16 && sizeof(Tick32) == 32 && sizeof(Tick64) == 64);

namespace {
constexpr std::size_t kRows = 1 << 16;

template <class T>
const std::vector<T>& input() {
  static const std::vector<T> rows = [] {
    std::mt19937_64 rng(42);
    std::vector<T> v(kRows);
    for (std::size_t i = 0; i < kRows; ++i) {
      T& t = v[i];
      t.id = static_cast<decltype(t.id)>(i);
      t.key = static_cast<decltype(t.key)>(rng() % 1000);
      t.price = static_cast<decltype(t.price)>(rng() % 10000) / 100;
      t.qty = static_cast<decltype(t.qty)>(rng() % 100);
      if constexpr (sizeof(T) == 64) {
        t.bid = t.price - 0.01;
        t.ask = t.price + 0.01;
        t.venue = static_cast<std::int64_t>(rng() % 8);
        t.flags = 0;
      }
    }
    return v;
  }();
  return rows;
}

// The stages, shared by both sides so they do identical work. Lambdas, as users write them.
constexpr auto scale = [](auto t) {
  t.price = t.price * 1.01f;
  return t;
};
constexpr auto keep = [](const auto& t) { return t.qty > 10; };
constexpr auto shift = [](auto t) {
  t.key = t.key + 1;
  t.qty = t.qty + 1;
  return t;
};
constexpr auto cheap = [](const auto& t) { return t.price < 90; };

// A source over a fixed vector: one batch holding every row.
template <class T>
struct vector_source {
  using row_type = T;
  struct offset {
    std::int64_t end = 0;
    BOOST_DESCRIBE_CLASS(offset, (), (end), (), ())
  };
  using offset_type = offset;
  using partition_type = offset;
  const std::vector<T>* rows;
  offset initial_offset() { return {0}; }
  offset latest_offset(const offset&, sl::read_limit) { return {static_cast<std::int64_t>(rows->size())}; }
  std::vector<offset> partitions(const offset&, const offset& e) { return {e}; }
  template <class Emit>
  void read(const offset& p, Emit&& emit) {
    const T* data = rows->data();
    for (std::int64_t i = 0; i < p.end; ++i) emit(data[i]);
  }
  void commit(const offset&) {}
  std::string description() const { return "vector"; }
};

template <class T>
sl::source_node<vector_source<T>> src() {
  return sl::source_node<vector_source<T>>{vector_source<T>{&input<T>()}};
}

template <class T, class Node>
void run_engine(benchmark::State& state, Node node) {
  std::vector<T> out;
  out.reserve(2 * kRows);
  sl::graph_controls controls;
  node.visit(controls);
  for (auto _ : state) {
    out.clear();
    for (auto* s : controls.sources) s->plan_batch(sl::read_limit::all_available());
    sl::batch_context ctx;
    auto collect = [&out](auto&& r) { sl::detail::append_row(out, r); };
    node.run(ctx, collect);
    benchmark::DoNotOptimize(out.data());  // no commit: the next iteration re-reads the batch
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}

template <class T, class Body>
void run_hand(benchmark::State& state, Body body) {
  std::vector<T> out;
  out.reserve(2 * kRows);
  for (auto _ : state) {
    out.clear();
    for (const T& t : input<T>()) body(t, out);  // body appends with sl::detail::append_row too
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}

template <class T>
void engine_3(benchmark::State& s) {
  run_engine<T>(s, src<T>() | sl::map(scale) | sl::filter(keep) | sl::map(shift));
}
template <class T>
void hand_3(benchmark::State& s) {
  run_hand<T>(s, [](const T& t, std::vector<T>& out) {
    T a = scale(t);
    if (!keep(a)) return;
    sl::detail::append_row(out, shift(a));
  });
}

template <class T>
void engine_5(benchmark::State& s) {
  run_engine<T>(s, src<T>() | sl::map(scale) | sl::filter(keep) | sl::map(shift) | sl::filter(cheap) | sl::map(scale));
}
template <class T>
void hand_5(benchmark::State& s) {
  run_hand<T>(s, [](const T& t, std::vector<T>& out) {
    T a = scale(t);
    if (!keep(a)) return;
    T b = shift(a);
    if (!cheap(b)) return;
    sl::detail::append_row(out, scale(b));
  });
}

template <class T>
void engine_10(benchmark::State& s) {
  auto dup = [](const T& t, auto&& emit) {
    emit(t);
    if (t.key % 7 == 0) emit(shift(t));
  };
  run_engine<T>(s, src<T>() | sl::map(scale) | sl::filter(keep) | sl::map(shift) | sl::filter(cheap) | sl::map(scale) |
                       sl::flat_map<T>(dup) | sl::map(shift) | sl::filter(keep) | sl::map(scale) | sl::map(shift));
}
template <class T>
void hand_10(benchmark::State& s) {
  run_hand<T>(s, [](const T& t, std::vector<T>& out) {
    T a = scale(t);
    if (!keep(a)) return;
    T b = shift(a);
    if (!cheap(b)) return;
    T c = scale(b);
    auto tail = [&](const T& d) {
      T e = shift(d);
      if (!keep(e)) return;
      sl::detail::append_row(out, shift(scale(e)));
    };
    tail(c);
    if (c.key % 7 == 0) tail(shift(c));
  });
}
}  // namespace

#define SLUICE_CHAIN_BENCHMARKS(T)                   \
  BENCHMARK(hand_3<T>)->Name("hand_3/" #T);          \
  BENCHMARK(engine_3<T>)->Name("engine_3/" #T);      \
  BENCHMARK(hand_5<T>)->Name("hand_5/" #T);          \
  BENCHMARK(engine_5<T>)->Name("engine_5/" #T);      \
  BENCHMARK(hand_10<T>)->Name("hand_10/" #T);        \
  BENCHMARK(engine_10<T>)->Name("engine_10/" #T)

SLUICE_CHAIN_BENCHMARKS(Tick16);
SLUICE_CHAIN_BENCHMARKS(Tick32);
SLUICE_CHAIN_BENCHMARKS(Tick64);
BENCHMARK_MAIN();

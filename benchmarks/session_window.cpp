// Session windows (group_by(session_window(ts, 1 s), key) | aggregate(count, sum), append mode
// with a watermark) through the engine's session node, against a hand-written loop doing the
// same work: per row the late check, the key's sessions found in a hash map, the first session
// that can overlap found by binary search and extended (merging those it bridges) or a new one
// inserted, two aggregates updated; per batch the sessions the watermark closed emitted and
// evicted. The argument is the session length in rows: 2^18 rows of 256 keys in 16 batches,
// each key a row every 10 ms of event time and a pause of 2 s after every `length` rows, so a
// session of 1024 rows spans every batch. The cost per row should not grow with the length.
// Items: input rows.
#include <benchmark/benchmark.h>

#include <boost/unordered/unordered_flat_map.hpp>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include <sluice/sluice.hpp>

#include "support/batches.hpp"

namespace sl = sluice;
using namespace std::chrono_literals;

struct Visit {
  std::int64_t key;
  sl::timestamp ts;
  double value;
};
BOOST_DESCRIBE_STRUCT(Visit, (), (key, ts, value))

namespace {
constexpr std::size_t kRows = 1 << 18;
constexpr std::size_t kKeys = 256;
constexpr std::size_t kBatches = 16;
constexpr std::size_t kPerBatch = kRows / kBatches;
constexpr std::int64_t kGap = 1'000'000, kDelay = 1'000'000;

struct input {
  std::vector<Visit> rows;
  std::vector<std::int64_t> watermarks;  // per batch: the previous batch's max event time - delay
};
input make_input(std::size_t length) {
  input in;
  in.rows.resize(kRows);
  for (std::size_t i = 0; i < kRows; ++i) {
    const auto round = static_cast<std::int64_t>(i / kKeys);
    const std::int64_t t = round * 10'000 + round / static_cast<std::int64_t>(length) * 2'000'000;
    in.rows[i] = {static_cast<std::int64_t>(i % kKeys), sl::timestamp{t}, static_cast<double>(i % 100)};
  }
  in.watermarks.push_back(0);
  for (std::size_t b = 1; b < kBatches; ++b) in.watermarks.push_back(in.rows[b * kPerBatch - 1].ts.micros - kDelay);
  return in;
}
const input& input_for(std::int64_t length) {
  return bench::input_for(length, [](std::int64_t l) { return make_input(static_cast<std::size_t>(l)); });
}

void engine(benchmark::State& state) {
  const auto& in = input_for(state.range(0));
  std::size_t out = 0, current = 0;
  for (auto _ : state) {
    auto node = sl::source_node<bench::batch_source<Visit>>{{&in.rows, &current, kPerBatch}} |
                sl::with_watermark(sl::col<"ts">, 1s) |
                sl::group_by(sl::session_window(sl::col<"ts">, 1s), sl::col<"key">) |
                sl::aggregate(sl::count(), sl::sum(sl::col<"value">));
    sl::graph_controls controls;
    node.visit(controls);
    bench::run_batches(node, controls, current, kBatches, [&](std::size_t b) { return in.watermarks[b]; }, out);
    benchmark::DoNotOptimize(out);
  }
  state.counters["out_rows_per_iter"] = static_cast<double>(out) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}

struct session {
  std::int64_t start, end, count;
  double sum;
};
struct session_row {  // what the engine's output row holds
  sl::time_window window;
  std::int64_t key, count;
  double sum;
};

void hand_loop(benchmark::State& state) {
  const auto& in = input_for(state.range(0));
  std::size_t out = 0;
  for (auto _ : state) {
    boost::unordered_flat_map<std::int64_t, std::vector<session>> groups;
    std::int64_t min_end = std::numeric_limits<std::int64_t>::max();
    for (std::size_t b = 0; b < kBatches; ++b) {
      const std::int64_t wm = in.watermarks[b];
      for (std::size_t i = b * kPerBatch; i < (b + 1) * kPerBatch; ++i) {
        const Visit& r = in.rows[i];
        const std::int64_t t = r.ts.micros, end = t + kGap;
        if (end <= wm) continue;  // late
        auto& v = groups[r.key];
        auto first = std::lower_bound(v.begin(), v.end(), t, [](const session& s, std::int64_t x) { return s.end < x; });
        session* target;
        if (first == v.end() || first->start > end) {
          target = &*v.insert(first, session{t, end, 0, 0.0});
        } else {
          first->start = std::min(first->start, t);
          first->end = std::max(first->end, end);
          auto last = first + 1;
          for (; last != v.end() && last->start <= first->end; ++last) {
            first->count += last->count;
            first->sum += last->sum;
            first->end = std::max(first->end, last->end);
          }
          target = &*first;
          v.erase(first + 1, last);
        }
        ++target->count;
        target->sum += r.value;
        min_end = std::min(min_end, end);
      }
      if (wm >= min_end) {
        std::int64_t left = std::numeric_limits<std::int64_t>::max();
        boost::unordered::erase_if(groups, [&](auto& kv) {
          auto& v = kv.second;
          std::size_t n = 0;
          for (; n < v.size() && v[n].end <= wm; ++n) {
            session_row row{{sl::timestamp{v[n].start}, sl::timestamp{v[n].end}}, kv.first, v[n].count, v[n].sum};
            benchmark::DoNotOptimize(&row), ++out;
          }
          v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
          if (!v.empty()) left = std::min(left, v.front().end);
          return v.empty();
        });
        min_end = left;
      }
    }
    benchmark::DoNotOptimize(out);
  }
  state.counters["out_rows_per_iter"] = static_cast<double>(out) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}
}  // namespace

BENCHMARK(hand_loop)->Arg(4)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(engine)->Arg(4)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();

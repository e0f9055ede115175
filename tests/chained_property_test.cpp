// Property test of chained stateful operators: a window aggregation of a window aggregation in
// append mode, on random out-of-order input in random batches with random restarts, against a
// straightforward reference that runs the same batches (a data batch with the previous
// watermark, then the no-data batch with the new one).
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "semantics_support.hpp"
#include "stateful_property_support.hpp"

using namespace sem;

namespace {
constexpr std::int64_t S = 1'000'000;

auto windows_of_windows(sl::memory_stream<Event>& in, sl::duration delay) {
  return in | sl::with_watermark(sl::col<"timestamp">, delay) | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) |
         sl::aggregate(sl::count()) | sl::group_by(sl::window(sl::col<"window">, 10s)) |
         sl::aggregate(sl::count(), sl::sum(sl::col<"count">).as<"sum">());
}
using R = decltype(windows_of_windows(std::declval<sl::memory_stream<Event>&>(), {}))::row_type;

std::string text(std::int64_t start, std::int64_t count, std::int64_t sum) {
  return std::to_string(start / S) + ":" + std::to_string(count) + ":" + std::to_string(sum);
}

// The reference: 5 s windows counted (rows in a window ending at or before the watermark the
// batch runs with are dropped), each closed one (end <= watermark) handed to its 10 s window
// (by its end less a microsecond), closed 10 s windows emitted.
struct reference {
  std::map<std::int64_t, std::int64_t> first;                               // 5 s start -> count
  std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> second;     // 10 s start -> (count, sum)
  std::multiset<std::string> emitted;
  std::int64_t dropped = 0;

  void accept(const Event& e, std::int64_t watermark) {
    const std::int64_t start = e.timestamp.micros - e.timestamp.micros % (5 * S);
    if (start + 5 * S <= watermark) {
      ++dropped;
      return;
    }
    ++first[start];
  }
  void evict(std::int64_t watermark) {
    for (auto it = first.begin(); it != first.end() && it->first + 5 * S <= watermark;) {
      const std::int64_t t = it->first + 5 * S - 1;
      auto& w = second[t - t % (10 * S)];
      w.first += 1;
      w.second += it->second;
      it = first.erase(it);
    }
    for (auto it = second.begin(); it != second.end() && it->first + 10 * S <= watermark;) {
      emitted.insert(text(it->first, it->second.first, it->second.second));
      it = second.erase(it);
    }
  }
};
}  // namespace

TEST_CASE("property: a window aggregation of a window aggregation in append mode equals the reference",
          "[property][chained]") {
  for (const std::uint64_t seed : {1u, 2u, 3u, 7u}) {
    std::mt19937 rng(static_cast<std::mt19937::result_type>(seed));
    const std::int64_t delay = static_cast<std::int64_t>(rng() % 4) * S;
    auto in = sl::memory_stream<Event>();
    batch_outputs out;
    reference ref;
    reference_watermark wm{delay};
    std::int64_t clock = 20 * S;
    auto make = [&] {
      return windows_of_windows(in, sl::duration(delay)) |
             out.sink<R>([](const R& r) {
               return text(sl::get<"window">(r).start.micros, sl::get<"count">(r), sl::get<"sum">(r));
             });
    };
    run_with_restarts(rng, "chained", 30, 5, make, [&](int) {
      std::vector<Event> rows;
      const int n = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < n; ++i) {
        clock += static_cast<std::int64_t>(rng() % 3) * S;
        // mostly in order; now and then up to 12 s behind (late for some windows)
        const std::int64_t t = clock - (rng() % 4 == 0 ? static_cast<std::int64_t>(rng() % 12) * S : 0);
        rows.push_back({sl::timestamp{t}, "k", 1});
      }
      in.add_data(rows);
      const std::int64_t before = wm.value;
      wm.batch(rows, [&](const Event& e) { ref.accept(e, before); }, [&] { ref.evict(wm.value); });
    });
    INFO("seed " << seed << ", delay " << delay / S << " s");
    CHECK(out.all() == ref.emitted);
    CHECK(!ref.emitted.empty());
    CHECK(ref.dropped > 0);  // the input does exercise lateness
  }
}

// Property test: flat_map_groups_with_state with event-time timeouts over random out-of-order
// input in random batches, with random restarts from the checkpoint, equals a straightforward
// reference of Spark's semantics.
//
// The function keeps per key (rows seen, max event time) and sets the timeout to max + gap; a
// timed-out key emits -1 and is removed. The reference: batch N runs with the watermark W =
// max(event time of earlier batches) - delay (never decreasing, 0 at first); rows at or before
// W are dropped; each key with rows is called (count, max updated, row emitted); then every
// other key whose timeout < W times out. After a batch that moved the watermark, a no-data
// batch runs the timeouts with the new one (the test waits for it after every batch).
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <tuple>
#include <vector>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace group_state_property {
struct Reading {
  std::int64_t key = 0;
  sl::timestamp ts;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (key, ts))
struct Seen {
  std::int64_t count = 0;
  std::int64_t max = 0;
};
BOOST_DESCRIBE_STRUCT(Seen, (), (count, max))
struct Out {
  std::int64_t key = 0;
  std::int64_t count = 0;
  std::int64_t max = 0;  // -1: timed out
  auto operator<=>(const Out&) const = default;
};
BOOST_DESCRIBE_STRUCT(Out, (), (key, count, max))

constexpr std::int64_t S = 1'000'000;
constexpr std::int64_t gap = 7 * S, delay = 5 * S;

std::vector<Out> track(const std::int64_t& key, std::span<const Reading> values, sl::group_state<Seen>& state) {
  if (state.has_timed_out()) {
    const Seen s = state.get();
    state.remove();
    return {{key, s.count, -1}};
  }
  Seen s = state.get_option().value_or(Seen{});
  for (const auto& r : values) {
    ++s.count;
    s.max = std::max(s.max, r.ts.micros);
  }
  state.update(s);
  state.set_timeout_timestamp(sl::timestamp{s.max + gap});
  return {{key, s.count, s.max}};
}

struct reference {
  std::int64_t watermark = 0, max_seen = 0;
  bool seen_any = false;
  std::map<std::int64_t, Seen> states;
  std::vector<Out> out;
  void timeouts(std::int64_t w, const std::map<std::int64_t, int>& with_data) {
    for (auto it = states.begin(); it != states.end();) {
      if (!with_data.contains(it->first) && it->second.max + gap < w) {
        out.push_back({it->first, it->second.count, -1});
        it = states.erase(it);
      } else {
        ++it;
      }
    }
  }
  void batch(const std::vector<Reading>& rows) {
    std::map<std::int64_t, int> with_data;
    std::map<std::int64_t, Seen> before = states;
    for (const auto& r : rows)
      if (r.ts.micros > watermark) ++with_data[r.key];
    for (const auto& r : rows) {
      if (r.ts.micros <= watermark) continue;
      Seen& s = states[r.key];
      ++s.count;
      s.max = std::max(s.max, r.ts.micros);
    }
    for (const auto& [k, n] : with_data) out.push_back({k, states[k].count, states[k].max});
    timeouts(watermark, with_data);
    for (const auto& r : rows) max_seen = std::max(max_seen, r.ts.micros), seen_any = true;
    const std::int64_t next = seen_any ? std::max(watermark, max_seen - delay) : watermark;
    if (next > watermark) timeouts(next, {});  // the no-data batch
    watermark = next;
  }
};

auto plan(sl::memory_stream<Reading>& in, std::shared_ptr<std::vector<Out>> sink) {
  return in | sl::with_watermark(sl::col<"ts">, std::chrono::microseconds(delay)) | sl::group_by_key(sl::col<"key">) |
         sl::flat_map_groups_with_state<Seen>(track, sl::output_mode::update, sl::group_state_timeout::event_time) |
         sl::foreach_batch([sink](std::span<const Out> rows, std::int64_t) { sink->insert(sink->end(), rows.begin(), rows.end()); });
}
}  // namespace group_state_property

TEST_CASE("property: flat_map_groups_with_state with event-time timeouts equals the reference across restarts",
          "[property][group_state]") {
  using namespace group_state_property;
  for (std::uint32_t seed = 1; seed <= 6; ++seed) {
    std::mt19937_64 rng(seed);
    const std::string dir = (std::filesystem::temp_directory_path() / ("sluice-gs-property-" + std::to_string(seed) + "-" +
                                                                        sl::detail::random_uuid())).string();
    sl::memory_stream<Reading> in;
    auto sink = std::make_shared<std::vector<Out>>();
    reference ref;
    std::int64_t clock = 100 * S;
    auto query = std::make_unique<sl::streaming_query>(
        sl::start(plan(in, sink), sl::output_mode::update, {.checkpoint = dir}));
    for (int b = 0; b < 25; ++b) {
      INFO("seed " << seed << ", batch " << b);
      std::vector<Reading> rows(std::uniform_int_distribution<int>(0, 6)(rng));
      for (auto& r : rows) {
        clock += std::uniform_int_distribution<std::int64_t>(0, 3 * S)(rng);
        r = {std::uniform_int_distribution<std::int64_t>(0, 4)(rng),
             sl::timestamp{clock - std::uniform_int_distribution<std::int64_t>(0, 9 * S)(rng)}};  // out of order, some late
      }
      ref.batch(rows);
      in.add_data(rows);
      query->process_all_available();
      REQUIRE(query->current_watermark() == ref.watermark);
      if (std::uniform_int_distribution<int>(0, 3)(rng) == 0) {  // restart from the checkpoint
        query->stop();
        query = std::make_unique<sl::streaming_query>(
            sl::start(plan(in, sink), sl::output_mode::update, {.checkpoint = dir}));
      }
      auto expected = ref.out, actual = *sink;
      std::sort(expected.begin(), expected.end());
      std::sort(actual.begin(), actual.end());
      REQUIRE(actual == expected);
    }
    query->stop();
    std::filesystem::remove_all(dir);
  }
}

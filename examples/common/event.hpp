// The event of the examples and benchmarks (seed 004's schema), and seed 004's generator.
//
//   #include "common/event.hpp"                    // from examples/*.cpp
//   auto events = seed_events(n, 100);             // file n of the demo's input: 100 events
#pragma once
#include <sluice/time.hpp>

#include <boost/describe.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

struct Event {
  std::string event_id;
  sluice::timestamp timestamp;  // microseconds since the epoch, UTC
  std::int64_t user_id = 0;
  std::string event_type;
  double value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_id, timestamp, user_id, event_type, value))

// Seed 004's generator, deterministic: event_id "<n>_<i>", user_id 1..1000, event_type
// click/view/purchase, value 10..1000 (cents), timestamps up to 60 s before the simulated
// "now" of file n, seed_events_start() + seed_events_step * n. Every fifth file also holds late
// events: one 8 minutes old and two 20 minutes old. The same on every run and platform
// (mt19937_64 is specified exactly, and the mappings below are ours).
inline constexpr std::chrono::minutes seed_events_step{3};
inline sluice::timestamp seed_events_start() { return *sluice::parse_timestamp("2024-01-15T10:01:00Z"); }

inline std::vector<Event> seed_events(std::int64_t n, std::int64_t count) {
  using namespace std::chrono_literals;
  std::mt19937_64 rng(0x5eed0000u + static_cast<std::uint64_t>(n));
  auto uniform = [&](std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
  };
  auto unit = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  const sluice::timestamp now = seed_events_start() + seed_events_step * n;
  const bool with_late = n % 5 == 4 && count >= 3;
  std::vector<Event> out;
  out.reserve(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    sluice::timestamp t = now - std::chrono::seconds(uniform(0, 60));  // out of order within the file
    if (with_late && i == count - 3) t = now - 8min;                   // late, within the watermark
    if (with_late && i >= count - 2) t = now - 20min;                  // behind the watermark
    static constexpr std::string_view types[] = {"click", "view", "purchase"};
    const auto user = uniform(1, 1000);
    const auto type = types[uniform(0, 2)];
    const double value = std::round((10.0 + unit() * 990.0) * 100.0) / 100.0;
    out.push_back(Event{std::to_string(n) + "_" + std::to_string(i), t, user, std::string(type), value});
  }
  return out;
}

// Seed 004's events and their deterministic generator, shared by the demo (demo.cpp) and the
// configured application (events_app.cpp): Event rows, and JSON-lines files of them written
// into a directory as the file source wants them (a temporary name, then renamed in).
#pragma once
#include <sluice/sluice.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sl = sluice;

struct Event {
  std::string event_id;
  sl::timestamp timestamp;
  std::int64_t user_id;
  std::string event_type;
  double value;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_id, timestamp, user_id, event_type, value))

namespace demo_events {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ------------------------------------------------------------------ the generator
class event_generator {
 public:
  static constexpr auto clock_step = 3min;

  // The events of file `n` (seed 004's "batch"): the same on every run and platform
  // (mt19937_64 is specified exactly, and the mappings below are ours).
  static std::vector<Event> file_events(std::int64_t n, std::int64_t count) {
    std::mt19937_64 rng(0x5eed0000u + static_cast<std::uint64_t>(n));
    auto uniform = [&](std::int64_t lo, std::int64_t hi) {
      return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
    };
    auto unit = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
    const sl::timestamp now = start() + clock_step * n;
    const bool with_late = n % 5 == 4 && count >= 3;
    std::vector<Event> out;
    out.reserve(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i) {
      sl::timestamp t = now - std::chrono::seconds(uniform(0, 60));  // out of order within the file
      if (with_late && i == count - 3) t = now - 8min;                // late, within the watermark
      if (with_late && i >= count - 2) t = now - 20min;               // behind the watermark
      static constexpr std::string_view types[] = {"click", "view", "purchase"};
      const auto user = uniform(1, 1000);
      const auto type = types[uniform(0, 2)];
      const double value = std::round((10.0 + unit() * 990.0) * 100.0) / 100.0;
      out.push_back(Event{std::to_string(n) + "_" + std::to_string(i), t, user, std::string(type), value});
    }
    return out;
  }
  static sl::timestamp start() { return *sl::parse_timestamp("2024-01-15T10:01:00Z"); }
};

inline std::string file_name(std::int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "events-%05lld.jsonl", static_cast<long long>(n));
  return buf;
}

// The next file number: one past the highest events-NNNNN.jsonl in `input` (0 when none).
inline std::int64_t next_file_number(const fs::path& input) {
  std::int64_t next = 0;
  if (!fs::is_directory(input)) return next;
  for (const auto& e : fs::directory_iterator(input)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with("events-") || !name.ends_with(".jsonl")) continue;
    const std::string_view digits = std::string_view(name).substr(7, name.size() - 7 - 6);
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec == std::errc{} && end == digits.data() + digits.size()) next = std::max(next, n + 1);
  }
  return next;
}

template <class Row>
std::string to_json_lines(std::span<const Row> rows) {
  std::string text;
  for (const auto& r : rows) text += sl::to_json_string(r) + "\n";
  return text;
}

// Writes `count` new events into `input`, `per_file` per file; returns the files written.
inline std::int64_t generate(const fs::path& input, std::int64_t count, std::int64_t per_file) {
  std::int64_t n = next_file_number(input), files = 0;
  for (std::int64_t done = 0; done < count; ++n, ++files) {
    const auto events = event_generator::file_events(n, std::min(per_file, count - done));
    done += static_cast<std::int64_t>(events.size());
    // A hidden temporary name, synced, then linked into place (put-if-absent).
    sl::write_file_atomically(input / file_name(n), to_json_lines(std::span<const Event>(events)));
    std::printf("  generated %s: %zu events, event time around %s\n", file_name(n).c_str(), events.size(),
                sl::format_timestamp(event_generator::start() + event_generator::clock_step * n, true).c_str());
  }
  return files;
}

}  // namespace demo_events

// Seed 004's events written as the file source wants them, shared by the demo (demo.cpp) and the
// configured application (events_app.cpp): JSON-lines files of Event rows (common/event.hpp)
// written into a directory (a temporary name, then linked in).
#pragma once
#include <sluice/sluice.hpp>

#include "common/event.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sl = sluice;

namespace demo_events {

namespace fs = std::filesystem;

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
    const auto events = seed_events(n, std::min(per_file, count - done));
    done += static_cast<std::int64_t>(events.size());
    // A hidden temporary name, synced, then linked into place (put-if-absent).
    sl::write_file_atomically(input / file_name(n), to_json_lines(std::span<const Event>(events)));
    std::printf("  generated %s: %zu events, event time around %s\n", file_name(n).c_str(), events.size(),
                sl::format_timestamp(seed_events_start() + seed_events_step * n, true).c_str());
  }
  return files;
}

}  // namespace demo_events

// Partition helpers for sources whose offsets are positions on a line: a time (microseconds
// since the epoch) or an integer id. A batch reads the offset range (start, end], start being
// the end of the previous batch; these split it into consecutive slices, each given by its
// first and last position, inclusive, that neither overlap nor leave a gap (seed 002's
// "non-overlapping partitions": the next slice starts 1 us, or 1 id, after the last one).
//
//   sl::split_time_range(start, end, 15min)   ->  [start+1us, start+15min], [start+15min+1us, ...], ... end
//   sl::split_id_range(after, last, 1000)     ->  [after+1, after+1000], [after+1001, ...], ... last
//
// Every slice but the last covers exactly the given length; the last may be shorter. An empty
// range (end <= start) gives no slice. A source's initial offset is therefore "just before" the
// first position it wants to read: sl::just_before(t) = t - 1us, or id - 1.
#pragma once
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "../time.hpp"

namespace sluice {

// One slice of a time range: every microsecond from `first` to `last`, both included.
struct time_slice {
  timestamp first;
  timestamp last;
  duration length() const { return (last - first) + duration{1}; }
  friend bool operator==(const time_slice&, const time_slice&) = default;
};

// One slice of an id range: every id from `first` to `last`, both included.
struct id_slice {
  std::int64_t first = 0;
  std::int64_t last = 0;
  std::int64_t size() const { return last - first + 1; }
  friend bool operator==(const id_slice&, const id_slice&) = default;
};

// The most slices one call makes: a guard against a slice length far too small for the range
// (bound a batch's range in latest_offset instead).
inline constexpr std::uint64_t max_range_slices = std::uint64_t{1} << 24;

namespace detail {
// (after, last] in pieces of at most `size` values; overflow-free over the whole int64 range.
template <class Push>
void split_range(std::int64_t after, std::int64_t last, std::int64_t size, const char* who, Push&& push) {
  if (size <= 0) throw std::invalid_argument(std::string(who) + ": the slice length must be positive");
  if (last <= after) return;
  const auto usize = static_cast<std::uint64_t>(size);
  const std::uint64_t span = static_cast<std::uint64_t>(last) - static_cast<std::uint64_t>(after);
  const std::uint64_t count = span / usize + (span % usize != 0 ? 1 : 0);
  if (count > max_range_slices)
    throw std::length_error(std::string(who) + ": the range would make " + std::to_string(count) +
                            " slices (more than " + std::to_string(max_range_slices) +
                            "); use longer slices or bound the batch's range in latest_offset");
  std::int64_t before = after;  // the last position of the previous slice
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t remaining = static_cast<std::uint64_t>(last) - static_cast<std::uint64_t>(before);
    const std::int64_t end =
        remaining <= usize ? last : static_cast<std::int64_t>(static_cast<std::uint64_t>(before) + usize);
    push(before + 1, end);
    before = end;
  }
}
}  // namespace detail

// Splits the time range (after, last] into slices of `length` (the last one may be shorter).
inline std::vector<time_slice> split_time_range(timestamp after, timestamp last, duration length) {
  std::vector<time_slice> out;
  detail::split_range(after.micros, last.micros, length.count(), "sluice::split_time_range",
                      [&](std::int64_t f, std::int64_t l) { out.push_back({timestamp{f}, timestamp{l}}); });
  return out;
}

// Splits the id range (after, last] into slices of at most `max_ids` ids.
inline std::vector<id_slice> split_id_range(std::int64_t after, std::int64_t last, std::int64_t max_ids) {
  std::vector<id_slice> out;
  detail::split_range(after, last, max_ids, "sluice::split_id_range",
                      [&](std::int64_t f, std::int64_t l) { out.push_back({f, l}); });
  return out;
}

// The exclusive start of a range whose first position is `t` (seed 002's initialOffset: start - 1us).
constexpr timestamp just_before(timestamp t) { return timestamp{t.micros - 1}; }
constexpr std::int64_t just_before(std::int64_t id) { return id - 1; }

}  // namespace sluice

// sl::from_range(view): the rows of a finite range as a stream, for tests and replays. The
// offset is the position in the range (rows read so far); a batch reads positions (start, end].
//
//   auto events = sl::from_range(std::views::iota(0, 1000) | std::views::transform(make_event));
//   auto paced  = sl::from_range(rows, {.max_rows_per_trigger = 100});   // 100 rows per batch
//
// Bounded: the range must be finite (a range whose sentinel is unreachable is refused at
// compile time; <sluice/range_v3.hpp> refuses range-v3's infinite views too). Replayable: the
// range must be a forward range that gives the same rows each time it is walked (a vector, or a
// view over one), since a batch re-run after a failure or a restart reads its positions again.
// Walking to a batch's first position costs O(1) for random-access ranges, O(position)
// otherwise. The source holds the range by value (see from_range below).
#pragma once
#include <boost/describe.hpp>
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../graph/source.hpp"

namespace sluice {

struct range_offset {
  std::int64_t position = 0;  // rows read: the next batch starts at this position
};
BOOST_DESCRIBE_STRUCT(range_offset, (), (position))

struct range_partition {
  std::int64_t from = 0, to = 0;  // positions [from, to)
};

struct range_options {
  std::int64_t max_rows_per_trigger = 0;  // at most this many rows per batch; 0: all available
};

// True for a range that never ends. Specialise for other libraries' infinite ranges.
template <class R>
inline constexpr bool unbounded_range = std::is_same_v<std::ranges::sentinel_t<R>, std::unreachable_sentinel_t>;

template <class V>
class range_source {
  static_assert(std::ranges::forward_range<V>,
                "sluice::from_range: the range must be a forward range, readable again from the start (a batch "
                "re-run after a failure or a restart reads its positions again); give an input-only range to "
                "memory_stream::add_data instead");
  static_assert(!unbounded_range<V>, "sluice::from_range: the range is unbounded; bound it first (views::take)");

 public:
  using row_type = std::remove_cvref_t<std::ranges::range_value_t<V>>;
  using offset_type = range_offset;
  using partition_type = range_partition;

  explicit range_source(V rows, range_options options = {}) : rows_(std::move(rows)), options_(options) {}

  range_offset initial_offset() { return {0}; }
  range_offset latest_offset(const range_offset& start, read_limit limit) {
    const std::int64_t n = size();
    if (limit.all || options_.max_rows_per_trigger <= 0) return {n};
    return {std::min(n, start.position + options_.max_rows_per_trigger)};
  }
  std::vector<range_partition> partitions(const range_offset& start, const range_offset& end) {
    if (end.position <= start.position) return {};
    return {{start.position, end.position}};
  }
  template <class Emit>
  void read(const range_partition& p, Emit&& emit) {
    if (p.to > size())
      throw std::out_of_range("sluice::from_range: the batch ends at position " + std::to_string(p.to) +
                              " but the range now has " + std::to_string(size()) +
                              " rows (it must give the same rows each time, also after a restart)");
    auto it = std::ranges::begin(rows_);
    std::ranges::advance(it, static_cast<std::ranges::range_difference_t<V>>(p.from));
    for (auto i = p.from; i < p.to; ++i, ++it) {
      if constexpr (std::is_same_v<std::remove_cvref_t<std::ranges::range_reference_t<V>>, row_type>) emit(*it);
      else emit(row_type(*it));
    }
  }
  void commit(const range_offset&) {}
  std::string description() const { return "RangeSource"; }

 private:
  std::int64_t size() {
    if (!size_) size_ = static_cast<std::int64_t>(std::ranges::distance(rows_));
    return *size_;
  }

  V rows_;
  range_options options_;
  std::optional<std::int64_t> size_;  // counted once: the range is finite and does not change
};

// A source over a finite forward range, held by value: a view (std or range-v3) is copied, a
// container copied or moved in (pass std::views::all(container) to refer to it instead).
template <class R>
  requires std::ranges::range<R>
auto from_range(R&& rows, range_options options = {}) {
  return range_source<std::remove_cvref_t<R>>(std::forward<R>(rows), options);
}

}  // namespace sluice

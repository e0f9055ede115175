// sl::memory_stream<T>(): rows pushed from code, for tests (Spark's MemoryStream). Each
// add_data call is one unit of offset; a batch takes everything added since the last one.
// The handle is shared: keep a copy to add data while the query runs.
#pragma once
#include <algorithm>
#include <boost/describe.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../detail/traits.hpp"
#include "../graph/source.hpp"

namespace sluice {

struct memory_offset {
  std::int64_t batches = 0;  // add_data calls taken
};
BOOST_DESCRIBE_STRUCT(memory_offset, (), (batches))

struct memory_partition {
  std::int64_t from = 0, to = 0;  // add_data calls (from, to]
};

template <class T>
class memory_stream {
 public:
  using row_type = T;
  using offset_type = memory_offset;
  using partition_type = memory_partition;

  memory_stream() : state_(std::make_shared<state>()) {}

  // Appends rows as one unit; returns the offset that includes them.
  memory_offset add_data(std::vector<T> rows) {
    std::lock_guard lock(state_->mutex);
    state_->added.push_back(std::move(rows));
    return {static_cast<std::int64_t>(state_->added.size())};
  }
  memory_offset add_data(std::initializer_list<T> rows) { return add_data(std::vector<T>(rows)); }
  // Any input range of rows: a container, a std or range-v3 view (read once, here).
  template <detail::rows_range<T> R>
    requires(!std::is_same_v<std::remove_cvref_t<R>, std::vector<T>>)
  memory_offset add_data(R&& rows) {
    return add_data(detail::to_rows<T>(std::forward<R>(rows)));
  }

  memory_offset initial_offset() { return {0}; }
  memory_offset latest_offset(const memory_offset&, read_limit) {
    std::lock_guard lock(state_->mutex);
    return {static_cast<std::int64_t>(state_->added.size())};
  }
  std::vector<memory_partition> partitions(const memory_offset& start, const memory_offset& end) {
    return {{start.batches, end.batches}};
  }
  template <class Emit>
  void read(const memory_partition& p, Emit&& emit) {
    std::vector<const std::vector<T>*> units;
    {
      std::lock_guard lock(state_->mutex);  // deque growth keeps element addresses
      for (auto i = p.from; i < p.to; ++i) units.push_back(&state_->added[static_cast<std::size_t>(i)]);
    }
    for (const auto* unit : units)
      for (const T& r : *unit) emit(r);
  }
  // Exact: the rows of the add_data calls in (start, end].
  std::optional<std::size_t> planned_rows(const memory_offset& start, const memory_offset& end) {
    std::lock_guard lock(state_->mutex);
    std::size_t n = 0;
    const auto to = std::min(end.batches, static_cast<std::int64_t>(state_->added.size()));
    for (auto i = std::max<std::int64_t>(start.batches, 0); i < to; ++i) n += state_->added[static_cast<std::size_t>(i)].size();
    return n;
  }
  void commit(const memory_offset&) {}
  std::string description() const { return "MemoryStream"; }

 private:
  struct state {
    std::mutex mutex;
    std::deque<std::vector<T>> added;
  };
  std::shared_ptr<state> state_;
};

}  // namespace sluice

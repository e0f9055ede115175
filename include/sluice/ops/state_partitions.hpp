// What the partitioned stateful operators share: the state partition a key's hash belongs to
// (fixed: a checkpoint's state files depend on it), and a mutex their per-batch lists are
// filled under by the input partitions' threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace sluice::detail {

// A key's state partition, from its hash: not the high bits the group tables place a key by
// (the groups of one partition would crowd a part of its table), nor the low byte they keep
// as its tag. Stable: the state files of a checkpoint depend on it.
inline std::size_t state_partition_of(std::uint64_t h, std::size_t n) {
  return static_cast<std::size_t>((((h >> 8) & 0xffffffffULL) * n) >> 32);
}

// A mutex that lets its owner be copied (a copy gets its own).
struct copyable_mutex {
  std::mutex m;
  copyable_mutex() = default;
  copyable_mutex(const copyable_mutex&) {}
  copyable_mutex& operator=(const copyable_mutex&) { return *this; }
};

}  // namespace sluice::detail

// What the partitioned stateful operators share: the state partition a key's hash belongs to
// (fixed: a checkpoint's state files depend on it), a key carrying that hash into its
// partition's table, and a mutex their per-batch lists are
// filled under by the input partitions' threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "../detail/hash.hpp"

namespace sluice::detail {

// A key's state partition, from its hash: not the high bits the group tables place a key by
// (the groups of one partition would crowd a part of its table), nor the low byte they keep
// as its tag. Stable: the state files of a checkpoint depend on it.
inline std::size_t state_partition_of(std::uint64_t h, std::size_t n) {
  return static_cast<std::size_t>((((h >> 8) & 0xffffffffULL) * n) >> 32);
}

// key_hash, inlined into the per-row path (GCC leaves it out of line in a large loop body).
template <class K>
[[gnu::flatten]] inline std::size_t hash_key(const K& k) {
  return key_hash{}(k);
}

// A key with its hash computed already (for its state partition): a table keyed with
// prehashed_key_hash and prehashed_key_equal finds it without hashing it again.
template <class K>
struct prehashed {
  const K& key;
  std::size_t hash;
};
struct prehashed_key_hash : key_hash {
  using is_transparent = void;
  using key_hash::operator();
  template <class K>
  std::size_t operator()(const prehashed<K>& k) const {
    return k.hash;
  }
};
struct prehashed_key_equal {
  using is_transparent = void;
  template <class K>
  static const K& key_of(const K& k) {
    return k;
  }
  template <class K>
  static const K& key_of(const prehashed<K>& k) {
    return k.key;
  }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return key_of(a) == key_of(b);
  }
};

// A mutex that lets its owner be copied (a copy gets its own).
struct copyable_mutex {
  std::mutex m;
  copyable_mutex() = default;
  copyable_mutex(const copyable_mutex&) {}
  copyable_mutex& operator=(const copyable_mutex&) { return *this; }
};

}  // namespace sluice::detail

// Prefetching a boost::unordered_flat_map's entry for a hash some lookups ahead of the lookup
// (group prefetching: Chen et al., "Improving hash join performance through prefetching"), so
// that many cache misses are in flight at once instead of the few an out-of-order core finds
// by itself.
//
// The map has no public call for where a hash's key would sit, so this reads its layout
// (Boost 1.81's foa table: one table member holding the size, then the size index, the group
// mask, the metadata groups and the entries). Only that version is known: with another, or
// when the object does not look like that layout, every call does nothing. A prefetch never
// faults and changes no result: a wrong guess only costs the time it saves otherwise.
#pragma once
#include <boost/unordered/hash_traits.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/version.hpp>
#include <cstddef>
#include <cstring>

namespace sluice::detail {

#if BOOST_VERSION == 108100 && defined(__GNUC__)  // (__builtin_prefetch; clang defines it too)
inline constexpr bool flat_map_layout_known = true;
#else
inline constexpr bool flat_map_layout_known = false;
#endif

template <class Map>
class flat_map_prefetcher {
  using value_type = typename Map::value_type;

 public:
  // Call again after the map is moved or copied (it keeps the map's address).
  explicit flat_map_prefetcher(const Map& m) : map_(&m) {
    if constexpr (flat_map_layout_known) {
      // The hash the map places a key by is the hasher's own only when it avalanches.
      if constexpr (boost::unordered::hash_is_avalanching<typename Map::hasher>::value) {
        if (sizeof(Map) == sizeof(mirror)) {
          const mirror l = layout();
          const std::size_t groups = l.mask + 1;
          on_ = l.size == m.size() && l.index > 0 && l.index < 64 && groups == (std::size_t{1} << (64 - l.index)) &&
                m.bucket_count() == (l.elements != nullptr ? groups * group_slots - 1 : 0) && l.groups != nullptr;
        }
      }
    }
  }

  bool enabled() const { return on_; }

  // Stage 1: the metadata group (the tags of 15 slots) where the hash's key would be first.
  void group(std::size_t hash) const {
    if constexpr (flat_map_layout_known) {
      if (!on_) return;
      const mirror l = layout();
      __builtin_prefetch(l.groups + (hash >> l.index) * group_bytes);
    }
  }

  // Stage 2, some lookups after stage 1 (the group's tags in cache by then): the entry of the
  // first slot whose tag matches the hash, or the group's first entry when none does. Reads
  // the map's current arrays: an insertion since stage 1 may have moved them.
  void entry(std::size_t hash) const {
    if (const auto* e = reinterpret_cast<const unsigned char*>(guess(hash))) {
      __builtin_prefetch(e);  // both ends: an entry need not start a cache line
      if constexpr (sizeof(value_type) > 1) __builtin_prefetch(e + sizeof(value_type) - 1);
    }
  }

  // Where the key of this hash most likely is (or would go): the first slot of its home group
  // whose tag matches, else the group's first slot; nullptr when the layout is unknown or the
  // map has no entries allocated. Only read, never written through.
  const value_type* guess(std::size_t hash) const {
    if constexpr (flat_map_layout_known) {
      if (!on_) return nullptr;
      const mirror l = layout();
      if (l.elements == nullptr) return nullptr;
      const std::size_t pos = hash >> l.index;
      using group_type = boost::unordered::detail::foa::group15;
      const auto* g = reinterpret_cast<const group_type*>(l.groups + pos * group_bytes);
      const int mask = g->match(hash);
      const std::size_t slot = mask != 0 ? static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask))) : 0;
      return l.elements + pos * group_slots + slot;
    } else {
      return nullptr;
    }
  }

 private:
  static constexpr std::size_t group_slots = 15, group_bytes = 16;
  // Boost 1.81's table, its hasher, equality and allocator empty: size_, then arrays
  // (groups_size_index, groups_size_mask, groups, elements), then ml.
  struct mirror {
    std::size_t size;
    std::size_t index;
    std::size_t mask;
    const unsigned char* groups;
    const value_type* elements;
    std::size_t ml;
  };
  mirror layout() const {
    mirror l;
    std::memcpy(&l, static_cast<const void*>(map_), sizeof l);
    return l;
  }
  const Map* map_;
  bool on_ = false;
};

}  // namespace sluice::detail

// What the partitioned stateful operators share: the state partition a key's hash belongs to
// (fixed: a checkpoint's state files depend on it), a key carrying that hash into its
// partition's table, a mutex their per-batch lists are filled under by the input partitions'
// threads, and those lists for operators that route rows.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <mutex>
#include <utility>
#include <vector>

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

// A batch's rows, taken by input partitions at once (parallel_accept) and routed by key to
// state partitions: each input partition fills a bucket per state partition in arrival order
// and hands them in when it closes; finish() then gives each state partition its rows input
// partition by input partition in their order, so a key sees its rows in the order one thread
// gives. Late rows (Late) are kept per input partition and merged in that order too. Extra:
// what else an input partition keeps until finish (a base of its local).
struct no_extra {};
template <class Item, class Late, class Extra = no_extra>
struct routed_rows {
  struct local : Extra {
    std::size_t index = 0;  // the input partition's
    bool straight = true;   // no workers: the stage applies rows itself, in arrival order
    std::vector<std::vector<Item>> buckets;  // per state partition
    std::vector<Late> late;
    std::int64_t dropped = 0;
  };
  copyable_mutex mutex;
  std::vector<local> closed;  // the input partitions closed in this batch

  static local open(bool straight, std::size_t index, std::size_t partitions) {
    local l;
    l.index = index;
    l.straight = straight;
    if (!straight) l.buckets.resize(partitions);
    return l;
  }
  void close(local& l) {
    if (l.straight) return;
    std::lock_guard lock(mutex.m);
    closed.push_back(std::move(l));
  }
  // At finish, on the query thread: the closed input partitions in order, their late rows
  // appended to `late_rows` (when set); returns how many rows they dropped as late.
  std::int64_t order(std::vector<Late>* late_rows) {
    std::sort(closed.begin(), closed.end(), [](const local& a, const local& b) { return a.index < b.index; });
    std::int64_t dropped = 0;
    for (auto& l : closed) {
      if (late_rows != nullptr) late_rows->insert(late_rows->end(), std::make_move_iterator(l.late.begin()),
                                                  std::make_move_iterator(l.late.end()));
      dropped += l.dropped;
    }
    return dropped;
  }
  // State partition p's rows, in the order one thread gives.
  template <class F>
  void each(std::size_t p, F&& f) {
    for (auto& l : closed)
      for (auto& x : l.buckets[p]) f(x);
  }
  // A row dropped as late: counted (into `dropped`, the stage's, when l is straight), and kept
  // when late_rows is set, in the order one thread gives.
  template <class R>
  static void drop_late(local& l, std::int64_t& dropped, std::vector<Late>* late_rows, R&& r) {
    if (l.straight) {
      ++dropped;
      if (late_rows != nullptr) late_rows->emplace_back(std::forward<R>(r));
    } else {
      ++l.dropped;
      if (late_rows != nullptr) l.late.emplace_back(std::forward<R>(r));
    }
  }
};

// Where a key first appeared in a batch: (input partition, row in it).
using arrival_rank = std::pair<std::size_t, std::size_t>;

// Rows routed with their key and rank, for the operators that call user code per key
// (group state, transform_with_state): each input partition numbers its rows.
template <class Key, class Row>
struct ranked_row {
  Key key;
  Row row;
  arrival_rank rank;
};
template <class Key, class Row, class Late>
struct ranked_rows : routed_rows<ranked_row<Key, Row>, Late> {
  using base = routed_rows<ranked_row<Key, Row>, Late>;
  struct local : base::local {
    std::size_t seq = 0;  // rows accepted so far
    arrival_rank next() { return {this->index, seq++}; }
  };
  static local open(bool straight, std::size_t index, std::size_t partitions) {
    local l;
    static_cast<typename base::local&>(l) = base::open(straight, index, partitions);
    return l;
  }
};

// What one state partition's user calls emitted in a batch: the calls for keys with rows, each
// with its key's rank, then the rest (timeouts, timers).
template <class Out>
struct ranked_output {
  struct call {
    arrival_rank rank;
    std::size_t begin, end;  // in rows
  };
  std::vector<Out> rows;
  std::vector<call> calls;
  std::size_t rest_from = 0;

  template <class F>
  void record(arrival_rank rank, F&& f) {
    const std::size_t begin = rows.size();
    f();
    calls.push_back({rank, begin, rows.size()});
  }
  void end_calls() { rest_from = rows.size(); }
  void clear() {
    rows.clear();
    calls.clear();
    rest_from = 0;
  }
};

// Sends the partitions' output down: the calls in the order their keys first appeared in the
// batch (as on one thread), then the rest partition by partition; empties them.
template <class Out, class Down>
void emit_ranked(const std::vector<ranked_output<Out>*>& outs, Down& down) {
  std::vector<std::pair<typename ranked_output<Out>::call, ranked_output<Out>*>> calls;
  for (auto* o : outs)
    for (const auto& c : o->calls) calls.emplace_back(c, o);
  if (outs.size() > 1)
    std::sort(calls.begin(), calls.end(), [](const auto& a, const auto& b) { return a.first.rank < b.first.rank; });
  for (auto& [c, o] : calls)
    for (std::size_t i = c.begin; i < c.end; ++i) down(std::move(o->rows[i]));
  for (auto* o : outs) {
    for (std::size_t i = o->rest_from; i < o->rows.size(); ++i) down(std::move(o->rows[i]));
    o->clear();
  }
}

}  // namespace sluice::detail

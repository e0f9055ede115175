// The state of a stream-stream join (ops/stream_join.hpp): per side, key -> its rows, kept in
// shuffle_partitions state partitions by the join key's hash (Spark keeps a join's state per
// shuffle partition, both sides hashed by the join key), with the partitions' checkpoint form.
#pragma once
#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "../codec/binary.hpp"
#include "join.hpp"  // join_key_hash
#include "state_partitions.hpp"

namespace sluice::detail {

// A stored row and whether it has ever matched (Spark's state format 2).
template <class Row>
struct join_entry {
  Row row;
  bool matched = false;
};

// A key's rows, in arrival order, and the batch run that last listed the key as changed.
template <class Row>
struct join_bucket {
  std::vector<join_entry<Row>> entries;
  std::uint64_t changed_in = 0;
};

// One side's state: key -> its rows. The keys a batch changed are listed once each (for the
// delta) by marking their bucket, not with a set: one hash lookup per row, not two.
template <class Row, class K>
struct join_side_state {
  boost::unordered_flat_map<std::optional<K>, join_bucket<Row>, join_key_hash> rows;
  std::vector<std::optional<K>> changed;
  std::uint64_t epoch = 1;
  std::int64_t count = 0;
  std::int64_t min_time = std::numeric_limits<std::int64_t>::max();  // no row leaves before it

  void mark(const std::optional<K>& k, join_bucket<Row>& b) {
    if (b.changed_in == epoch) return;
    b.changed_in = epoch;
    changed.push_back(k);
  }
  void new_batch() {
    changed.clear();
    ++epoch;
  }
  // A key's rows moved in whole (from another partition, when the number of partitions changes).
  void put(std::optional<K> k, join_bucket<Row> b, std::int64_t min_leave) {
    count += static_cast<std::int64_t>(b.entries.size());
    if (min_leave < min_time) min_time = min_leave;
    b.changed_in = 0;
    rows.insert_or_assign(std::move(k), std::move(b));
  }
  void write_key(binary_writer& out, const std::optional<K>& k) const {
    out.write(k);
    const auto it = rows.find(k);
    out.write(it != rows.end());
    if (it == rows.end()) return;
    out.write_size(it->second.entries.size());
    for (const auto& e : it->second.entries) {
      out.write(e.row);
      out.write(e.matched);
    }
  }
  // A key's rows as write_key wrote them after the key (read by the caller, which places it).
  template <class Time>
  void read_rows(binary_reader& in, std::optional<K> k, Time time_of) {
    bool present = false;
    in.read(present);
    auto it = rows.find(k);
    if (it != rows.end()) count -= static_cast<std::int64_t>(it->second.entries.size());
    if (!present) {
      if (it != rows.end()) rows.erase(it);
      return;
    }
    join_bucket<Row> b;
    b.entries.resize(in.read_size(1));
    for (auto& e : b.entries) {
      in.read(e.row);
      in.read(e.matched);
      const std::int64_t t = time_of(k, e.row);
      if (t < min_time) min_time = t;
    }
    count += static_cast<std::int64_t>(b.entries.size());
    rows.insert_or_assign(std::move(k), std::move(b));
  }
};

// One state partition: both sides' keys of its hash range, and what its batch counted.
template <class LRow, class RRow, class K>
struct join_state_part {
  join_side_state<LRow, K> left;
  join_side_state<RRow, K> right;
  std::int64_t appended = 0, removed = 0;

  void new_batch() {
    left.new_batch();
    right.new_batch();
    appended = removed = 0;
  }
  // Its files have the form the whole state had before partitions: per side a count and the
  // keys (a delta: the keys the batch changed, each with all its rows now or its removal).
  void write_delta(binary_writer& out) const {
    out.write_size(left.changed.size());
    for (const auto& k : left.changed) left.write_key(out, k);
    out.write_size(right.changed.size());
    for (const auto& k : right.changed) right.write_key(out, k);
  }
  void write_snapshot(binary_writer& out) const {
    out.write_size(left.rows.size());
    for (const auto& kv : left.rows) left.write_key(out, kv.first);
    out.write_size(right.rows.size());
    for (const auto& kv : right.rows) right.write_key(out, kv.first);
  }
};

// A join key's state partition among n.
template <class K>
std::size_t join_partition_of(const std::optional<K>& k, std::size_t n) {
  return n == 1 ? 0 : state_partition_of(join_key_hash{}(k), n);
}

// The keys of `parts` spread over n partitions (whole: their rows and matched flags move
// together). True when there was some state to move.
template <class LRow, class RRow, class K>
bool repartition(std::vector<join_state_part<LRow, RRow, K>>& parts, std::size_t n) {
  auto old = std::move(parts);
  parts.assign(n, join_state_part<LRow, RRow, K>{});
  bool any = false;
  for (auto& p : old) {
    for (auto& [k, b] : p.left.rows) {
      parts[join_partition_of(k, n)].left.put(k, std::move(b), p.left.min_time);
      any = true;
    }
    for (auto& [k, b] : p.right.rows) {
      parts[join_partition_of(k, n)].right.put(k, std::move(b), p.right.min_time);
      any = true;
    }
  }
  return any;
}

}  // namespace sluice::detail

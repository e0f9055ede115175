// sl::drop_duplicates(cols...) and sl::drop_duplicates_within_watermark(cols...): streaming
// deduplication with Spark's semantics (StreamingDeduplicateExec and, Spark 3.5,
// StreamingDeduplicateWithinWatermarkExec). The row type is unchanged; without columns the
// whole row is the key.
//
//   drop_duplicates    emits the first row of each key and keeps the key. The state is kept
//                      forever, unless the watermarked event-time column is among the keys:
//                      then a key leaves the state once its event time <= the watermark.
//   ..._within_watermark  keeps each key until its first row's event time + the watermark's
//                      delay <= the watermark; a row of the key within that is a duplicate.
//                      Needs sl::with_watermark upstream (a compile-time rule).
//
// With a watermarked event-time column in the row (sl::with_watermark(sl::col<"name">, ...)),
// a row whose event time <= the watermark is late: dropped and counted (numRowsDroppedByWatermark),
// whether or not the column is a key (Spark filters on the child's event-time column).
#pragma once
#include <boost/mp11.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "../codec/state_layout.hpp"
#include "../codec/binary.hpp"
#include "../detail/hash.hpp"
#include "../engine/control.hpp"
#include "../graph/node.hpp"
#include "../graph/protocol.hpp"
#include "../schema.hpp"
#include "column.hpp"
#include "state_partitions.hpp"

namespace sluice {

// A deduplication key: a column named with sl::col<"name">.
template <class C>
concept dedup_column = detail::is_col_v<std::remove_cvref_t<C>>;

namespace detail {
template <class C>
using column_value_t = typename C::type;

// The row's watermarked event-time column, when the upstream with_watermark names one of its
// columns of type timestamp (a member pointer or a function cannot be told apart from others).
template <class In, class Up>
struct event_time_column {
  static constexpr std::string_view name = Up::props.has_watermark ? Up::props.watermark_column : std::string_view{};
  static constexpr std::size_t index = name.empty() ? column_count_v<In> : column_index<In>(name);
  static constexpr bool exists = [] {
    if constexpr (index < column_count_v<In>)
      return std::is_same_v<typename boost::mp11::mp_at_c<columns_of<In>, index>::type, timestamp>;
    else return false;
  }();
  static std::int64_t micros(const In& r)
    requires exists
  {
    return get<boost::mp11::mp_at_c<columns_of<In>, index>::name>(r).micros;
  }
};

template <class In, class Up, bool Within, class... Cols>
struct dedup_stage : stateful_control, described_stage {
  static constexpr stage_kind kind = stage_kind::stateful;
  using output_row = In;
  using key_columns = std::conditional_t<sizeof...(Cols) == 0, columns_of<In>,
                                         boost::mp11::mp_list<column<Cols::name, column_type_t<In, Cols::name>>...>>;
  using key_type = boost::mp11::mp_apply<std::tuple, boost::mp11::mp_transform<column_value_t, key_columns>>;
  using event_time = event_time_column<In, Up>;
  // Spark evicts by the key when a key column carries the watermark.
  static constexpr bool event_time_in_key = [] {
    if constexpr (!event_time::exists) return false;
    else
      return []<class... C>(boost::mp11::mp_list<C...>) {
        return ((C::name.view() == event_time::name) || ...);
      }(key_columns{});
  }();
  static constexpr bool evicts = Within || event_time_in_key;
  static constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();

  // Spark counts a deduplication among chained stateful operators only with an event-time key.
  static constexpr bool stateful_operator = evicts;
  static constexpr bool deduplication = true;
  template <class Q>
  static constexpr bool check_shape() {
    if constexpr (evicts) return check_chained_stateful<Q>();
    else return true;
  }
  static constexpr graph_props transform(graph_props p) { return p; }

  // One state partition's keys: key -> the event time at which it leaves the state (never,
  // without eviction), and what the batch changed.
  struct part {
    boost::unordered_flat_map<key_type, std::int64_t, key_hash> seen;
    std::vector<std::pair<key_type, std::int64_t>> added;
    std::vector<key_type> evicted;
    std::int64_t min_expiry = never;  // no key leaves before it: a lower watermark skips the scan

    bool insert(key_type k, std::int64_t expiry) {
      auto [it, inserted] = seen.try_emplace(std::move(k), expiry);
      if (!inserted) return false;  // a duplicate
      if (expiry < min_expiry) min_expiry = expiry;
      added.emplace_back(it->first, expiry);
      return true;
    }
    std::int64_t evict(std::int64_t wm) {
      if (wm < min_expiry) return 0;
      std::int64_t left = never;
      const auto removed = boost::unordered::erase_if(seen, [&](const auto& kv) {
        if (kv.second > wm) {
          left = kv.second < left ? kv.second : left;
          return false;
        }
        evicted.push_back(kv.first);
        return true;
      });
      min_expiry = left;
      return static_cast<std::int64_t>(removed);
    }
    void put(key_type k, std::int64_t expiry) {
      if (expiry < min_expiry) min_expiry = expiry;
      seen.insert_or_assign(std::move(k), expiry);
    }
    // ---- its checkpoint files: the keys the batch added (with their expiry) and evicted
    void write_delta(binary_writer& out) const {
      out.write_size(added.size());
      for (const auto& [k, e] : added) {
        out.write(k);
        out.write(e);
      }
      out.write_size(evicted.size());
      for (const auto& k : evicted) out.write(k);
    }
    void write_snapshot(binary_writer& out) const {
      out.write_size(seen.size());
      for (const auto& [k, e] : seen) {
        out.write(k);
        out.write(e);
      }
    }
    void load_snapshot(binary_reader& in) {
      seen.clear();
      min_expiry = never;
      read_upserts(in, [this](key_type k, std::int64_t e) { put(std::move(k), e); });
    }
    void apply_delta(binary_reader& in) {
      read_upserts(in, [this](key_type k, std::int64_t e) { put(std::move(k), e); });
      erase_keys<key_type>(in, seen);
    }
  };
  template <class Put>
  static void read_upserts(binary_reader& in, Put&& put) {
    const auto n = in.read_size(1);
    for (std::size_t i = 0; i < n; ++i) {
      key_type k{};
      std::int64_t e = never;
      in.read(k);
      in.read(e);
      put(std::move(k), e);
    }
  }

  // The state in batch_context::shuffle_partitions partitions by key hash (Spark's state per
  // shuffle partition). Input partitions accepted at once on several threads (parallel_accept)
  // each route their rows into buckets per state partition; finish() applies each state
  // partition's buckets in a task, in input partition order and row order within one: the
  // first occurrence of a key kept is the one a single thread keeps. The rows kept then go
  // down in arrival order (each input partition remembers its rows' state partitions), as on
  // one thread. Without workers, rows go straight to their partition in arrival order.
  static constexpr bool parallel_accept = true;
  std::vector<part> parts_ = std::vector<part>(1);
  std::vector<In> out_;  // the rows taken straight: the batch's first occurrences, in arrival order
  struct routed {
    key_type key;
    std::int64_t expiry;
    In row;
    bool kept = false;  // the first of its key: set by its state partition's task
  };
  struct routes {
    std::vector<std::uint32_t> route;  // each row's state partition, in arrival order
  };
  using batch_rows = routed_rows<routed, In, routes>;
  using local = typename batch_rows::local;
  batch_rows rows_;  // the input partitions closed in this batch

  std::int64_t delay_ = 0;  // within watermark: the upstream watermark's delay, in microseconds
  using late_row = In;  // sl::late_rows_to (ops/late_rows.hpp): where rows dropped as late go
  std::vector<In>* late_rows = nullptr;
  std::int64_t dropped_ = 0;
  std::int64_t last_watermark_ = std::numeric_limits<std::int64_t>::min();
  state_operator_metrics last_metrics{Within ? "dedupeWithinWatermark" : "dedupe"};

  void visit(graph_controls& c) {
    if constexpr (Within) {
      // The nearest upstream watermark on the event-time column (visited just before this stage).
      for (auto it = c.watermarks.rbegin(); it != c.watermarks.rend(); ++it)
        if ((*it)->column_description() == event_time::name) {
          delay_ = (*it)->delay().count();
          break;
        }
    }
    c.add_stateful(this);
  }
  // The key columns and the kind: a checkpoint made with others is refused.
  boost::json::object checkpoint_description() const override {
    boost::json::array ks;
    []<class... C>(boost::mp11::mp_list<C...>, boost::json::array& out) {
      (out.push_back(boost::json::string(C::name.view())), ...);
    }(key_columns{}, ks);
    return {{"operator", Within ? "dedupeWithinWatermark" : "dedupe"}, {"keys", std::move(ks)}, {"state", state_signature()}};
  }
  // A key's value is when it expires (microseconds; the largest long: never).
  boost::json::object state_layout() const override {
    std::vector<std::string> names;
    boost::mp11::mp_for_each<key_columns>([&](auto c) { names.emplace_back(decltype(c)::name.view()); });
    return keyed_layout(named_tuple_layout<key_type>(names), struct_layout({{"expiresAtUs", "long"}}));
  }

  static key_type key_of(const In& r) {
    return []<class... C>(boost::mp11::mp_list<C...>, const In& row) {
      return key_type{get<C::name>(row)...};
    }(key_columns{}, r);
  }
  std::size_t partition_of(const key_type& k) const {
    return parts_.size() == 1 ? 0 : state_partition_of(key_hash{}(k), parts_.size());
  }

  // index: the input partition's (its rows come after those of lower ones).
  local open_batch(const batch_context& ctx, std::size_t index = 0) {
    return batch_rows::open(ctx.tasks == nullptr, index, parts_.size());
  }

  template <class R>
  void accept(batch_context& ctx, R&& r, local& l) {
    std::int64_t expiry = never;
    if constexpr (event_time::exists) {
      const std::int64_t t = event_time::micros(r);
      if (ctx.has_watermark && t <= late_events_watermark(ctx, operator_index)) {
        batch_rows::drop_late(l, dropped_, late_rows, std::forward<R>(r));
        return;
      }
      if constexpr (Within) expiry = t + delay_;
      else if constexpr (event_time_in_key) expiry = t;
    }
    key_type k = key_of(r);
    const std::size_t p = partition_of(k);
    if (l.straight) {
      if (parts_[p].insert(std::move(k), expiry)) out_.emplace_back(std::forward<R>(r));
    } else {
      l.buckets[p].push_back(routed{std::move(k), expiry, In(std::forward<R>(r))});
      l.route.push_back(static_cast<std::uint32_t>(p));
    }
  }

  void close_batch(local& l) { rows_.close(l); }

  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    dropped_ += rows_.order(late_rows);
    const bool evict = evicts && ctx.has_watermark;
    const std::int64_t wm = eviction_watermark(ctx, operator_index);
    std::vector<std::int64_t> removed(parts_.size(), 0);
    auto finish_part = [&](std::size_t p) {
      rows_.each(p, [&](routed& x) { x.kept = parts_[p].insert(std::move(x.key), x.expiry); });
      if (evict) removed[p] = parts_[p].evict(wm);
    };
    if (ctx.tasks == nullptr || parts_.size() == 1 || (rows_.closed.empty() && !evict)) {
      for (std::size_t p = 0; p < parts_.size(); ++p) finish_part(p);
    } else {
      parallel_for(ctx, parts_.size(), finish_part);
    }
    for (auto& r : out_) down(std::move(r));
    out_.clear();
    std::vector<std::size_t> next(parts_.size());
    for (auto& l : rows_.closed) {
      std::fill(next.begin(), next.end(), 0);
      for (const std::uint32_t p : l.route)
        if (auto& x = l.buckets[p][next[p]++]; x.kept) down(std::move(x.row));
    }
    rows_.closed.clear();
    last_watermark_ = wm;  // its own (after a join: lower)
    last_metrics = state_operator_metrics{Within ? "dedupeWithinWatermark" : "dedupe"};
    for (std::size_t p = 0; p < parts_.size(); ++p) {
      last_metrics.num_rows_total += static_cast<std::int64_t>(parts_[p].seen.size());
      last_metrics.num_rows_updated += static_cast<std::int64_t>(parts_[p].added.size());
      last_metrics.num_rows_removed += removed[p];
    }
    last_metrics.num_rows_dropped_by_watermark = std::exchange(dropped_, 0);
    last_metrics.memory_used_bytes = last_metrics.num_rows_total * static_cast<std::int64_t>(sizeof(key_type) + sizeof(std::int64_t));
  }

  // A run of a batch starts: with the batch's number of state partitions (a graph driven by
  // hand may change it; the engine keeps the checkpoint's), the keys moved to theirs.
  void begin_batch(const batch_context& ctx) override {
    const std::size_t n = std::max<std::size_t>(1, ctx.shuffle_partitions);
    if (n != parts_.size()) repartition(n);
    out_.clear();
    rows_.closed.clear();
    for (auto& p : parts_) {
      p.added.clear();
      p.evicted.clear();
    }
    dropped_ = 0;
  }

  // Spark's BaseStreamingDeduplicateExec.shouldRunAnotherBatch: the watermark moved past the
  // one the last batch ran with (so a no-data batch evicts), whatever the keys.
  bool needs_no_data_batch(output_mode_kind, std::int64_t new_watermark) const override {
    return last_watermark_ != std::numeric_limits<std::int64_t>::min() && new_watermark > last_watermark_;
  }
  state_operator_metrics metrics() const override { return last_metrics; }

  // ---- checkpoints: a batch's delta is the keys it added (with their expiry) and the keys it
  // evicted; keys never change otherwise. One delta and snapshot per state partition
  // (state/<op>/<partition>/), each in the form the whole state had before partitions, which
  // the whole-state calls still read and write (a checkpoint from before restores into them).
  // A partition the batch neither added to nor evicted from writes no delta (the commit records
  // how many each has, docs/checkpoints.md).
  std::string state_signature() const override { return boost::json::serialize(state_layout()); }
  std::size_t state_partitions() const override { return parts_.size(); }
  void reset_partitions(std::size_t n) override {
    parts_.assign(n, part{});
    rows_.closed.clear();
  }
  void write_partition_delta(std::size_t p, binary_writer& out) const override { parts_[p].write_delta(out); }
  bool partition_unchanged(std::size_t p) const override { return parts_[p].added.empty() && parts_[p].evicted.empty(); }
  void write_partition_snapshot(std::size_t p, binary_writer& out) const override { parts_[p].write_snapshot(out); }
  void load_partition_snapshot(std::size_t p, binary_reader& in) override { parts_[p].load_snapshot(in); }
  void apply_partition_delta(std::size_t p, binary_reader& in) override { parts_[p].apply_delta(in); }

  void write_delta(binary_writer& out) const override {
    std::size_t added = 0, evicted = 0;
    for (const auto& p : parts_) {
      added += p.added.size();
      evicted += p.evicted.size();
    }
    out.write_size(added);
    for (const auto& p : parts_)
      for (const auto& [k, e] : p.added) {
        out.write(k);
        out.write(e);
      }
    out.write_size(evicted);
    for (const auto& p : parts_)
      for (const auto& k : p.evicted) out.write(k);
  }
  void write_snapshot(binary_writer& out) const override {
    std::size_t n = 0;
    for (const auto& p : parts_) n += p.seen.size();
    out.write_size(n);
    for (const auto& p : parts_)
      for (const auto& [k, e] : p.seen) {
        out.write(k);
        out.write(e);
      }
  }
  void load_snapshot(binary_reader& in) override {
    reset_partitions(parts_.size());
    read_upserts(in, [this](key_type k, std::int64_t e) { parts_[partition_of(k)].put(std::move(k), e); });
  }
  void apply_delta(binary_reader& in) override {
    read_upserts(in, [this](key_type k, std::int64_t e) { parts_[partition_of(k)].put(std::move(k), e); });
    const auto n = in.read_size(1);
    for (std::size_t i = 0; i < n; ++i) {
      key_type k{};
      in.read(k);
      parts_[partition_of(k)].seen.erase(k);
    }
  }
  void restore_last_batch_watermark(std::int64_t watermark) override { last_watermark_ = watermark; }

 private:
  // The keys into n partitions; when there are some, the next checkpoint writes each
  // partition's snapshot, as their files so far (if any) are of another layout.
  void repartition(std::size_t n) {
    std::vector<part> old = std::move(parts_);
    parts_.assign(n, part{});
    for (auto& p : old)
      for (auto& [k, e] : p.seen) {
        parts_[partition_of(k)].put(k, e);
        full_snapshot_due = true;
      }
    rows_.closed.clear();
  }
};
}  // namespace detail

// The `|` closure: binds to the upstream node, whose compile-time properties say where the
// watermark is and whether an aggregation came before.
template <bool Within, class... Cols>
struct drop_duplicates_t {
  using is_stage_descriptor = void;
  static constexpr bool apply_to_node = true;
  template <class Up>
  auto apply(Up&& up) && {
    if constexpr ((dedup_column<Cols> && ...)) {  // else drop_duplicates(...) has already said why
      using U = std::remove_cvref_t<Up>;
      using In = typename U::row_type;
      static_assert(!Within || detail::event_time_column<In, U>::exists,
                    "sluice rule [dedup-within-watermark-needs-watermark]: drop_duplicates_within_watermark needs "
                    "sl::with_watermark(sl::col<\"name\">, delay) upstream on a timestamp column of the row (Spark "
                    "refuses it on a stream without a watermark)");
      if constexpr (!Within || detail::event_time_column<In, U>::exists)
        (detail::resolve_column<In, Cols::name>(), ...);  // names a missing column, once
      if constexpr ((!Within || detail::event_time_column<In, U>::exists) &&
                    (has_column<In, Cols::name> && ...)) {
        using S = detail::dedup_stage<In, U, Within, Cols...>;
        return stage_node<U, S>{std::forward<Up>(up), S{}};
      } else {
        return std::forward<Up>(up);  // after the error: the stream unchanged, adding none
      }
    } else {
      return std::forward<Up>(up);
    }
  }
};

// The function objects: sl::drop_duplicates(sl::col<"a">, ...) / sl::drop_duplicates() for the
// whole row; the same for sl::drop_duplicates_within_watermark.
template <bool Within>
struct drop_duplicates_fn {
  template <class... Cols>
  auto operator()(Cols... cols) const {
    static_assert(((dedup_column<detail::selector_t<Cols>> || std::is_member_pointer_v<detail::selector_t<Cols>>) && ...),
                  "sluice::drop_duplicates: name each key column with sl::col<\"name\"> or a member pointer");
    ((void)detail::to_selector(cols), ...);  // checks a member pointer's value
    return drop_duplicates_t<Within, detail::selector_t<Cols>...>{};
  }
};
inline constexpr drop_duplicates_fn<false> drop_duplicates{};
inline constexpr drop_duplicates_fn<true> drop_duplicates_within_watermark{};

}  // namespace sluice

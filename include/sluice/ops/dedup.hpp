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
#include "../schema.hpp"
#include "column.hpp"

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

  // Key -> the event time at which it leaves the state (never, without eviction).
  boost::unordered_flat_map<key_type, std::int64_t, key_hash> seen_;
  std::vector<In> out_;  // the batch's first occurrences, in arrival order
  std::vector<std::pair<key_type, std::int64_t>> added_;
  std::vector<key_type> evicted_;
  std::int64_t delay_ = 0;  // within watermark: the upstream watermark's delay, in microseconds
  std::int64_t min_expiry_ = never;  // no key leaves before it: a lower watermark skips the scan
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

  template <class R>
  void accept(batch_context& ctx, R&& r) {
    std::int64_t expiry = never;
    if constexpr (event_time::exists) {
      const std::int64_t t = event_time::micros(r);
      if (ctx.has_watermark && t <= late_events_watermark(ctx, operator_index)) {
        ++dropped_;
        if (late_rows != nullptr) late_rows->emplace_back(std::forward<R>(r));
        return;
      }
      if constexpr (Within) expiry = t + delay_;
      else if constexpr (event_time_in_key) expiry = t;
    }
    auto [it, inserted] = seen_.try_emplace(key_of(r), expiry);
    if (!inserted) return;  // a duplicate
    if (expiry < min_expiry_) min_expiry_ = expiry;
    added_.emplace_back(it->first, expiry);
    out_.push_back(std::forward<R>(r));
  }

  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    for (auto& r : out_) down(std::move(r));
    out_.clear();
    std::int64_t removed = 0;
    if constexpr (evicts) {
      const std::int64_t wm = eviction_watermark(ctx, operator_index);
      if (ctx.has_watermark && wm >= min_expiry_) {
        std::int64_t left = never;
        removed = static_cast<std::int64_t>(boost::unordered::erase_if(seen_, [&](const auto& kv) {
          if (kv.second > wm) {
            left = kv.second < left ? kv.second : left;
            return false;
          }
          evicted_.push_back(kv.first);
          return true;
        }));
        min_expiry_ = left;
      }
    }
    last_watermark_ = eviction_watermark(ctx, operator_index);  // its own (after a join: lower)
    last_metrics.num_rows_total = static_cast<std::int64_t>(seen_.size());
    last_metrics.num_rows_updated = static_cast<std::int64_t>(added_.size());
    last_metrics.num_rows_removed = removed;
    last_metrics.num_rows_dropped_by_watermark = std::exchange(dropped_, 0);
    last_metrics.memory_used_bytes = static_cast<std::int64_t>(seen_.size() * (sizeof(key_type) + sizeof(std::int64_t)));
  }

  void begin_batch(const batch_context&) override {
    out_.clear();
    added_.clear();
    evicted_.clear();
    dropped_ = 0;
  }

  // Spark's BaseStreamingDeduplicateExec.shouldRunAnotherBatch: the watermark moved past the
  // one the last batch ran with (so a no-data batch evicts), whatever the keys.
  bool needs_no_data_batch(output_mode_kind, std::int64_t new_watermark) const override {
    return last_watermark_ != std::numeric_limits<std::int64_t>::min() && new_watermark > last_watermark_;
  }
  state_operator_metrics metrics() const override { return last_metrics; }

  // ---- checkpoints: a batch's delta is the keys it added (with their expiry) and the keys it
  // evicted; keys never change otherwise.
  std::string state_signature() const override { return boost::json::serialize(state_layout()); }
  void write_delta(binary_writer& out) const override {
    out.write_size(added_.size());
    for (const auto& [k, e] : added_) {
      out.write(k);
      out.write(e);
    }
    out.write_size(evicted_.size());
    for (const auto& k : evicted_) out.write(k);
  }
  void write_snapshot(binary_writer& out) const override {
    out.write_size(seen_.size());
    for (const auto& [k, e] : seen_) {
      out.write(k);
      out.write(e);
    }
  }
  void load_snapshot(binary_reader& in) override {
    seen_.clear();
    min_expiry_ = never;
    read_upserts(in);
  }
  void apply_delta(binary_reader& in) override {
    read_upserts(in);
    erase_keys<key_type>(in, seen_);
  }
  void restore_last_batch_watermark(std::int64_t watermark) override { last_watermark_ = watermark; }

 private:
  void read_upserts(binary_reader& in) {
    const auto n = in.read_size(1);
    seen_.reserve(seen_.size() + n);
    for (std::size_t i = 0; i < n; ++i) {
      key_type k{};
      std::int64_t e = never;
      in.read(k);
      in.read(e);
      if (e < min_expiry_) min_expiry_ = e;
      seen_.insert_or_assign(std::move(k), e);
    }
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

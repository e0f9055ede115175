// The state of a keyed streaming aggregation (aggregate_stage, detail): the group table,
// sliced sliding windows, emission and eviction per output mode, late rows, and the checkpoint's
// delta and snapshot; with the aggregation's shape rules. Built by sl::group_by(...) |
// sl::aggregate(...) (ops/aggregate.hpp); the session windows' stage (ops/session_window.hpp)
// shares its descriptions and rules.
#pragma once
#include <boost/unordered/unordered_flat_map.hpp>
#include <algorithm>
#include <cstdint>
#include <deque>
#include <iterator>
#include <mutex>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <tuple>
#include <typeinfo>
#include <type_traits>
#include <utility>
#include <vector>

#include "../codec/binary.hpp"
#include "../codec/spark_schema.hpp"
#include "../detail/config.hpp"
#include "../detail/flat_map_prefetch.hpp"
#include "../detail/hash.hpp"
#include "../detail/sliding_aggregator.hpp"
#include "../codec/state_layout.hpp"
#include "../detail/traits.hpp"
#include "../engine/control.hpp"
#include "state_partitions.hpp"
#include "../graph/node.hpp"
#include "aggregates.hpp"
#include "column.hpp"
#include "group_by.hpp"
#include "window.hpp"

namespace sluice {
namespace detail {

template <class A>
inline constexpr bool is_invertible_agg_v = [] {
  if constexpr (requires { A::invertible; }) return A::invertible;
  else return false;
}();

template <class A>
inline constexpr bool is_arrival_ordered_agg_v = [] {
  if constexpr (requires { A::arrival_ordered; }) return A::arrival_ordered;
  else return false;
}();

// ---------------------------------------------------------------- the stage
// An aggregate function as the checkpoint's metadata records it (name, function, column and
// its type, precision), for aggregate_stage and session_aggregate_stage.
template <class A>
boost::json::object describe_aggregate(const typename A::bound_type& b) {
  using B = typename A::bound_type;
  boost::json::object o{{"name", A::name.view()}};
  if constexpr (requires { B::function; }) o["function"] = B::function;
  else o["function"] = typeid(B).name();
  if constexpr (requires { b.sel; }) {
    using S = decltype(b.sel);
    o["column"] = S::named ? std::string(S::name) : std::string("<computed>");
    o["type"] = checkpoint_type_name<std::remove_cvref_t<typename S::value_type>>();
  }
  if constexpr (requires { b.precision; }) o["precision"] = b.precision;
  return o;
}

// A grouping's keys (window geometry included) and aggregate functions as the checkpoint's
// metadata records them: {"operator": name, "keys": [...], "aggregates": [...]}.
template <class... Aggs, class... Keys>
boost::json::object describe_grouping(std::string_view op, const std::tuple<Keys...>& keys,
                                      const std::tuple<typename Aggs::bound_type...>& aggs) {
  boost::json::array ks;
  std::apply([&](const auto&... k) { (ks.push_back(k.checkpoint_description()), ...); }, keys);
  boost::json::array as;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (as.push_back(describe_aggregate<Aggs>(std::get<I>(aggs))), ...);
  }(std::index_sequence_for<Aggs...>{});
  return {{"operator", op}, {"keys", std::move(ks)}, {"aggregates", std::move(as)}};
}

// rule: Spark's checks of a streaming aggregation (UnsupportedOperationChecker), for
// aggregate_stage and session_aggregate_stage: EventTimeKeyed when a key is a window over, or
// the value of, a watermarked timestamp column.
template <class Q, bool EventTimeKeyed>
constexpr bool check_aggregation_shape() {
  static_assert(!(Q::mode == output_mode_kind::append && !EventTimeKeyed),
                "sluice rule [append-aggregation-needs-watermark]: append output mode on an aggregation needs "
                "sl::with_watermark on the event-time column and a group_by key on sl::window over that column (or "
                "on the column itself); add the watermark, or use output_mode::update or output_mode::complete");
  return true;
}
// The grouping keys' and aggregates' state as codec/state_layout.hpp describes it (avg and
// approx_count_distinct keep their own binary form: named here).
template <class... Keys>
boost::json::object grouping_key_layout([[maybe_unused]] std::string_view window_suffix) {
  using key_type = std::tuple<typename Keys::stored_type...>;
  auto o = named_tuple_layout<key_type>(
      {(std::string(Keys::name.view()) + (is_window_key_v<Keys> ? std::string(window_suffix) : std::string()))...});
  constexpr bool windows[] = {is_window_key_v<Keys>..., false};
  for (std::size_t i = 0; i < sizeof...(Keys); ++i)  // a window's start: microseconds, as a timestamp
    if (windows[i]) o["struct"].as_array()[i].as_object()["type"] = "timestamp";
  return o;
}
template <class... Aggs>
boost::json::object aggregate_state_layout() {
  std::vector<std::pair<std::string, boost::json::value>> fields;
  auto one = []<class A>() -> boost::json::value {
    using B = typename A::bound_type;
    if constexpr (B::function == std::string_view("avg"))
      return struct_layout({{"sum", "double"}, {"count", "long"}});
    else if constexpr (B::function == std::string_view("approx_count_distinct"))
      return "hll";
    else
      return binary_layout<typename B::state_type>();
  };
  (fields.emplace_back(std::string(Aggs::name.view()), one.template operator()<Aggs>()), ...);
  return struct_layout(std::move(fields));
}

template <class In, class KeyList, class AggList>
struct aggregate_partition;

// One state partition of a keyed aggregation (aggregate_stage below holds
// batch_context::shuffle_partitions of them): its groups, emission and eviction, and its
// checkpoint delta and snapshot. Rows reach it in the order they reached the stage.
template <class In, class... Keys, class... Aggs>
struct aggregate_partition<In, std::tuple<Keys...>, std::tuple<Aggs...>> {
  std::size_t operator_index = 0;  // the stage's (for its watermarks)

  using key_type = std::tuple<typename Keys::stored_type...>;
  using state_type = std::tuple<typename Aggs::bound_type::state_type...>;
  using output_row = row<field<Keys::name, typename Keys::value_type>...,
                         field<Aggs::name, typename Aggs::bound_type::result_type>...>;
  static_assert(detail::unique_names<columns_of<output_row>>::value,
                "sluice::aggregate: two output columns have the same name; rename one with .as<\"name\">()");

  static constexpr std::size_t event_time_key = [] {
    constexpr bool flags[] = {Keys::is_event_time..., false};
    for (std::size_t i = 0; i < sizeof...(Keys); ++i)
      if (flags[i]) return i;
    return sizeof...(Keys);
  }();
  static constexpr bool has_event_time_key = event_time_key < sizeof...(Keys);

  // The first sl::window key. When it slides (and is the event-time key, if there is one), rows
  // aggregate into slices of gcd(duration, slide) and each window combines its slices: the
  // group table then holds (slice start, other keys) where it would hold (window start, ...).
  static constexpr std::size_t window_key = [] {
    constexpr bool flags[] = {is_window_key_v<Keys>..., false};
    for (std::size_t i = 0; i < sizeof...(Keys); ++i)
      if (flags[i]) return i;
    return sizeof...(Keys);
  }();
  static constexpr bool window_may_slide = [] {
    if constexpr (window_key < sizeof...(Keys)) return may_slide_v<std::tuple_element_t<window_key, std::tuple<Keys...>>>;
    else return false;
  }();
  static constexpr bool can_slice = window_may_slide &&
                                    (!has_event_time_key || event_time_key == window_key) &&
                                    !(is_arrival_ordered_agg_v<typename Aggs::bound_type> || ...);
  static constexpr bool all_invertible = (is_invertible_agg_v<typename Aggs::bound_type> && ...);

  static constexpr bool aggregation = true;  // graph/stages.hpp's is_aggregation
  template <class Q>
  static constexpr bool check_shape() {
    return check_aggregation_shape<Q, has_event_time_key>() && check_chained_stateful<Q>();
  }
  static constexpr bool stateful_operator = true;
  static constexpr graph_props transform(graph_props p) {
    // As in Spark, the event-time key's output column (a window, or the timestamp) carries the
    // watermark on: the aggregation passes its input watermark to the operators after it.
    p.watermark_column = [] {
      if constexpr (has_event_time_key) return std::string_view(std::tuple_element_t<event_time_key, std::tuple<Keys...>>::name.view());
      else return std::string_view{};
    }();
    return p;
  }

  struct group_state {
    state_type states{};
    std::int64_t updated_in_batch = -1;
  };

  std::tuple<Keys...> keys;
  std::tuple<typename Aggs::bound_type...> aggs;
  boost::unordered_flat_map<key_type, group_state, prehashed_key_hash, prehashed_key_equal> groups;
  state_operator_metrics last_metrics{"stateStoreSave"};
  std::int64_t batch_ = -1;  // the batch under way (or last run)
  using late_row = In;  // sl::late_rows_to (ops/late_rows.hpp): where rows dropped as late go
  std::vector<In>* late_rows = nullptr;
  std::int64_t updated_ = 0, dropped_ = 0;
  std::int64_t last_watermark_ = std::numeric_limits<std::int64_t>::min();
  // Groups the batch evicted: with the groups it updated, the batch's checkpoint delta.
  std::vector<key_type> evicted_;
  // The groups the batch touched, in the order it first did, while they are few against the
  // state: update mode emits them and the checkpoint delta writes them without a scan of every
  // group (a per-batch cost proportional to the state). Past a quarter of the groups a scan is
  // as cheap, and the list is dropped for the batch.
  std::vector<key_type> touched_;
  bool touched_complete_ = true;
  std::size_t touched_limit_ = 0;
  // A lower bound of the groups' event-time ends (has_event_time_key): a watermark below it
  // closes nothing, and the batch skips the eviction scan.
  std::int64_t min_end_ = std::numeric_limits<std::int64_t>::max();

  // ---- sliced sliding windows (can_slice && sliced_)
  bool sliced_ = false;
  // Combines whole aggregate states, for the window aggregators.
  struct merge_ops {
    const aggregate_partition* self;
    void merge(state_type& s, const state_type& o) const {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (std::get<I>(self->aggs).merge(std::get<I>(s), std::get<I>(o)), ...);
      }(std::index_sequence_for<Aggs...>{});
    }
    void unmerge(state_type& s, const state_type& o) const
      requires all_invertible
    {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (std::get<I>(self->aggs).unmerge(std::get<I>(s), std::get<I>(o)), ...);
      }(std::index_sequence_for<Aggs...>{});
    }
  };
  using window_aggregator = std::conditional_t<all_invertible, invertible_window<state_type>, daba_lite_window<state_type>>;
  // Per group key (the key with its window element set to 0): the starts of its slices, in
  // order, and in append mode the aggregator of the next windows to close, kept from batch to
  // batch (its slices are copies taken when the windows before closed).
  struct slice_track {
    start_queue starts;
    window_aggregator closing;
    std::int64_t closing_end = std::numeric_limits<std::int64_t>::min();  // slices before it are in `closing`
    bool stale = true;  // a slice in `closing` changed since: rebuild it
    // Adjacent slices with a window between them that holds neither (-1: not counted). With
    // none, the key's windows are one run and counting them needs no scan of the slices.
    std::int64_t gaps = -1;
    std::vector<std::int64_t> dirty;    // scratch: the slices this batch updated
  };
  boost::unordered_flat_map<key_type, slice_track, key_hash> tracks_;
  bool tracks_valid_ = true;
  std::vector<key_type> dirty_;       // slices updated in this batch
  std::vector<output_row> pending_;   // append: windows this batch closes, computed after its rows
  window_aggregator scratch_;
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges_;

  aggregate_partition(std::tuple<Keys...> k, std::tuple<typename Aggs::bound_type...> a)
      : keys(std::move(k)), aggs(std::move(a)) {
    if constexpr (can_slice) sliced_ = std::get<window_key>(keys).sliced();
  }

  // Window geometry of the sliced key: window k is [k * slide + offset, + duration).
  std::int64_t win_length() const { return std::get<window_key>(keys).spec.length.count(); }
  std::int64_t win_slide() const { return std::get<window_key>(keys).spec.slide.count(); }
  std::int64_t win_offset() const { return std::get<window_key>(keys).spec.start_offset.count(); }
  std::int64_t window_start(std::int64_t k) const { return k * win_slide() + win_offset(); }
  std::int64_t last_window_of(std::int64_t slice) const { return floor_div(slice - win_offset(), win_slide()); }
  std::int64_t first_window_of(std::int64_t slice) const {
    return floor_div(slice - win_length() - win_offset(), win_slide()) + 1;
  }
  std::int64_t last_closed_window(std::int64_t watermark) const {  // the last with end <= watermark
    return floor_div(watermark - win_length() - win_offset(), win_slide());
  }
  static key_type track_key(const key_type& k) {
    key_type t = k;
    std::get<window_key>(t) = 0;
    return t;
  }

  std::int64_t event_time_end(const key_type& k) const {
    if constexpr (has_event_time_key) return std::get<event_time_key>(keys).event_time_end(std::get<event_time_key>(k));
    else return 0;
  }

  template <std::size_t I, bool Slice, class F, class... Vs>
  SLUICE_ALWAYS_INLINE void for_each_key(const In& r, F& f, const Vs&... vs) const {
    if constexpr (I == sizeof...(Keys)) {
      f(vs...);
    } else if constexpr (Slice && I == window_key) {
      const std::int64_t slice = std::get<I>(keys).slice_start(r);
      for_each_key<I + 1, Slice>(r, f, vs..., slice);
    } else {
      std::get<I>(keys).for_each(r, [&](const auto& v) SLUICE_ALWAYS_INLINE { for_each_key<I + 1, Slice>(r, f, vs..., v); });
    }
  }

  // Grouped by a tumbling window alone: rows come roughly in event-time order, so most fall in
  // the window of the row before. The batch remembers that window's group and skips the hash
  // and the probe for them; and when the aggregate states are plain values, it sums such a run
  // of rows in a local state (registers, not a store and reload of the group's entry per row)
  // and merges it into the group when the window changes or the batch ends. (Only for a window
  // alone: with more keys the comparison costs more than it saves when keys alternate.)
  // Accepting rows only inserts, so the remembered entry stays valid until the next insertion,
  // which replaces it.
  static constexpr bool cache_last_group = sizeof...(Keys) == 1 && window_key == 0 && !window_may_slide;
  static constexpr bool pre_aggregate_runs =
      cache_last_group && (std::is_trivially_copyable_v<typename Aggs::bound_type::state_type> && ...);
  struct no_run {};
  // The batch's constants and counters, in a local the compiler can keep in registers (see
  // stage_node::run): read through ctx, they would be reloaded after every group update.
  struct batch_counters {
    std::int64_t batch_id = 0;
    std::int64_t watermark = 0;  // for late events: the previous batch's
    bool drop_late = false;
    std::int64_t updated = 0, dropped = 0;
    bool sliced = false;
    group_state* last_group = nullptr;  // cache_last_group: the previous row's group
    std::int64_t last_key = 0;
    [[no_unique_address]] std::conditional_t<pre_aggregate_runs, state_type, no_run> run{};  // not yet in last_group
  };
  batch_counters open_batch(const batch_context& ctx) const {
    return {ctx.batch_id, ctx.watermarks_of(operator_index).for_late_events,
            ctx.mode != output_mode_kind::complete && ctx.has_watermark, 0, 0, sliced_};
  }
  void flush_run(batch_counters& counters) {
    if constexpr (pre_aggregate_runs) {
      if (counters.last_group == nullptr) return;
      merge_ops{this}.merge(counters.last_group->states, counters.run);
      counters.run = state_type{};
    }
  }
  template <class... Vs>
  SLUICE_ALWAYS_INLINE group_state& group_for(batch_counters& counters, const Vs&... key_values) {
    if constexpr (cache_last_group) {
      const std::int64_t k = (static_cast<std::int64_t>(key_values), ...);
      // A hit is a group this batch already touched: the remembered group is the batch's own.
      if (counters.last_group != nullptr && counters.last_key == k) [[likely]] return *counters.last_group;
      flush_run(counters);
      counters.last_key = k;
    }
    auto [it, inserted] = groups.try_emplace(key_type{key_values...});
    return group_found(counters, it, inserted);
  }
  // The same, the key's hash known (the stage's, for its state partition): hashed once a row.
  template <class... Vs>
  SLUICE_ALWAYS_INLINE group_state& group_for_hashed(batch_counters& counters, std::size_t hash, const Vs&... key_values) {
    if constexpr (cache_last_group) return group_for(counters, key_values...);
    key_type k{key_values...};
    auto it = groups.find(prehashed<key_type>{k, hash});
    if (it != groups.end()) [[likely]] return group_found(counters, it, false);
    return group_found(counters, groups.try_emplace(std::move(k)).first, true);
  }
  template <class It>
  SLUICE_ALWAYS_INLINE group_state& group_found(batch_counters& counters, It it, bool inserted) {
    group_state& g = it->second;
    if constexpr (cache_last_group) counters.last_group = &g;
    if constexpr (has_event_time_key) {
      if (inserted) {
        const std::int64_t end = event_time_end(it->first);
        if (end < min_end_) min_end_ = end;
      }
    }
    if (g.updated_in_batch != counters.batch_id) {
      g.updated_in_batch = counters.batch_id;
      ++counters.updated;
      if (touched_complete_) note_touched(it->first);
    }
    return g;
  }
  // Calls f(key, group) for each group the batch updated that is still in the table: from the
  // touched list when it holds them all, else by a scan.
  template <class F>
  void for_each_updated_group(F&& f) const {
    if (touched_complete_) {
      for (const key_type& k : touched_)
        if (const auto it = groups.find(k); it != groups.end()) f(it->first, it->second);
    } else {
      for (const auto& [k, g] : groups)
        if (g.updated_in_batch == batch_) f(k, g);
    }
  }
  [[gnu::noinline]] void note_touched(const key_type& k) {
    if (touched_.size() < touched_limit_) {
      touched_.push_back(k);
    } else {
      touched_complete_ = false;
      touched_.clear();
    }
  }
  void close_batch(batch_counters& c) {
    flush_run(c);
    updated_ += c.updated;
    dropped_ += c.dropped;
  }

  template <class R>
  void accept(batch_context&, const R& r, batch_counters& counters) {
    bool late = false;
    if constexpr (can_slice) {
      if (counters.sliced) {
        late = route<true>(r, counters, [&](const auto&... key_values) SLUICE_ALWAYS_INLINE {
          insert_slice(r, counters, key_values...);
        });
        if (late && late_rows != nullptr) [[unlikely]] late_rows->push_back(r);
        return;
      }
    }
    late = route<false>(r, counters, [&](const auto&... key_values) SLUICE_ALWAYS_INLINE {
      insert(r, counters, 0, key_values...);
    });
    if (late && late_rows != nullptr) [[unlikely]] late_rows->push_back(r);
  }

  // Calls into(key values...) for each group (or, Slice, each slice) the row updates that it
  // is not late for, counting the late ones in `counters`; returns true when the row is late
  // for all of them (sl::late_rows_to takes it). With one slice per row whatever duration /
  // slide is: a slice starting at or after the late-events watermark is only in windows that
  // end after it (the common case); one before it may be in windows closed by an earlier batch
  // (the row is late for those) and in an append-mode aggregator already.
  template <bool Slice, class R, class Into>
  SLUICE_ALWAYS_INLINE bool route(const R& r, batch_counters& counters, Into&& into) const {
    [[maybe_unused]] bool kept = false;  // in a window that is not late (for late_rows)
    [[maybe_unused]] bool all_late = false;
    [[maybe_unused]] const std::int64_t dropped_before = counters.dropped;
    auto one = [&](const auto&... key_values) SLUICE_ALWAYS_INLINE {
      if constexpr (Slice) {
        const std::int64_t slice = std::get<window_key>(std::forward_as_tuple(key_values...));
        if constexpr (has_event_time_key) {
          if (slice < counters.watermark && counters.drop_late) {
            const std::int64_t first = first_window_of(slice), last = last_window_of(slice);
            const std::int64_t late = std::min(last, last_closed_window(counters.watermark)) - first + 1;
            if (late > 0) {
              counters.dropped += late;  // one per (row, window), as the per-window path counts
              if (late == last - first + 1) {
                all_late = true;
                return;
              }
            }
          }
        }
      } else if constexpr (has_event_time_key) {
        if (counters.drop_late) {
          const auto& kv = std::get<event_time_key>(std::forward_as_tuple(key_values...));
          if (std::get<event_time_key>(keys).event_time_end(kv) <= counters.watermark) {
            ++counters.dropped;
            return;
          }
        }
        kept = true;
      }
      into(key_values...);
    };
    for_each_key<0, Slice>(r, one);
    if constexpr (Slice) return all_late;
    else if constexpr (has_event_time_key) return !kept && counters.dropped != dropped_before;
    else return false;
  }

  // The row's update of one group it is not late for (its key's hash known, or 0: not).
  template <bool Hashed = false, class R, class... Vs>
  SLUICE_ALWAYS_INLINE void insert(const R& r, batch_counters& counters, [[maybe_unused]] std::size_t hash,
                                   const Vs&... key_values) {
    group_state* g;
    if constexpr (Hashed) g = &group_for_hashed(counters, hash, key_values...);
    else g = &group_for(counters, key_values...);
    state_type* states = &g->states;
    if constexpr (pre_aggregate_runs) states = &counters.run;
    [&]<std::size_t... I>(std::index_sequence<I...>) SLUICE_ALWAYS_INLINE {
      (std::get<I>(aggs).update(std::get<I>(*states), r), ...);
    }(std::index_sequence_for<Aggs...>{});
  }

  // The row's update of one slice it is not late for (sliced sliding windows).
  template <class R, class... Vs>
  SLUICE_ALWAYS_INLINE void insert_slice(const R& r, batch_counters& counters, const Vs&... key_values) {
    group_state& g = slice_for(counters, key_values...);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(aggs).update(std::get<I>(g.states), r), ...);
    }(std::index_sequence_for<Aggs...>{});
  }
  template <class... Vs>
  SLUICE_ALWAYS_INLINE group_state& slice_for(batch_counters& counters, const Vs&... key_values) {
    const bool straggler = std::get<window_key>(std::forward_as_tuple(key_values...)) < counters.watermark;
    auto [it, inserted] = groups.try_emplace(key_type{key_values...});
    if (inserted || straggler) [[unlikely]]
      note_slice(it->first, inserted);
    group_state& g = it->second;
    if (g.updated_in_batch != counters.batch_id) {
      g.updated_in_batch = counters.batch_id;
      dirty_.push_back(it->first);
    }
    return g;
  }

  // An input partition's partial aggregate of one group (or slice), its rows' update of it:
  // the group is touched, counted and tracked as by insert / insert_slice.
  void merge_partial(batch_counters& counters, const key_type& k, const state_type& partial) {
    std::apply([&](const auto&... key_values) {
      if constexpr (can_slice) {
        if (counters.sliced) {
          merge_ops{this}.merge(slice_for(counters, key_values...).states, partial);
          return;
        }
      }
      group_state& g = group_for(counters, key_values...);
      state_type* states = &g.states;
      if constexpr (pre_aggregate_runs) states = &counters.run;
      merge_ops{this}.merge(*states, partial);
    }, k);
  }

  // A new slice joins its key's ordered list; a change to a slice already copied into the
  // append-mode aggregator makes that aggregator stale.
  [[gnu::noinline]] void note_slice(const key_type& k, bool inserted) {
    const std::int64_t slice = std::get<window_key>(k);
    slice_track& t = tracks_[track_key(k)];
    if (inserted) {
      if (t.starts.empty() || t.starts.back() < slice) {
        if (!t.starts.empty() && t.gaps >= 0) t.gaps += is_gap(t.starts.back(), slice);
        else if (t.starts.empty()) t.gaps = 0;
        t.starts.push_back(slice);
      } else {
        t.starts.insert(std::upper_bound(t.starts.begin(), t.starts.end(), slice), slice);
        t.gaps = -1;
      }
    }
    if (slice < t.closing_end) t.stale = true;
  }

  void rebuild_tracks() {
    tracks_.clear();
    for (const auto& [k, g] : groups) tracks_[track_key(k)].starts.push_back(std::get<window_key>(k));
    for (auto& [k, t] : tracks_) std::sort(t.starts.begin(), t.starts.end());
    tracks_valid_ = true;
  }

  // Append mode, after the batch's rows: the windows [k_from, k_last] this batch's watermark
  // closes. They end after the previous batch's watermark, so the batch's rows count in them.
  void close_windows(std::int64_t k_from, std::int64_t k_last) {
    constexpr std::int64_t none = std::numeric_limits<std::int64_t>::min();
    const merge_ops ops{this};
    for (auto& [tk, t] : tracks_) {
      if (t.starts.empty()) continue;
      std::int64_t k = std::max(first_window_of(t.starts.front()), k_from);
      if (k > k_last) continue;
      if (t.stale) {
        t.closing.clear();
        t.closing_end = none;
        t.stale = false;
      }
      const std::size_t n = t.starts.size();
      std::size_t i = static_cast<std::size_t>(
          std::lower_bound(t.starts.begin(), t.starts.end(), std::max(t.closing_end, window_start(k))) - t.starts.begin());
      key_type probe = tk;
      while (k <= k_last) {
        const std::int64_t ws = window_start(k), we = ws + win_length();
        t.closing.evict_before(ops, ws);
        while (i < n && t.starts[i] < ws) ++i;
        for (; i < n && t.starts[i] < we; ++i) {
          std::get<window_key>(probe) = t.starts[i];
          t.closing.push(ops, t.starts[i], groups.find(probe)->second.states);
        }
        t.closing_end = std::max(t.closing_end, we);
        if (t.closing.empty()) {  // no slice in this window: jump to the next one that has some
          if (i == n) break;
          k = std::max(k + 1, first_window_of(t.starts[i]));
          continue;
        }
        std::get<window_key>(probe) = ws;
        pending_.push_back(make_row(probe, t.closing.query(ops)));
        ++k;
      }
    }
  }

  bool is_gap(std::int64_t a, std::int64_t b) const { return first_window_of(b) > last_window_of(a) + 1; }
  std::int64_t count_gaps(const slice_track& t) const {
    std::int64_t n = 0;
    for (std::size_t i = 1; i < t.starts.size(); ++i) n += is_gap(t.starts[i - 1], t.starts[i]);
    return n;
  }
  // How many windows with index in [k_min, k_max] hold one of the key's slices.
  std::int64_t count_windows(slice_track& t, std::int64_t k_min, std::int64_t k_max) {
    if (t.starts.empty()) return 0;
    if (t.gaps < 0) t.gaps = count_gaps(t);
    if (t.gaps == 0) {
      const std::int64_t lo = std::max(first_window_of(t.starts.front()), k_min);
      const std::int64_t hi = std::min(last_window_of(t.starts.back()), k_max);
      return std::max<std::int64_t>(0, hi - lo + 1);
    }
    window_ranges(t.starts.begin(), t.starts.end(), k_min);
    std::int64_t n = 0;
    for (const auto& [lo, hi] : ranges_) n += std::max<std::int64_t>(0, std::min(hi, k_max) - lo + 1);
    return n;
  }

  // The window index ranges [first, last] (merged, ascending) of the windows from k_min on that
  // contain one of the sorted slice starts.
  template <class It>
  void window_ranges(It b, It e, std::int64_t k_min) {
    ranges_.clear();
    for (; b != e; ++b) {
      const std::int64_t lo = std::max(first_window_of(*b), k_min), hi = last_window_of(*b);
      if (lo > hi) continue;
      if (!ranges_.empty() && lo <= ranges_.back().second + 1) ranges_.back().second = std::max(ranges_.back().second, hi);
      else ranges_.emplace_back(lo, hi);
    }
  }
  std::int64_t windows_in_ranges() const {
    std::int64_t n = 0;
    for (const auto& [lo, hi] : ranges_) n += hi - lo + 1;
    return n;
  }
  // Emits the windows of ranges_ for one key, sweeping its slices once.
  template <class Down>
  void emit_ranges(const key_type& tk, const slice_track& t, Down& down) {
    const merge_ops ops{this};
    scratch_.clear();
    key_type probe = tk;
    const std::size_t n = t.starts.size();
    std::size_t i = 0;
    for (const auto& [lo, hi] : ranges_)
      for (std::int64_t k = lo; k <= hi; ++k) {
        const std::int64_t ws = window_start(k), we = ws + win_length();
        scratch_.evict_before(ops, ws);
        while (i < n && t.starts[i] < ws) ++i;
        for (; i < n && t.starts[i] < we; ++i) {
          std::get<window_key>(probe) = t.starts[i];
          scratch_.push(ops, t.starts[i], groups.find(probe)->second.states);
        }
        std::get<window_key>(probe) = ws;
        down(make_row(probe, scratch_.query(ops)));
      }
  }

  template <class Down>
  void finish_sliced(batch_context& ctx, Down& down) {
    constexpr std::int64_t none = std::numeric_limits<std::int64_t>::min();
    const bool evict = has_event_time_key && ctx.has_watermark && ctx.mode != output_mode_kind::complete;
    const input_watermarks wm = ctx.watermarks_of(operator_index);
    const std::int64_t k_open = evict ? last_closed_window(wm.for_eviction) + 1 : none;  // windows still open
    // Windows the batch's rows were not late for: those closing now count them too.
    const std::int64_t k_counted = evict ? last_closed_window(wm.for_late_events) + 1 : none;
    // The windows closing now: in the state (not late for any batch) and not closed before.
    const std::int64_t k_closing_from =
        std::max(k_counted, last_watermark_ == none ? none : last_closed_window(last_watermark_) + 1);
    if (ctx.mode == output_mode_kind::append && evict)
      close_windows(k_closing_from, last_closed_window(wm.for_eviction));
    // The windows this batch updated: the windows of the slices it touched that count its rows.
    std::vector<std::pair<const key_type*, slice_track*>> touched;
    for (const key_type& k : dirty_) {
      auto it = tracks_.find(track_key(k));
      if (it->second.dirty.empty()) touched.emplace_back(&it->first, &it->second);
      it->second.dirty.push_back(std::get<window_key>(k));
    }
    std::int64_t updated = 0;
    for (auto [tk, t] : touched) {
      std::sort(t->dirty.begin(), t->dirty.end());
      window_ranges(t->dirty.begin(), t->dirty.end(), k_counted);
      updated += windows_in_ranges();
      if (ctx.mode == output_mode_kind::update) emit_ranges(*tk, *t, down);
      t->dirty.clear();
    }
    dirty_.clear();
    if (ctx.mode == output_mode_kind::append)
      for (auto& r : pending_) down(std::move(r));
    pending_.clear();
    std::int64_t removed = 0, total = 0;
    constexpr std::int64_t all = std::numeric_limits<std::int64_t>::max();
    for (auto& [tk, t] : tracks_) {
      if (ctx.mode == output_mode_kind::complete) {
        window_ranges(t.starts.begin(), t.starts.end(), none);
        emit_ranges(tk, t, down);
        total += windows_in_ranges();
        continue;
      }
      if (evict) {  // the windows closing now leave the state, and the slices only they used
        // Every window holding a slice is in the state: a slice's rows were not late for the
        // windows that end after the previous watermark, which the closing ones all do.
        removed += count_windows(t, k_closing_from, k_open - 1);
        key_type probe = tk;
        while (!t.starts.empty() && t.starts.front() + win_length() <= wm.for_eviction) {
          if (t.gaps > 0 && t.starts.size() > 1) t.gaps -= is_gap(t.starts[0], t.starts[1]);
          std::get<window_key>(probe) = t.starts.front();
          groups.erase(probe);
          evicted_.push_back(probe);
          t.starts.pop_front();
        }
      }
      total += count_windows(t, k_open, all);
    }
    if (evict) boost::unordered::erase_if(tracks_, [](const auto& kv) { return kv.second.starts.empty(); });
    last_watermark_ = wm.for_eviction;
    last_metrics.num_rows_total = total;
    last_metrics.num_rows_updated = updated;
    last_metrics.num_rows_removed = removed;
    last_metrics.num_rows_dropped_by_watermark = std::exchange(dropped_, 0);
    updated_ = 0;
    last_metrics.memory_used_bytes = static_cast<std::int64_t>(
        groups.size() * (sizeof(key_type) + sizeof(group_state)) +
        tracks_.size() * (sizeof(key_type) + sizeof(slice_track)) + groups.size() * sizeof(std::int64_t));
  }

  output_row make_row(const key_type& k, const state_type& states) const {
    return [&]<std::size_t... KI, std::size_t... AI>(std::index_sequence<KI...>, std::index_sequence<AI...>) {
      return output_row{{std::get<KI>(keys).output(std::get<KI>(k))}...,
                        {std::get<AI>(aggs).result(std::get<AI>(states))}...};
    }(std::index_sequence_for<Keys...>{}, std::index_sequence_for<Aggs...>{});
  }
  output_row make_row(const key_type& k, const group_state& g) const { return make_row(k, g.states); }

  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    if constexpr (can_slice) {
      if (sliced_) {
        finish_sliced(ctx, down);
        return;
      }
    }
    std::int64_t removed = 0;
    const bool evict = has_event_time_key && ctx.has_watermark && ctx.mode != output_mode_kind::complete;
    const std::int64_t watermark = ctx.watermarks_of(operator_index).for_eviction;
    auto evict_closed = [&](bool emit) {
      if (watermark < min_end_) return;  // no group ends at or before it
      std::int64_t min_left = std::numeric_limits<std::int64_t>::max();
      removed = static_cast<std::int64_t>(boost::unordered::erase_if(groups, [&](const auto& kv) {
        const std::int64_t end = event_time_end(kv.first);
        if (end > watermark) {
          min_left = end < min_left ? end : min_left;
          return false;
        }
        if (emit) down(make_row(kv.first, kv.second));
        evicted_.push_back(kv.first);
        return true;
      }));
      min_end_ = min_left;
    };
    switch (ctx.mode) {
      case output_mode_kind::complete:
        for (const auto& [k, g] : groups) down(make_row(k, g));
        break;
      case output_mode_kind::update:
        for_each_updated_group([&](const key_type& k, const group_state& g) { down(make_row(k, g)); });
        if (evict) evict_closed(false);
        break;
      case output_mode_kind::append:
        if (evict) evict_closed(true);
        break;
    }
    last_watermark_ = watermark;
    last_metrics.num_rows_total = static_cast<std::int64_t>(groups.size());
    last_metrics.num_rows_updated = std::exchange(updated_, 0);
    last_metrics.num_rows_removed = removed;
    last_metrics.num_rows_dropped_by_watermark = std::exchange(dropped_, 0);
    std::int64_t bytes = static_cast<std::int64_t>(groups.size() * (sizeof(key_type) + sizeof(group_state)));
    if constexpr (((!std::is_trivially_copyable_v<typename Aggs::bound_type::state_type>) || ...)) {
      for (const auto& [k, g] : groups)
        [&]<std::size_t... I>(std::index_sequence<I...>) {
          bytes += (static_cast<std::int64_t>(std::get<I>(aggs).memory_bytes(std::get<I>(g.states))) + ... + 0);
        }(std::index_sequence_for<Aggs...>{});
    }
    last_metrics.memory_used_bytes = bytes;
  }

  // A run of a batch starts. A failed run of the same batch is not undone here: the engine
  // reloads the state of the previous batch from the checkpoint first (as Spark reloads its
  // state store's previous version).
  void begin_batch(const batch_context& ctx) {
    batch_ = ctx.batch_id;
    evicted_.clear();
    touched_.clear();
    touched_complete_ = !sliced_;  // the sliced path marks its slices but does not list them
    touched_limit_ = std::max<std::size_t>(1024, groups.size() / 4);
    updated_ = dropped_ = 0;
    if constexpr (can_slice) {
      if (sliced_) {
        dirty_.clear();
        pending_.clear();
        if (!tracks_valid_) rebuild_tracks();
      }
    }
  }

  // Spark's StateStoreSaveExec.shouldRunAnotherBatch: only after a batch has run (its eviction
  // watermark is defined), so a query that has seen no batch yet runs no empty batch at start.
  bool needs_no_data_batch(output_mode_kind mode, std::int64_t new_watermark) const {
    return has_event_time_key && mode != output_mode_kind::complete &&
           last_watermark_ != std::numeric_limits<std::int64_t>::min() && new_watermark > last_watermark_;
  }
  state_operator_metrics metrics() const { return last_metrics; }

  // ---- checkpoints: the delta of a batch is the groups it updated (still present) and the
  // groups it evicted.
  std::string state_signature() const {
    // The binary layout (the sliced one keys groups by slice start, not window start: a
    // checkpoint of one cannot restore the other).
    return boost::json::serialize(state_layout());
  }
  // The keys (window geometry included) and functions the state was built by: a checkpoint
  // made with others holds groups this stage would misread.
  boost::json::object checkpoint_description() const {
    auto o = describe_grouping<Aggs...>("aggregate", keys, aggs);
    o["layout"] = sliced_ ? "window slices" : "groups";
    o["state"] = state_signature();
    return o;
  }
  boost::json::object state_layout() const {
    return keyed_layout(grouping_key_layout<Keys...>(sliced_ ? ".slice_start" : ".start"), aggregate_state_layout<Aggs...>());
  }
  // Whether the delta would be empty: no group updated (and still there), none evicted.
  bool unchanged() const {
    if (!evicted_.empty()) return false;
    if (touched_complete_) {
      for (const key_type& k : touched_)
        if (groups.contains(k)) return false;
      return true;
    }
    for (const auto& [k, g] : groups)
      if (g.updated_in_batch == batch_) return false;
    return true;
  }
  void write_delta(binary_writer& out) const {
    // The updated groups still there; the evicted ones follow as removals.
    std::size_t upserts = 0;
    for_each_updated_group([&](const key_type&, const group_state&) { ++upserts; });
    out.write_size(upserts);
    for_each_updated_group([&](const key_type& k, const group_state& g) {
      out.write(k);
      out.write(g.states);
    });
    out.write_size(evicted_.size());
    for (const auto& k : evicted_) out.write(k);
  }
  void write_snapshot(binary_writer& out) const {
    out.write_size(groups.size());
    for (const auto& [k, g] : groups) {
      out.write(k);
      out.write(g.states);
    }
  }
  void load_snapshot(binary_reader& in) {
    groups.clear();
    min_end_ = std::numeric_limits<std::int64_t>::max();
    read_upserts(in);
    evicted_.clear();
    tracks_valid_ = false;
  }
  void apply_delta(binary_reader& in) {
    read_upserts(in);
    erase_keys<key_type>(in, groups);
    evicted_.clear();
    tracks_valid_ = false;
  }
  void restore_last_batch_watermark(std::int64_t watermark) { last_watermark_ = watermark; }

  // A group from a state written otherwise (one unpartitioned state, or another partition
  // count): into this partition.
  void put(const key_type& k, const state_type& states) {
    if constexpr (has_event_time_key) min_end_ = std::min(min_end_, event_time_end(k));
    groups.insert_or_assign(k, group_state{states});
    tracks_valid_ = false;
  }
  void erase(const key_type& k) {
    groups.erase(k);
    tracks_valid_ = false;
  }

 private:
  void read_upserts(binary_reader& in) {
    const auto n = in.read_size(1);
    groups.reserve(groups.size() + n);
    for (std::size_t i = 0; i < n; ++i) {
      key_type k{};
      group_state g{};
      in.read(k);
      in.read(g.states);
      if constexpr (has_event_time_key) min_end_ = std::min(min_end_, event_time_end(k));
      groups.insert_or_assign(std::move(k), std::move(g));
    }
  }
};

template <class In, class KeyList, class AggList>
struct aggregate_stage;

// The keyed aggregation, Spark's way for a batch given in partitions (partial / final
// HashAggregate with an exchange between them): each input partition (open_batch, accept,
// close_batch, perhaps on its own thread), after the late-row check, on the workers
// aggregates its rows per group into partial aggregates (local::pre_aggregate), else routes
// them, by key hash into batch_context::shuffle_partitions buckets; finish() then runs one
// task per state partition (parallel_for), which merges the partials and applies the rows
// into that partition's groups, in input partition order, and emits and evicts as
// aggregate_partition does. Output: the state partitions' rows in partition order. Each state
// partition is small enough against the whole that its groups stay in cache while its rows
// are applied: the exchange is a radix partition of the batch.
//
// On one thread with a state that fits in a last-level cache (straight_below_groups), rows go
// straight into their partition's table, as before partitions existed; with a larger state,
// through the buckets, one partition or more, whose rows are then applied a bucket at a time
// with their table entries prefetched ahead (apply_prefetched).
//
// Without keys (a global aggregation, sl::aggregate without group_by) the one group lives in
// state partition 0, as Spark plans such an aggregation (AllTuples: one partition): nothing is
// hashed or routed; each input partition aggregates its rows into a local state, merged into
// the group by finish() in input partition order (Spark's partial aggregation).
template <class In, class... Keys, class... Aggs>
struct aggregate_stage<In, std::tuple<Keys...>, std::tuple<Aggs...>> : stateful_control, described_stage {
  using partition = aggregate_partition<In, std::tuple<Keys...>, std::tuple<Aggs...>>;
  static constexpr stage_kind kind = stage_kind::stateful;
  using key_type = typename partition::key_type;
  using state_type = typename partition::state_type;
  using output_row = typename partition::output_row;
  static constexpr bool has_event_time_key = partition::has_event_time_key;
  static constexpr bool can_slice = partition::can_slice;
  static constexpr bool global = sizeof...(Keys) == 0;
  static constexpr bool aggregation = true;  // graph/stages.hpp's is_aggregation
  template <class Q>
  static constexpr bool check_shape() {
    return partition::template check_shape<Q>();
  }
  static constexpr bool stateful_operator = true;
  static constexpr graph_props transform(graph_props p) { return partition::transform(p); }
  // Input partitions may be accepted at once on several threads, except for first() and
  // last(), whose results depend on the order rows arrive in: the engine then feeds the
  // partitions in order.
  static constexpr bool parallel_accept = !(is_arrival_ordered_agg_v<typename Aggs::bound_type> || ...);

  using late_row = In;  // sl::late_rows_to (ops/late_rows.hpp): where rows dropped as late go
  std::vector<In>* late_rows = nullptr;

  std::vector<partition> parts_;
  state_operator_metrics last_metrics{"stateStoreSave"};

  using counters = typename partition::batch_counters;
  struct routed {
    key_type key;
    In row;
  };
  // A group's partial aggregate: an input partition's rows for it, aggregated on its thread.
  struct partial_group {
    key_type key;
    state_type states;
  };
  // What one input partition routed: per state partition, its partial aggregates (of the
  // rows before it stopped pre-aggregating), then its rows after (in arrival order).
  struct exchanged {
    std::size_t index = 0;  // the input partition's: its rows follow those of lower indexes
    std::vector<std::vector<partial_group>> partials;
    std::vector<std::vector<routed>> buckets;
    std::vector<In> late;
    std::int64_t dropped = 0;
  };
  // Routed rows go to their bucket `stage` at a time, through a small contiguous block: written
  // one by one into many growing vectors, whose ends sit at the same offset in their pages
  // when rows spread evenly, the stores of more partitions than a cache set has ways would
  // evict each other's half-written lines (measured: 64 partitions slower than 8).
  struct local {
    counters c;
    exchanged out;
    std::size_t stage = 1;
    std::vector<std::optional<routed>> staged;  // stage slots per state partition
    std::vector<std::uint8_t> filled;
    // One thread and a state that fits in cache: rows go straight to their partition's table
    // (in the same order as through the buckets), all with the counters `c` (the batch's
    // constants, the groups first updated, summed into partition 0's metrics; the window-only
    // key's remembered group, whichever partition's table it is in).
    bool straight = false;
    // Grouped by a window alone (partition::cache_last_group): the previous row's window and
    // its partition, as rows come in runs of one window.
    std::int64_t last_window = 0;
    std::size_t last_partition = std::numeric_limits<std::size_t>::max();
    // global: the input partition's rows aggregated (any: it had some).
    [[no_unique_address]] std::conditional_t<global, state_type, typename partition::no_run> partial{};
    bool any = false;
    std::size_t index = 0;  // the input partition's
    // On the workers: the partition's rows aggregated per group here (Spark's partial
    // aggregation), so that the exchange carries a state per group rather than every row;
    // stopped (pre_aggregate false) when the groups are nearly as many as the rows.
    // The groups in the order the partition first updated them (then the state partitions
    // take them in that order, as they would its rows: the same output order as one thread).
    bool pre_aggregate = false;
    std::size_t seen = 0;  // group updates into `table`
    boost::unordered_flat_map<key_type, std::uint32_t, key_hash> table;  // index in `entries`
    std::vector<partial_group> entries;
  };
  // Pre-aggregation stops when, after this many group updates, the partition's table holds
  // more groups than half of them: with about one row per group, a partial state per row
  // costs more than the row it replaces (Spark's adaptive partial aggregation skip, Velox's
  // abandonPartialAggregation). One check, at this count.
  std::size_t pre_aggregate_check_at = 10'000;
  // The last batch's exchange (tests): partial aggregates and rows it carried.
  std::size_t exchanged_partials = 0, exchanged_rows = 0;
  template <class R>
  SLUICE_ALWAYS_INLINE void pre_aggregate_row(local& l, key_type&& k, const R& r) {
    const auto [it, inserted] = l.table.try_emplace(k, static_cast<std::uint32_t>(l.entries.size()));
    if (inserted) l.entries.push_back({std::move(k), state_type{}});
    state_type& states = l.entries[it->second].states;
    const auto& aggs = parts_.front().aggs;
    [&]<std::size_t... I>(std::index_sequence<I...>) SLUICE_ALWAYS_INLINE {
      (std::get<I>(aggs).update(std::get<I>(states), r), ...);
    }(std::index_sequence_for<Aggs...>{});
    if (++l.seen == pre_aggregate_check_at && l.table.size() * 2 > l.seen) [[unlikely]]
      l.pre_aggregate = false;  // the rows after go as rows
  }
  // Out of the per-row path that is inlined into the source's loop: through the buckets, a row
  // costs a cache miss or more anyway, and the straight path is inlined better without it.
  template <class R>
  [[gnu::noinline]] void stage_row(local& l, std::size_t p, key_type&& k, const R& r) {
    l.staged[p * l.stage + l.filled[p]].emplace(routed{std::move(k), In(r)});
    if (++l.filled[p] == l.stage) flush_staged(l, p);
  }
  void flush_staged(local& l, std::size_t p) {
    auto& bucket = l.out.buckets[p];
    auto* slot = l.staged.data() + p * l.stage;
    for (std::size_t i = 0; i < l.filled[p]; ++i) bucket.push_back(std::move(*slot[i]));
    l.filled[p] = 0;
  }
  copyable_mutex closed_mutex_;
  std::vector<exchanged> closed_;  // the input partitions closed in this batch
  std::vector<std::pair<std::size_t, state_type>> global_partials_;  // global: (input partition, its aggregate)
  // Emptied buckets of earlier batches, kept with their capacity: a batch writes into memory
  // already mapped rather than growing new vectors (a page fault per 4 KiB of rows).
  std::vector<exchanged> spare_;

  aggregate_stage(std::tuple<Keys...> k, std::tuple<typename Aggs::bound_type...> a) {
    parts_.emplace_back(std::move(k), std::move(a));
  }

  void visit(graph_controls& c) { c.add_stateful(this); }

  // A bucket's rows into their partition's table with the table's entries prefetched ahead
  // (detail/flat_map_prefetch.hpp): rows come through the buckets when the state is large,
  // and with about one row per group per batch each row's group is a cache miss; looked up
  // one after another, an out-of-order core keeps only a few of those in flight. Row i's
  // metadata group is prefetched `prefetch_distance` rows before its lookup, its entry half
  // that before (from the tags then in cache). Same rows, same order, same lookups as
  // without: only the hash of each is kept for its lookup.
  static constexpr std::size_t prefetch_distance = 64;
  static constexpr bool prefetch_layout = flat_map_layout_known && !partition::cache_last_group;
  bool prefetch_rows(const partition& part, const counters& c) const {
    if constexpr (!prefetch_layout) return false;
    else {
      if constexpr (can_slice) {
        if (c.sliced) return false;
      }
      return part.groups.size() >= prefetch_above_groups;
    }
  }
  // Below this many groups (about 256 KiB of entries) the partition's table stays in the L2
  // cache: no prefetching.
  std::size_t prefetch_above_groups = std::size_t{1} << 12;
  [[gnu::noinline]] void apply_prefetched(partition& part, counters& c, const std::vector<routed>& rows) {
    if constexpr (prefetch_layout) {
      constexpr std::size_t ahead = prefetch_distance, half = ahead / 2;
      const flat_map_prefetcher pf(part.groups);
      std::size_t hashes[ahead];  // row i's at i % ahead
      const std::size_t n = rows.size();
      const routed* data = rows.data();
      for (std::size_t i = 0; i < n + ahead; ++i) {
        if (i >= ahead) {  // row i - ahead: its lookup (its slot in `hashes` is then free for row i)
          const routed& x = data[i - ahead];
          const std::size_t h = hashes[i % ahead];
          std::apply([&](const auto&... kv) SLUICE_ALWAYS_INLINE { part.template insert<true>(x.row, c, h, kv...); },
                     x.key);
        }
        if (i >= half && i - half < n) pf.entry(hashes[(i - half) % ahead]);
        if (i < n) {
          const std::size_t h = hash_key(data[i].key);
          hashes[i % ahead] = h;
          pf.group(h);
        }
      }
    }
  }

  // On one thread, below this many groups (about 16 MiB of them: within a last-level cache)
  // rows go straight to their partition's table; above, through the buckets (the radix
  // exchange), which then miss the cache less, and whose rows are applied with their entries
  // prefetched: one partition too (docs/performance.md).
  std::size_t straight_below_groups = std::size_t{1} << 18;

  std::size_t partition_of(const key_type& k) const {
    if (global || parts_.size() == 1) return 0;
    if constexpr (can_slice) {  // a key's slices stay together: its windows combine them
      if (parts_.front().sliced_) return state_partition_of(key_hash{}(partition::track_key(k)), parts_.size());
    }
    return state_partition_of(key_hash{}(k), parts_.size());
  }

  local open_batch(const batch_context& ctx, std::size_t index = 0) {
    local l;
    l.index = index;
    if constexpr (global) {
      l.c = parts_.front().open_batch(ctx);
      return l;
    }
    std::size_t groups = 0;
    if (ctx.tasks == nullptr)
      for (const auto& p : parts_) groups += p.groups.size();
    if (ctx.tasks == nullptr && groups < straight_below_groups) {
      for (auto& p : parts_) {  // (one thread: a graph driven by hand may not have called begin_batch)
        p.operator_index = operator_index;
        p.late_rows = late_rows;
      }
      l.straight = true;
    } else {
      {
        std::lock_guard lock(closed_mutex_.m);
        if (!spare_.empty()) {
          l.out = std::move(spare_.back());
          spare_.pop_back();
        }
      }
      l.out.index = index;
      l.out.buckets.resize(parts_.size());
      l.out.partials.resize(parts_.size());
      // On the workers; not for first() / last(), fed in order on the query thread.
      l.pre_aggregate = ctx.tasks != nullptr && parallel_accept;
      // About 16 KiB of slots: they stay in the L1 cache beside the rows being read.
      l.stage = std::clamp<std::size_t>(16384 / (parts_.size() * sizeof(std::optional<routed>)), 2, 16);
      l.staged.resize(parts_.size() * l.stage);
      l.filled.assign(parts_.size(), 0);
    }
    l.c = parts_.front().open_batch(ctx);
    return l;
  }

  template <class R>
  SLUICE_ALWAYS_INLINE void accept(batch_context&, const R& r, local& l) {
    if constexpr (global) {
      const auto& aggs = parts_.front().aggs;
      [&]<std::size_t... I>(std::index_sequence<I...>) SLUICE_ALWAYS_INLINE {
        (std::get<I>(aggs).update(std::get<I>(l.partial), r), ...);
      }(std::index_sequence_for<Aggs...>{});
      l.any = true;
      return;
    }
    auto to_bucket = [&](const auto&... key_values) SLUICE_ALWAYS_INLINE {
      key_type k{key_values...};
      if (l.pre_aggregate) {
        pre_aggregate_row(l, std::move(k), r);
        return;
      }
      std::size_t p, hash = 0;
      if constexpr (partition::cache_last_group) {  // the previous row's window: its partition
        const std::int64_t w = (static_cast<std::int64_t>(key_values), ...);
        if (w != l.last_window || l.last_partition == std::numeric_limits<std::size_t>::max()) [[unlikely]] {
          l.last_window = w;
          l.last_partition = partition_of(k);
        }
        p = l.last_partition;
      } else if constexpr (can_slice) {
        p = partition_of(k);
      } else {  // the hash that places the key places it in its partition's table too
        hash = hash_key(k);
        // (One partition: a constant, so that finding the table does not wait for the hash.)
        p = parts_.size() == 1 ? 0 : state_partition_of(hash, parts_.size());
      }
      if (l.straight) {
        if constexpr (can_slice) {
          if (l.c.sliced) {
            parts_[p].insert_slice(r, l.c, key_values...);
            return;
          }
          parts_[p].insert(r, l.c, 0, key_values...);
        } else {
          parts_[p].template insert<!partition::cache_last_group>(r, l.c, hash, key_values...);
        }
        return;
      }
      stage_row(l, p, std::move(k), r);
    };
    bool late = false;
    if constexpr (can_slice) {
      if (l.c.sliced) late = parts_.front().template route<true>(r, l.c, to_bucket);
      else late = parts_.front().template route<false>(r, l.c, to_bucket);
    } else {
      late = parts_.front().template route<false>(r, l.c, to_bucket);
    }
    if (late && late_rows != nullptr) [[unlikely]] {
      if (!l.straight) l.out.late.push_back(r);
      else late_rows->push_back(r);  // one thread
    }
  }

  void close_batch(local& l) {
    if constexpr (global) {  // the partial aggregate, merged into the one group by finish()
      if (!l.any) return;
      std::lock_guard lock(closed_mutex_.m);
      global_partials_.emplace_back(l.index, std::move(l.partial));
      return;
    }
    if (l.straight) {
      parts_.front().close_batch(l.c);
      return;
    }
    for (std::size_t p = 0; p < l.filled.size(); ++p) flush_staged(l, p);
    for (auto& e : l.entries) l.out.partials[partition_of(e.key)].push_back(std::move(e));
    l.out.dropped = l.c.dropped;
    std::lock_guard lock(closed_mutex_.m);
    closed_.push_back(std::move(l.out));
  }

  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    // In input partition order, whichever closed first: a group's partial aggregates merge in
    // the same order run to run (floating-point sums add alike at a given partitioning), and
    // late rows go out in the order one thread gives.
    std::stable_sort(closed_.begin(), closed_.end(),
                     [](const exchanged& a, const exchanged& b) { return a.index < b.index; });
    if constexpr (global) {
      if (!global_partials_.empty()) {
        std::stable_sort(global_partials_.begin(), global_partials_.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        partition& part = parts_.front();
        counters c = part.open_batch(ctx);
        for (const auto& [i, s] : global_partials_) typename partition::merge_ops{&part}.merge(part.group_for(c).states, s);
        part.close_batch(c);
        global_partials_.clear();
      }
    }
    exchanged_partials = exchanged_rows = 0;
    for (auto& e : closed_) {
      for (const auto& b : e.partials) exchanged_partials += b.size();
      for (const auto& b : e.buckets) exchanged_rows += b.size();
      if (late_rows != nullptr) late_rows->insert(late_rows->end(), e.late.begin(), e.late.end());
      parts_.front().dropped_ += e.dropped;
    }
    auto merge_and_finish = [&](std::size_t p, auto& out) {
      partition& part = parts_[p];
      if (!closed_.empty()) {
        counters c = part.open_batch(ctx);
        auto apply = [&](const routed& x) SLUICE_ALWAYS_INLINE {
          std::apply([&](const auto&... kv) SLUICE_ALWAYS_INLINE {
            if constexpr (can_slice) {
              if (c.sliced) {
                part.insert_slice(x.row, c, kv...);
                return;
              }
            }
            part.insert(x.row, c, 0, kv...);
          }, x.key);
        };
        for (auto& e : closed_) {
          for (const partial_group& x : e.partials[p]) part.merge_partial(c, x.key, x.states);
          if (prefetch_rows(part, c)) apply_prefetched(part, c, e.buckets[p]);
          else
            for (const routed& x : e.buckets[p]) apply(x);
          e.partials[p].clear();  // on this task's thread, not the query's after all tasks
          e.buckets[p].clear();
        }
        part.close_batch(c);
      }
      part.finish(ctx, out);
    };
    if (ctx.tasks == nullptr || parts_.size() == 1) {
      for (std::size_t p = 0; p < parts_.size(); ++p) merge_and_finish(p, down);
    } else {
      std::vector<std::vector<output_row>> out(parts_.size());
      parallel_for(ctx, parts_.size(), [&](std::size_t p) {
        auto into = [&out, p](auto&& r) { out[p].push_back(std::forward<decltype(r)>(r)); };
        merge_and_finish(p, into);
      });
      for (auto& rows : out)
        for (auto& r : rows) down(std::move(r));
    }
    for (auto& e : closed_) {
      for (auto& b : e.partials) b.clear();
      for (auto& b : e.buckets) b.clear();
      e.late.clear();
      e.dropped = 0;
      spare_.push_back(std::move(e));
    }
    closed_.clear();
    last_metrics = state_operator_metrics{"stateStoreSave"};
    for (const auto& part : parts_) {
      last_metrics.num_rows_total += part.last_metrics.num_rows_total;
      last_metrics.num_rows_updated += part.last_metrics.num_rows_updated;
      last_metrics.num_rows_removed += part.last_metrics.num_rows_removed;
      last_metrics.num_rows_dropped_by_watermark += part.last_metrics.num_rows_dropped_by_watermark;
      last_metrics.memory_used_bytes += part.last_metrics.memory_used_bytes;
    }
  }

  // A run of a batch starts: with the batch's number of state partitions (a graph driven by
  // hand may change it; the engine keeps the checkpoint's), the groups moved to theirs.
  void begin_batch(const batch_context& ctx) override {
    const std::size_t n = std::max<std::size_t>(1, ctx.shuffle_partitions);
    if (n != parts_.size()) repartition(n);
    closed_.clear();
    global_partials_.clear();
    for (auto& p : parts_) {
      p.operator_index = operator_index;
      p.late_rows = late_rows;
      p.begin_batch(ctx);
    }
  }

  bool needs_no_data_batch(output_mode_kind mode, std::int64_t new_watermark) const override {
    return parts_.front().needs_no_data_batch(mode, new_watermark);
  }
  state_operator_metrics metrics() const override { return last_metrics; }
  std::string state_signature() const override { return parts_.front().state_signature(); }
  boost::json::object checkpoint_description() const override { return parts_.front().checkpoint_description(); }
  boost::json::object state_layout() const override { return parts_.front().state_layout(); }
  void restore_last_batch_watermark(std::int64_t watermark) override {
    for (auto& p : parts_) p.restore_last_batch_watermark(watermark);
  }

  // ---- checkpoints: one delta and snapshot per state partition (state/<op>/<partition>/),
  // each in the form one unpartitioned state had (which the whole-state calls still read and
  // write: a checkpoint from before partitions restores into them).
  std::size_t state_partitions() const override { return parts_.size(); }
  void reset_partitions(std::size_t n) override {
    parts_ = fresh_partitions(parts_.front(), n);
    closed_.clear();
  }
  void write_partition_delta(std::size_t p, binary_writer& out) const override { parts_[p].write_delta(out); }
  bool partition_unchanged(std::size_t p) const override { return parts_[p].unchanged(); }
  void write_partition_snapshot(std::size_t p, binary_writer& out) const override { parts_[p].write_snapshot(out); }
  void load_partition_snapshot(std::size_t p, binary_reader& in) override {
    if (global && p != 0) return moved_to_partition_zero(in, false);
    parts_[p].load_snapshot(in);
  }
  void apply_partition_delta(std::size_t p, binary_reader& in) override {
    if (global && p != 0) return moved_to_partition_zero(in, true);
    parts_[p].apply_delta(in);
  }

  void write_delta(binary_writer& out) const override {
    std::size_t upserts = 0, removals = 0;
    for (const auto& p : parts_) {
      p.for_each_updated_group([&](const key_type&, const auto&) { ++upserts; });
      removals += p.evicted_.size();
    }
    out.write_size(upserts);
    for (const auto& p : parts_)
      p.for_each_updated_group([&](const key_type& k, const auto& g) {
        out.write(k);
        out.write(g.states);
      });
    out.write_size(removals);
    for (const auto& p : parts_)
      for (const auto& k : p.evicted_) out.write(k);
  }
  void write_snapshot(binary_writer& out) const override {
    std::size_t n = 0;
    for (const auto& p : parts_) n += p.groups.size();
    out.write_size(n);
    for (const auto& p : parts_)
      for (const auto& [k, g] : p.groups) {
        out.write(k);
        out.write(g.states);
      }
  }
  void load_snapshot(binary_reader& in) override {
    reset_partitions(parts_.size());
    read_routed(in, false);
  }
  void apply_delta(binary_reader& in) override { read_routed(in, true); }

 private:
  // Global: sluice before this layout put the one group in the partition its empty key hashed
  // to. A group found in another partition's files moves to partition 0 (partitions restore in
  // order: 0's snapshot first), and the next save writes a snapshot of every partition, so the
  // old partition's files no longer hold it.
  void moved_to_partition_zero(binary_reader& in, bool removals) {
    if (read_routed(in, removals) != 0) full_snapshot_due = true;
  }
  // Returns the number of groups read (upserted or removed).
  std::size_t read_routed(binary_reader& in, bool removals) {
    const auto n = in.read_size(1);
    for (std::size_t i = 0; i < n; ++i) {
      key_type k{};
      state_type s{};
      in.read(k);
      in.read(s);
      parts_[partition_of(k)].put(k, s);
    }
    if (!removals) return n;
    const auto r = in.read_size(1);
    for (std::size_t i = 0; i < r; ++i) {
      key_type k{};
      in.read(k);
      parts_[partition_of(k)].erase(k);
    }
    return n + r;
  }
  std::vector<partition> fresh_partitions(const partition& proto, std::size_t n) const {
    std::vector<partition> fresh;
    fresh.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      fresh.emplace_back(proto.keys, proto.aggs);
      fresh.back().operator_index = operator_index;
      fresh.back().late_rows = late_rows;
      fresh.back().last_watermark_ = proto.last_watermark_;
    }
    return fresh;
  }
  // The groups into n partitions; when there are some, the next checkpoint writes each
  // partition's snapshot, as their files so far (if any) are of another layout.
  void repartition(std::size_t n) {
    std::vector<partition> old = std::move(parts_);
    parts_ = fresh_partitions(old.front(), n);
    for (const auto& p : old)
      for (const auto& [k, g] : p.groups) {
        parts_[partition_of(k)].put(k, g.states);
        full_snapshot_due = true;
      }
    closed_.clear();
  }
};

template <fixed_string Name, class Bound>
struct named_bound_agg {
  static constexpr auto name = Name;
  using bound_type = Bound;
};

// Stage: aggregate_stage, or another keyed aggregation over the same bound keys and functions
// (the session windows' stage).
template <class In, class Up, template <class, class, class> class Stage = aggregate_stage, class... Keys, class... Aggs>
auto make_aggregate_stage(const std::tuple<Keys...>& keys, const std::tuple<Aggs...>& aggs) {
  using stage = Stage<In, std::tuple<bound_key<In, Keys, Up>...>,
                                std::tuple<named_bound_agg<Aggs::name, decltype(std::declval<const Aggs&>().spec.template bind<In>())>...>>;
  return stage(std::apply([](const auto&... k) { return std::tuple<bound_key<In, Keys, Up>...>(bound_key<In, Keys, Up>(k)...); }, keys),
               std::apply([](const auto&... a) { return std::make_tuple(a.spec.template bind<In>()...); }, aggs));
}
}  // namespace detail

}  // namespace sluice

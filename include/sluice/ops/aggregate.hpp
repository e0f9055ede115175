// sl::group_by(keys...) | sl::aggregate(functions...): a keyed streaming aggregation.
// Keys are sl::col<"name">, sl::window(...), or sl::expr<"name">(f). The output row holds the
// keys then the aggregates, each named. Emission and eviction follow Spark's output modes:
//   append   emits a group once, when its window end <= watermark, then evicts it
//   update   emits the groups changed in this batch, then evicts those with end <= watermark
//   complete emits every group every batch; nothing is evicted or dropped
// A row whose window end (or event time) is <= the batch watermark is dropped and counted,
// except in complete mode.
#pragma once
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <typeinfo>
#include <type_traits>
#include <utility>
#include <vector>

#include "../checkpoint/serialize.hpp"
#include "../detail/config.hpp"
#include "../detail/hash.hpp"
#include "../detail/traits.hpp"
#include <limits>
#include "../pipeline.hpp"
#include "aggregates.hpp"
#include "column.hpp"
#include "expr.hpp"
#include "window.hpp"

namespace sluice {
namespace detail {

// ---------------------------------------------------------------- bound grouping keys
// Up is the upstream node: its compile-time properties say whether a key carries event time.
// A key is kept in the group table as `stored_type` (a window as its start alone) and turned
// into the output column's `value_type` when the group is emitted.
template <class In, class K, class Up>
struct bound_key;

template <class T>
inline constexpr bool is_member_pointer_key_v = std::is_member_object_pointer_v<T>;

template <class In, fixed_string N, class Up>
struct bound_key<In, col_t<N>, Up> {
  static_assert(has_column<In, N>, "sluice::group_by: sl::col<\"name\">: the row type has no column of this name");
  using value_type = column_type_t<In, N>;
  using stored_type = value_type;
  static constexpr auto name = N;
  static constexpr bool is_event_time = std::is_same_v<value_type, timestamp> && Up::props.has_watermark &&
                                        Up::props.watermark_column == N.view();
  explicit bound_key(col_t<N>) {}
  template <class F>
  SLUICE_ALWAYS_INLINE void for_each(const In& r, F&& f) const {
    f(get<N>(r));
  }
  const value_type& output(const stored_type& v) const { return v; }
  std::int64_t event_time_end(const stored_type& v) const {
    if constexpr (std::is_same_v<value_type, timestamp>) return v.micros;
    else return 0;
  }
};

template <class In, class Sel, class Up>
struct bound_key<In, window_spec<Sel>, Up> {
  using selector = bound_selector<In, Sel>;
  static_assert(std::is_same_v<std::remove_cvref_t<typename selector::value_type>, timestamp>,
                "sluice::window: the time column must be of type sluice::timestamp");
  using value_type = time_window;
  using stored_type = std::int64_t;  // the window's start: its end follows from the length
  static constexpr fixed_string name{"window"};
  // Carries the watermark when a watermark is upstream on this column (or on a column we
  // cannot name, such as a member pointer, which the engine cannot tell apart).
  static constexpr bool is_event_time = Up::props.has_watermark && (!selector::named || Up::props.watermark_column.empty() ||
                                                                 Up::props.watermark_column == selector::name);
  selector sel;
  window_spec<Sel> spec;
  explicit bound_key(window_spec<Sel> s) : sel(s.column), spec(std::move(s)) {}
  template <class F>
  SLUICE_ALWAYS_INLINE void for_each(const In& r, F&& f) const {
    spec.for_each_window_start(sel(r).micros, f);
  }
  time_window output(std::int64_t start) const {
    return {timestamp{start}, timestamp{start + spec.length.count()}};
  }
  std::int64_t event_time_end(std::int64_t start) const { return start + spec.length.count(); }
};

template <class In, fixed_string N, class Fn, class Up>
struct bound_key<In, expr_t<N, Fn>, Up> {
  static_assert(std::is_invocable_v<const Fn&, const In&>,
                "sluice::expr<\"name\">(f): f must be callable with the row type (const Row&)");
  using value_type = std::remove_cvref_t<std::invoke_result_t<const Fn&, const In&>>;
  using stored_type = value_type;
  static constexpr auto name = N;
  static constexpr bool is_event_time = false;
  Fn f;
  explicit bound_key(expr_t<N, Fn> e) : f(std::move(e.f)) {}
  template <class F>
  SLUICE_ALWAYS_INLINE void for_each(const In& r, F&& fn) const {
    fn(std::invoke(f, r));
  }
  const value_type& output(const stored_type& v) const { return v; }
  std::int64_t event_time_end(const stored_type&) const { return 0; }
};

template <class K>
constexpr bool valid_key() {
  return !is_member_pointer_key_v<K>;
}

// ---------------------------------------------------------------- the stage
template <class In, class KeyList, class AggList>
struct aggregate_stage;

template <class In, class... Keys, class... Aggs>
struct aggregate_stage<In, std::tuple<Keys...>, std::tuple<Aggs...>> : stateful_control {
  static constexpr stage_kind kind = stage_kind::stateful;

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

  static constexpr graph_props transform(graph_props p) {
    p.aggregated = true;
    p.aggregation_watermarked = has_event_time_key;
    p.stateful_stages += 1;
    p.watermark_column = {};
    return p;
  }

  struct group_state {
    state_type states{};
    std::int64_t updated_in_batch = -1;
  };

  std::tuple<Keys...> keys;
  std::tuple<typename Aggs::bound_type...> aggs;
  boost::unordered_flat_map<key_type, group_state, key_hash> groups;
  state_operator_metrics last_metrics{"stateStoreSave"};
  std::int64_t batch_ = -1;  // the batch under way (or last run)
  std::int64_t updated_ = 0, dropped_ = 0;
  std::int64_t last_watermark_ = std::numeric_limits<std::int64_t>::min();
  // Groups the batch evicted: with the groups it updated, the batch's checkpoint delta.
  std::vector<key_type> evicted_;

  aggregate_stage(std::tuple<Keys...> k, std::tuple<typename Aggs::bound_type...> a)
      : keys(std::move(k)), aggs(std::move(a)) {}

  void visit(graph_controls& c) { c.stateful.push_back(this); }

  std::int64_t event_time_end(const key_type& k) const {
    if constexpr (has_event_time_key) return std::get<event_time_key>(keys).event_time_end(std::get<event_time_key>(k));
    else return 0;
  }

  template <std::size_t I, class F, class... Vs>
  SLUICE_ALWAYS_INLINE void for_each_key(const In& r, F& f, const Vs&... vs) {
    if constexpr (I == sizeof...(Keys)) {
      f(vs...);
    } else {
      std::get<I>(keys).for_each(r, [&](const auto& v) SLUICE_ALWAYS_INLINE { for_each_key<I + 1>(r, f, vs..., v); });
    }
  }

  // The batch's constants and counters, in a local the compiler can keep in registers (see
  // stage_node::run): read through ctx, they would be reloaded after every group update.
  struct batch_counters {
    std::int64_t batch_id = 0, watermark = 0;
    bool drop_late = false;
    std::int64_t updated = 0, dropped = 0;
  };
  batch_counters open_batch(const batch_context& ctx) const {
    return {ctx.batch_id, ctx.watermark, ctx.mode != output_mode_kind::complete && ctx.has_watermark, 0, 0};
  }
  void close_batch(const batch_counters& c) {
    updated_ += c.updated;
    dropped_ += c.dropped;
  }

  template <class R>
  void accept(batch_context&, const R& r, batch_counters& counters) {
    auto update_group = [&](const auto&... key_values) SLUICE_ALWAYS_INLINE {
      if constexpr (has_event_time_key) {
        if (counters.drop_late) {
          const auto& kv = std::get<event_time_key>(std::forward_as_tuple(key_values...));
          if (std::get<event_time_key>(keys).event_time_end(kv) <= counters.watermark) {
            ++counters.dropped;
            return;
          }
        }
      }
      auto [it, inserted] = groups.try_emplace(key_type{key_values...});
      group_state& g = it->second;
      if (g.updated_in_batch != counters.batch_id) {
        g.updated_in_batch = counters.batch_id;
        ++counters.updated;
      }
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (std::get<I>(aggs).update(std::get<I>(g.states), r), ...);
      }(std::index_sequence_for<Aggs...>{});
    };
    for_each_key<0>(r, update_group);
  }

  output_row make_row(const key_type& k, const group_state& g) const {
    return [&]<std::size_t... KI, std::size_t... AI>(std::index_sequence<KI...>, std::index_sequence<AI...>) {
      return output_row{{std::get<KI>(keys).output(std::get<KI>(k))}...,
                        {std::get<AI>(aggs).result(std::get<AI>(g.states))}...};
    }(std::index_sequence_for<Keys...>{}, std::index_sequence_for<Aggs...>{});
  }

  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    std::int64_t removed = 0;
    const bool evict = has_event_time_key && ctx.has_watermark && ctx.mode != output_mode_kind::complete;
    auto evict_closed = [&](bool emit) {
      removed = static_cast<std::int64_t>(boost::unordered::erase_if(groups, [&](const auto& kv) {
        if (event_time_end(kv.first) > ctx.watermark) return false;
        if (emit) down(make_row(kv.first, kv.second));
        evicted_.push_back(kv.first);
        return true;
      }));
    };
    switch (ctx.mode) {
      case output_mode_kind::complete:
        for (const auto& [k, g] : groups) down(make_row(k, g));
        break;
      case output_mode_kind::update:
        for (const auto& [k, g] : groups)
          if (g.updated_in_batch == ctx.batch_id) down(make_row(k, g));
        if (evict) evict_closed(false);
        break;
      case output_mode_kind::append:
        if (evict) evict_closed(true);
        break;
    }
    last_watermark_ = ctx.watermark;
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
  void begin_batch(const batch_context& ctx) override {
    batch_ = ctx.batch_id;
    evicted_.clear();
    updated_ = dropped_ = 0;
  }

  // Spark's StateStoreSaveExec.shouldRunAnotherBatch: only after a batch has run (its eviction
  // watermark is defined), so a query that has seen no batch yet runs no empty batch at start.
  bool needs_no_data_batch(output_mode_kind mode, std::int64_t new_watermark) const override {
    return has_event_time_key && mode != output_mode_kind::complete &&
           last_watermark_ != std::numeric_limits<std::int64_t>::min() && new_watermark > last_watermark_;
  }
  state_operator_metrics metrics() const override { return last_metrics; }

  // ---- checkpoints: the delta of a batch is the groups it updated (still present) and the
  // groups it evicted.
  std::string state_signature() const override {
    return std::string("aggregate<") + typeid(key_type).name() + "," + typeid(state_type).name() + ">";
  }
  void write_delta(binary_writer& out) const override {
    std::size_t upserts = 0;
    for (const auto& [k, g] : groups) upserts += g.updated_in_batch == batch_;
    out.write_size(upserts);
    for (const auto& [k, g] : groups) {
      if (g.updated_in_batch != batch_) continue;
      out.write(k);
      out.write(g.states);
    }
    out.write_size(evicted_.size());
    for (const auto& k : evicted_) out.write(k);
  }
  void write_snapshot(binary_writer& out) const override {
    out.write_size(groups.size());
    for (const auto& [k, g] : groups) {
      out.write(k);
      out.write(g.states);
    }
  }
  void load_snapshot(binary_reader& in) override {
    groups.clear();
    read_upserts(in);
    evicted_.clear();
  }
  void apply_delta(binary_reader& in) override {
    read_upserts(in);
    const auto removals = in.read_size(1);
    for (std::size_t i = 0; i < removals; ++i) {
      key_type k{};
      in.read(k);
      groups.erase(k);
    }
    evicted_.clear();
  }
  void restore_last_batch_watermark(std::int64_t watermark) override { last_watermark_ = watermark; }

 private:
  void read_upserts(binary_reader& in) {
    const auto n = in.read_size(1);
    groups.reserve(groups.size() + n);
    for (std::size_t i = 0; i < n; ++i) {
      key_type k{};
      group_state g{};
      in.read(k);
      in.read(g.states);
      groups.insert_or_assign(std::move(k), std::move(g));
    }
  }
};

template <fixed_string Name, class Bound>
struct named_bound_agg {
  static constexpr auto name = Name;
  using bound_type = Bound;
};

template <class In, class Up, class... Keys, class... Aggs>
auto make_aggregate_stage(const std::tuple<Keys...>& keys, const std::tuple<Aggs...>& aggs) {
  using stage = aggregate_stage<In, std::tuple<bound_key<In, Keys, Up>...>,
                                std::tuple<named_bound_agg<Aggs::name, decltype(std::declval<const Aggs&>().spec.template bind<In>())>...>>;
  return stage(std::apply([](const auto&... k) { return std::tuple<bound_key<In, Keys, Up>...>(bound_key<In, Keys, Up>(k)...); }, keys),
               std::apply([](const auto&... a) { return std::make_tuple(a.spec.template bind<In>()...); }, aggs));
}
}  // namespace detail

// ---------------------------------------------------------------- descriptors
template <class... Aggs>
struct aggregate_t {
  using is_stage_descriptor = void;
  std::tuple<Aggs...> aggs;
  // Without group_by: one global group.
  static constexpr bool apply_to_node = true;
  template <class Up>
  auto apply(Up&& up) && {
    using U = std::remove_cvref_t<Up>;
    auto stage = detail::make_aggregate_stage<typename U::row_type, U>(std::tuple<>{}, aggs);
    return stage_node<U, decltype(stage)>{std::forward<Up>(up), std::move(stage)};
  }
};

template <class... Aggs>
aggregate_t<Aggs...> aggregate(Aggs... functions) {
  static_assert(sizeof...(Aggs) > 0, "sluice::aggregate: give at least one aggregate function, e.g. sl::count()");
  return {{std::move(functions)...}};
}

// A stream grouped by keys, waiting for sl::aggregate(...).
template <class Up, class... Keys>
struct grouped_node {
  Up up;
  std::tuple<Keys...> keys;
};

template <class... Keys>
struct group_by_t {
  using is_stage_descriptor = void;
  static constexpr bool apply_to_node = true;
  std::tuple<Keys...> keys;
  template <class Up>
  auto apply(Up&& up) && {
    return grouped_node<std::remove_cvref_t<Up>, Keys...>{std::forward<Up>(up), std::move(keys)};
  }
};

// (auto: the body, and so the key check, is instantiated at the call, before any use of the
// result can fail first.)
template <class... Keys>
auto group_by(Keys&&... keys) {
  static_assert((detail::valid_key<std::decay_t<Keys>>() && ...),
                "sluice::group_by: a member pointer key has no name for the output row; write sl::col<\"field\"> "
                "(or sl::expr<\"name\">(f) for a computed key)");
  return group_by_t<std::decay_t<Keys>...>{{std::forward<Keys>(keys)...}};
}

template <class Up, class... Keys, class... Aggs>
auto operator|(grouped_node<Up, Keys...>&& g, const aggregate_t<Aggs...>& a) {  // also a reused sl::aggregate(...)
  if constexpr ((detail::valid_key<Keys>() && ...)) {  // else group_by has already said why
    auto stage = detail::make_aggregate_stage<typename Up::row_type, Up>(g.keys, a.aggs);
    return stage_node<Up, decltype(stage)>{std::move(g.up), std::move(stage)};
  }
}

namespace detail {
template <class T>
inline constexpr bool is_aggregate_v = false;
template <class... A>
inline constexpr bool is_aggregate_v<aggregate_t<A...>> = true;
}  // namespace detail

// (auto, not void: a deduced return type instantiates the body, so this assertion is the
// first error rather than one about using the void result.)
template <class Up, class... Keys, class Next>
  requires(!detail::is_aggregate_v<std::remove_cvref_t<Next>>)
auto operator|(grouped_node<Up, Keys...>&&, Next&&) {
  static_assert(detail::always_false_v<Next>,
                "sluice::group_by must be followed by sl::aggregate(...): a grouped stream is not a stream yet");
}

}  // namespace sluice

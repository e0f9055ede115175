// Arbitrary keyed state, as Spark's groupByKey(...).mapGroupsWithState / flatMapGroupsWithState:
//
//   events | sl::group_by_key(sl::col<"user_id">)
//          | sl::map_groups_with_state<Session>(f, sl::group_state_timeout::processing_time)
//
// Each batch calls f(key, values, state) once per key with rows in the batch (values: a
// std::span of them, in arrival order), then once per key whose timeout fired (no values,
// state.has_timed_out()). f's state is a sl::group_state<State>; State is a described struct
// (or any type the checkpoint's binary form knows), kept per key with its timeout.
//   map_groups_with_state<State>(f[, timeout])            f returns one output row per call
//   flat_map_groups_with_state<State>(f, mode[, timeout]) f returns a range (or optional) of rows
//   flat_map_groups_with_state<State, Out>(f, mode[, timeout])
//                                                         f(key, values, state, emit) calls emit(Out)
// `mode` (sl::output_mode::append or update) is the operator's output mode, which sl::start
// checks against the query's as Spark does. The key is the column's value for one key
// column, a std::tuple of them for several.
#pragma once
#include <boost/mp11/algorithm.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <algorithm>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "../codec/state_layout.hpp"
#include "../codec/binary.hpp"
#include "../detail/hash.hpp"
#include "../detail/traits.hpp"
#include "../engine/control.hpp"
#include "../graph/node.hpp"
#include "column.hpp"
#include "flat_map.hpp"
#include "group_state.hpp"
#include "watermark.hpp"

namespace sluice {
namespace detail {

template <class In, class... Sels>
struct group_key_of {
  using tuple_type = std::tuple<std::remove_cvref_t<typename bound_selector<In, Sels>::value_type>...>;
  // What f receives: the value for one key column, the tuple for several.
  using user_type = std::conditional_t<sizeof...(Sels) == 1, std::tuple_element_t<0, tuple_type>, tuple_type>;
};

// What a stage of this operator is, at compile time.
template <class State, class Out, bool IsMap, bool Callback, output_mode_kind OpMode, group_state_timeout_kind Timeout>
struct group_state_traits {
  using state_type = State;
  using output_row = Out;
  static constexpr bool is_map = IsMap;
  static constexpr bool callback = Callback;
  static constexpr output_mode_kind op_mode = OpMode;
  static constexpr group_state_timeout_kind timeout = Timeout;
};

// [flat_]map_groups_with_state stages, and those of the kind map_groups_with_state.
template <class S>
struct is_group_state : std::bool_constant<requires { requires S::group_state_stage_tag; }> {};
template <class S>
struct is_map_groups_with_state : std::bool_constant<requires { requires S::group_state_stage_tag && S::map_kind; }> {};

// rule: Spark's UnsupportedOperationChecker rules for [flat]MapGroupsWithState, checked by each
// such stage S of the query.
template <class Q, class S>
constexpr bool check_group_state_shape() {
  using all = typename Q::stages;
  constexpr bool aggregated = any_stage<all, is_aggregation>;
  constexpr bool is_map = S::map_kind;
  constexpr bool update_mode = !is_map && S::operator_mode == output_mode_kind::update;
  constexpr bool append_mode = !is_map && S::operator_mode == output_mode_kind::append;
  // The first group state of the query says what is wrong with several.
  constexpr bool first = count_stages<typename Q::before, is_group_state> == 0;
  // Each rule is checked only while the ones before it hold: one error per query.
  constexpr bool ok0 = true;
  constexpr bool ok1 = ok0 && (!(is_map && aggregated));
  static_assert(!ok0 || ok1,
                "sluice rule [map-groups-with-state-aggregation]: map_groups_with_state is not supported with "
                "aggregation on a stream (Spark: mapGroupsWithState is not supported with aggregation on a streaming "
                "DataFrame/Dataset); use flat_map_groups_with_state in append mode before the aggregation");
  constexpr bool ok2 = ok1 && (!(is_map && Q::mode != output_mode_kind::update));
  static_assert(!ok1 || ok2,
                "sluice rule [map-groups-with-state-output-mode]: map_groups_with_state needs output_mode::update "
                "(Spark: mapGroupsWithState is not supported with Append/Complete output mode); use "
                "flat_map_groups_with_state(f, sl::output_mode::append) for an append-mode query");
  constexpr bool ok3 = ok2 && (!(first && count_stages<all, is_group_state> >= 2 &&
                  (is_map || update_mode || Q::mode != output_mode_kind::append)));
  static_assert(!ok2 || ok3,
                "sluice rule [multiple-groups-with-state]: several [flat_]map_groups_with_state in one query need "
                "all to be flat_map_groups_with_state in append mode, and the query in output_mode::append (Spark: "
                "multiple mapGroupsWithStates are not supported; multiple flatMapGroupsWithStates only all in append)");
  constexpr bool ok4 = ok3 && (!(update_mode && !aggregated && Q::mode != output_mode_kind::update));
  static_assert(!ok3 || ok4,
                "sluice rule [flat-map-groups-with-state-output-mode]: flat_map_groups_with_state in update mode needs "
                "the query in output_mode::update (Spark: flatMapGroupsWithState in update mode is not supported with "
                "Append/Complete output mode)");
  constexpr bool ok5 = ok4 && (!(append_mode && !aggregated && Q::mode != output_mode_kind::append));
  static_assert(!ok4 || ok5,
                "sluice rule [flat-map-groups-with-state-output-mode]: flat_map_groups_with_state in append mode needs "
                "the query in output_mode::append (Spark: flatMapGroupsWithState in append mode is not supported with "
                "Update/Complete output mode), unless an aggregation follows it");
  constexpr bool ok6 = ok5 && (!(update_mode && aggregated));
  static_assert(!ok5 || ok6,
                "sluice rule [flat-map-groups-with-state-aggregation]: flat_map_groups_with_state in update mode is not "
                "supported with aggregation on a stream (Spark's rule); declare it with sl::output_mode::append");
  constexpr bool ok7 = ok6 && (!(!is_map && any_stage<typename Q::before, is_aggregation> && !any_stage<all, is_map_groups_with_state>));
  static_assert(!ok6 || ok7,
                "sluice rule [flat-map-groups-with-state-aggregation]: flat_map_groups_with_state is not supported "
                "after an aggregation on a stream (Spark: flatMapGroupsWithState in append mode is not supported after "
                "aggregation)");
  constexpr bool ok8 = ok7 && (!(S::timeout == group_state_timeout_kind::event_time && !any_stage<typename Q::before, is_watermark>));
  static_assert(!ok7 || ok8,
                "sluice rule [group-state-event-time-needs-watermark]: the event-time timeout of "
                "[flat_]map_groups_with_state needs sl::with_watermark before it (Spark: Watermark must be specified in "
                "the query ... for using event-time timeout in a [map|flatMap]GroupsWithState)");
  return ok8;
}

template <class State, class In, class KeySels, class Out, class F, class Traits>
struct group_state_stage;

template <class State, class In, class... Sels, class Out, class F, class Traits>
struct group_state_stage<State, In, std::tuple<Sels...>, Out, F, Traits> : stateful_control, described_stage {
  static constexpr stage_kind kind = stage_kind::stateful;
  using output_row = Out;
  using key_type = typename group_key_of<In, Sels...>::tuple_type;
  using user_key = typename group_key_of<In, Sels...>::user_type;
  static constexpr auto timeout = Traits::timeout;

  static constexpr bool group_state_stage_tag = true;  // is_group_state
  static constexpr bool map_kind = Traits::is_map;
  static constexpr output_mode_kind operator_mode = Traits::op_mode;
  static constexpr bool stateful_operator = true;
  static constexpr bool event_time_group_state = timeout == group_state_timeout_kind::event_time;
  template <class Q>
  static constexpr bool check_shape() {
    if constexpr (check_group_state_shape<Q, group_state_stage>()) return check_chained_stateful<Q>();
    else return false;  // one error: the chained rules only when the group state's hold
  }
  static constexpr graph_props transform(graph_props p) {
    p.watermark_column = {};  // f's output is opaque
    return p;
  }

  // The stored state of a key: its value (none after a remove() that kept a timeout) and its
  // timeout timestamp, as Spark's state row (state object, timeoutTimestamp).
  struct entry {
    std::optional<State> value;
    std::int64_t timeout_us = no_timeout_timestamp;
  };

  // Set by the binder: whether a watermark is upstream, and (event_time_ below) how to read the
  // event-time column it is on (null when unknown: a member-pointer watermark, or lost behind a map).
  bool watermark_present;
  std::tuple<bound_selector<In, Sels>...> keys;
  F f;
  boost::unordered_flat_map<key_type, entry, key_hash> states_;

  // The batch: its rows grouped by key at finish().
  boost::unordered_flat_map<key_type, std::uint32_t, key_hash> batch_index_;
  std::vector<key_type> batch_keys_;
  std::vector<In> rows_;
  std::vector<std::uint32_t> row_group_;
  std::vector<In> sorted_;
  std::vector<key_type> touched_;  // keys written or removed by the batch: its checkpoint delta
  using late_row = In;  // sl::late_rows_to (ops/late_rows.hpp): where rows dropped as late go
  std::vector<In>* late_rows = nullptr;
  std::int64_t dropped_ = 0;
  // A lower bound of the stored timeouts: an idle query asks needs_no_data_batch_at every few
  // milliseconds, which must not scan every key.
  std::int64_t min_timeout_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t last_watermark_ = std::numeric_limits<std::int64_t>::min();
  state_operator_metrics last_metrics{"flatMapGroupsWithState"};

  group_state_stage(bool wm, std::tuple<bound_selector<In, Sels>...> k, F fn)
      : watermark_present(wm), keys(std::move(k)), f(std::move(fn)) {}

  void visit(graph_controls& c) { c.add_stateful(this); }
  // The keys, the timeout kind and the state type: a checkpoint made with others is refused.
  boost::json::object checkpoint_description() const override {
    boost::json::array ks;
    std::apply([&](const auto&... k) {
      ((ks.push_back(boost::json::string(std::decay_t<decltype(k)>::named ? std::string(std::decay_t<decltype(k)>::name)
                                                                           : std::string("<computed>")))), ...);
    }, keys);
    return {{"operator", "flatMapGroupsWithState"},
            {"keys", std::move(ks)},
            {"timeout", std::string(to_string(timeout))},
            {"state", state_signature()}};
  }
  // A key's value: the user's state (absent: removed) and its timeout (microseconds).
  boost::json::object state_layout() const override {
    std::vector<std::string> names;
    std::apply([&](const auto&... k) {
      (names.push_back(std::decay_t<decltype(k)>::named ? std::string(std::decay_t<decltype(k)>::name) : "key" + std::to_string(names.size())), ...);
    }, keys);
    return keyed_layout(named_tuple_layout<key_type>(names),
                        struct_layout({{"state", binary_layout<std::optional<State>>()}, {"timeoutUs", "long"}}));
  }

  key_type key_of(const In& r) const {
    return std::apply([&](const auto&... s) { return key_type{s(r)...}; }, keys);
  }
  static const user_key& user_key_of(const key_type& k) {
    if constexpr (sizeof...(Sels) == 1) return std::get<0>(k);
    else return k;
  }

  std::int64_t (*event_time_)(const In&) = nullptr;

  void begin_batch(const batch_context&) override {
    batch_index_.clear();
    batch_keys_.clear();
    rows_.clear();
    row_group_.clear();
    touched_.clear();
    dropped_ = 0;
  }

  template <class R>
  void accept(batch_context& ctx, R&& r) {
    // Spark filters rows older than the watermark only under an event-time timeout.
    if constexpr (timeout == group_state_timeout_kind::event_time) {
      if (event_time_ != nullptr && ctx.has_watermark && event_time_(r) <= late_events_watermark(ctx, operator_index)) {
        ++dropped_;
        if (late_rows != nullptr) late_rows->emplace_back(std::forward<R>(r));
        return;
      }
    }
    auto [it, inserted] = batch_index_.try_emplace(key_of(r), static_cast<std::uint32_t>(batch_keys_.size()));
    if (inserted) batch_keys_.push_back(it->first);
    row_group_.push_back(it->second);
    rows_.push_back(std::forward<R>(r));
  }

  template <class Down>
  void call(const batch_context& ctx, const key_type& k, std::span<const In> values, bool timed_out, Down& down,
            std::int64_t& updated) {
    auto found = states_.find(k);
    const std::int64_t prior_timeout = found == states_.end() ? no_timeout_timestamp : found->second.timeout_us;
    group_state<State> gs(found == states_.end() ? std::nullopt : found->second.value, timeout,
                          ctx.batch_timestamp.micros, watermark_present, eviction_watermark(ctx, operator_index), timed_out);
    const user_key& uk = user_key_of(k);
    if constexpr (Traits::is_map) {
      down(std::invoke(f, uk, values, gs));
    } else if constexpr (Traits::callback) {
      std::invoke(f, uk, values, gs, down);
    } else {
      auto&& produced = std::invoke(f, uk, values, gs);
      if constexpr (is_optional_v<std::remove_cvref_t<decltype(produced)>>) {
        if (produced) down(std::move(*produced));
      } else {
        for (auto&& o : produced) down(std::forward<decltype(o)>(o));
      }
    }
    // Spark's InputProcessor: remove the state row when removed without a timeout; otherwise
    // write it when the value or the timeout changed.
    if (gs.removed_ && gs.timeout_us_ == no_timeout_timestamp) {
      if (found != states_.end()) states_.erase(found);
      touched_.push_back(k);
      ++updated;  // Spark counts a removal among the updated rows (numUpdatedStateRows)
    } else if (gs.updated_ || gs.removed_ || gs.timeout_us_ != prior_timeout) {
      if (gs.timeout_us_ != no_timeout_timestamp && gs.timeout_us_ < min_timeout_) min_timeout_ = gs.timeout_us_;
      entry e{std::move(gs.value_), gs.timeout_us_};
      if (found != states_.end()) found->second = std::move(e);
      else states_.emplace(k, std::move(e));
      touched_.push_back(k);
      ++updated;
    }
  }

  std::int64_t timeout_threshold(const batch_context& ctx) const {
    if constexpr (timeout == group_state_timeout_kind::processing_time) return ctx.batch_timestamp.micros;
    else return eviction_watermark(ctx, operator_index);
  }

  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    std::int64_t updated = 0;
    // Group the batch's rows by key (a counting sort: stable, so values keep arrival order).
    const std::size_t groups = batch_keys_.size();
    std::vector<std::uint32_t> start(groups + 1, 0);
    for (auto g : row_group_) ++start[g + 1];
    for (std::size_t g = 0; g < groups; ++g) start[g + 1] += start[g];
    sorted_.clear();
    sorted_.reserve(rows_.size());
    if (!rows_.empty()) {
      std::vector<std::uint32_t> pos(start.begin(), start.end() - 1);
      std::vector<std::uint32_t> order(rows_.size());
      for (std::size_t i = 0; i < rows_.size(); ++i) order[pos[row_group_[i]]++] = static_cast<std::uint32_t>(i);
      for (auto i : order) sorted_.push_back(std::move(rows_[i]));
    }
    for (std::size_t g = 0; g < groups; ++g)
      call(ctx, batch_keys_[g], std::span<const In>(sorted_.data() + start[g], start[g + 1] - start[g]), false, down,
           updated);
    // Then the keys whose timeout fired, without values (keys with rows were called above and
    // their timeouts reset).
    if constexpr (timeout != group_state_timeout_kind::none) {
      if (timeout == group_state_timeout_kind::processing_time || ctx.has_watermark) {
        const std::int64_t threshold = timeout_threshold(ctx);
        std::vector<key_type> due;
        std::int64_t min_left = std::numeric_limits<std::int64_t>::max();
        for (const auto& [k, e] : states_) {
          if (e.timeout_us == no_timeout_timestamp) continue;
          if (e.timeout_us < threshold && !batch_index_.contains(k)) due.push_back(k);
          else min_left = std::min(min_left, e.timeout_us);
        }
        min_timeout_ = min_left;  // the calls below lower it for the timeouts they set
        for (const auto& k : due) call(ctx, k, std::span<const In>(), true, down, updated);
      }
    }
    rows_.clear();
    sorted_.clear();
    last_watermark_ = eviction_watermark(ctx, operator_index);
    last_metrics.num_rows_total = static_cast<std::int64_t>(states_.size());
    last_metrics.num_rows_updated = updated;
    last_metrics.num_rows_removed = 0;  // Spark's operator reports removals as updates
    last_metrics.num_rows_dropped_by_watermark = dropped_;
    last_metrics.memory_used_bytes = static_cast<std::int64_t>(states_.size() * (sizeof(key_type) + sizeof(entry)));
  }

  // Spark's FlatMapGroupsWithStateExec.shouldRunAnotherBatch, for event-time timeouts: after a
  // batch has run, when the watermark moved.
  bool needs_no_data_batch(output_mode_kind, std::int64_t new_watermark) const override {
    if constexpr (timeout == group_state_timeout_kind::event_time)
      return last_watermark_ != std::numeric_limits<std::int64_t>::min() && new_watermark > last_watermark_;
    else return false;
  }
  // Processing-time timeouts: Spark runs a batch at every trigger; sluice only when a timeout
  // would fire at that batch's timestamp (the same output, without empty batches).
  bool needs_no_data_batch_at(timestamp batch_timestamp) const override {
    if constexpr (timeout == group_state_timeout_kind::processing_time) return min_timeout_ < batch_timestamp.micros;
    else return false;
  }
  state_operator_metrics metrics() const override { return last_metrics; }

  // ---- checkpoints: a key's state and timeout; the delta is the keys the batch wrote, then
  // those it removed.
  std::string state_signature() const override { return boost::json::serialize(state_layout()); }
  void write_entry(binary_writer& out, const key_type& k, const entry& e) const {
    out.write(k);
    out.write(e.value);
    out.write(e.timeout_us);
  }
  void write_delta(binary_writer& out) const override {
    std::size_t upserts = 0;
    for (const auto& k : touched_) upserts += states_.contains(k);
    out.write_size(upserts);
    for (const auto& k : touched_)
      if (auto it = states_.find(k); it != states_.end()) write_entry(out, k, it->second);
    out.write_size(touched_.size() - upserts);
    for (const auto& k : touched_)
      if (!states_.contains(k)) out.write(k);
  }
  void write_snapshot(binary_writer& out) const override {
    out.write_size(states_.size());
    for (const auto& [k, e] : states_) write_entry(out, k, e);
  }
  void load_snapshot(binary_reader& in) override {
    states_.clear();
    min_timeout_ = std::numeric_limits<std::int64_t>::max();
    read_upserts(in);
  }
  void apply_delta(binary_reader& in) override {
    read_upserts(in);
    erase_keys<key_type>(in, states_);
  }
  void restore_last_batch_watermark(std::int64_t watermark) override { last_watermark_ = watermark; }

 private:
  void read_upserts(binary_reader& in) {
    const auto n = in.read_size(1);
    for (std::size_t i = 0; i < n; ++i) {
      key_type k{};
      entry e;
      in.read(k);
      in.read(e.value);
      in.read(e.timeout_us);
      if (e.timeout_us != no_timeout_timestamp) min_timeout_ = std::min(min_timeout_, e.timeout_us);
      states_.insert_or_assign(std::move(k), std::move(e));
    }
  }
};

// The event-time column's reader, when the upstream watermark names a column of In.
template <class In, class Up>
constexpr auto event_time_reader() -> std::int64_t (*)(const In&) {
  if constexpr (record<In> && Up::props.has_watermark && !Up::props.watermark_column.empty()) {
    constexpr std::size_t i = column_index<In>(Up::props.watermark_column);
    if constexpr (i < column_count_v<In>) {
      using C = boost::mp11::mp_at_c<columns_of<In>, i>;
      if constexpr (std::is_same_v<typename C::type, timestamp>)
        return [](const In& r) { return get<C::name>(r).micros; };
      else return nullptr;
    } else {
      return nullptr;
    }
  } else {
    return nullptr;
  }
}
}  // namespace detail

// ---------------------------------------------------------------- descriptors
// F is called as f(key, std::span<const Row> values, sl::group_state<State>& state).
template <class F, class Key, class Row, class State>
concept group_state_function = std::is_invocable_v<F&, const Key&, std::span<const Row>, group_state<State>&>;

template <class State, class Out, class F, class Traits>
struct groups_with_state_t {
  using is_stage_descriptor = void;
  F f;
};

// A stream grouped by key, waiting for map_groups_with_state / flat_map_groups_with_state
// (Spark's KeyValueGroupedDataset).
template <class Up, class... Sels>
struct key_grouped_node {
  using is_pending_node = void;  // completed by pipe_into (graph/pipe.hpp)
  Up up;
  std::tuple<Sels...> keys;
};

template <class... Sels>
struct group_by_key_t {
  using is_stage_descriptor = void;
  static constexpr bool apply_to_node = true;
  std::tuple<Sels...> keys;
  template <class Up>
  auto apply(Up&& up) && {
    return key_grouped_node<std::remove_cvref_t<Up>, Sels...>{std::forward<Up>(up), std::move(keys)};
  }
};

// Keys: sl::col<"name">, a member pointer, or a function of the row (Spark's groupByKey(func)).
template <class... Sels>
group_by_key_t<detail::selector_t<Sels>...> group_by_key(Sels&&... keys) {
  static_assert(sizeof...(Sels) > 0, "sluice::group_by_key: give at least one key");
  return {{detail::to_selector(std::forward<Sels>(keys))...}};
}

template <class State, class F, group_state_timeout_kind T = group_state_timeout_kind::none>
auto map_groups_with_state(F&& f, group_state_timeout_tag<T> = {}) {
  return groups_with_state_t<State, void, std::decay_t<F>,
                             detail::group_state_traits<State, void, true, false, output_mode_kind::update, T>>{
      std::forward<F>(f)};
}

// (The mode is sl::output_mode::append or ::update, taken by its kind: the engine's tag types
// are a layer above the operators.)
template <class State, class Out = void, class F, class ModeTag, group_state_timeout_kind T = group_state_timeout_kind::none>
  requires requires { { ModeTag::value } -> std::convertible_to<output_mode_kind>; }
auto flat_map_groups_with_state(F&& f, ModeTag, group_state_timeout_tag<T> = {}) {
  constexpr output_mode_kind M = ModeTag::value;
  static_assert(M != output_mode_kind::complete,
                "sluice::flat_map_groups_with_state: the operator's output mode is output_mode::append or "
                "output_mode::update (Spark: 'The output mode of function should be append or update')");
  return groups_with_state_t<State, Out, std::decay_t<F>,
                             detail::group_state_traits<State, Out, false, !std::is_void_v<Out>, M, T>>{std::forward<F>(f)};
}

namespace detail {
// The output row: what f returns (map), the element of the range it returns (flat), or Out.
template <class Traits, class F, class Key, class In, class State>
constexpr auto group_state_output() {
  if constexpr (Traits::callback) {
    return std::type_identity<typename Traits::output_row>{};
  } else if constexpr (!group_state_function<F, Key, In, State>) {
    return std::type_identity<void>{};  // reported by the binder's static_assert
  } else {
    using P = std::remove_cvref_t<std::invoke_result_t<F&, const Key&, std::span<const In>, group_state<State>&>>;
    if constexpr (Traits::is_map) return std::type_identity<P>{};
    else if constexpr (iterable<P> || is_optional_v<P>) return std::type_identity<std::remove_cvref_t<typename produced_row<P>::type>>{};
    else return std::type_identity<void>{};
  }
}

template <class Up, class... Sels, class State, class Out, class F, class Traits>
auto bind_groups_with_state(key_grouped_node<Up, Sels...>&& g, groups_with_state_t<State, Out, F, Traits>&& d) {
  using In = typename Up::row_type;
  using key = typename group_key_of<In, Sels...>::user_type;
  if constexpr (Traits::callback) {
    static_assert(std::is_invocable_v<F&, const key&, std::span<const In>, group_state<State>&, emit_probe_fn<Out>&>,
                  "sluice::flat_map_groups_with_state<State, Out>: f must be callable as f(const Key&, "
                  "std::span<const Row> values, sl::group_state<State>&, emit) and call emit(Out)");
  } else {
    static_assert(group_state_function<F, key, In, State>,
                  "sluice::[flat_]map_groups_with_state: f must be callable as f(const Key& key, std::span<const Row> "
                  "values, sl::group_state<State>& state); Key is the key column's type (a std::tuple for several)");
  }
  using O = typename decltype(group_state_output<Traits, F, key, In, State>())::type;
  static_assert(Traits::callback || !group_state_function<F, key, In, State> || !std::is_void_v<O>,
                "sluice::[flat_]map_groups_with_state: map_groups_with_state's f must return the output row, "
                "flat_map_groups_with_state's a range (or std::optional) of output rows (or write "
                "flat_map_groups_with_state<State, Out>(f, ...) with f(key, values, state, emit))");
  constexpr bool callable = [] {
    if constexpr (Traits::callback)
      return std::is_invocable_v<F&, const key&, std::span<const In>, group_state<State>&, emit_probe_fn<Out>&>;
    else
      return group_state_function<F, key, In, State>;
  }();
  if constexpr (callable && !std::is_void_v<O>) {
    using stage_t = group_state_stage<State, In, std::tuple<Sels...>, O, F, Traits>;
    stage_t stage(Up::props.has_watermark,
                  std::apply([](auto&... s) { return std::tuple<bound_selector<In, Sels>...>(bound_selector<In, Sels>(s)...); },
                             g.keys),
                  std::move(d.f));
    stage.event_time_ = event_time_reader<In, Up>();
    return stage_node<Up, stage_t>{std::move(g.up), std::move(stage)};
  } else {
    return std::move(g.up);  // after the error: the stream before group_by_key, adding none
  }
}
}  // namespace detail

template <class Up, class... Sels, class State, class Out, class F, class Traits>
auto pipe_into(key_grouped_node<Up, Sels...>&& g, groups_with_state_t<State, Out, F, Traits> d) {
  return detail::bind_groups_with_state(std::move(g), std::move(d));
}

namespace detail {
template <class T>
inline constexpr bool is_groups_with_state_v = false;
template <class S, class O, class F, class T>
inline constexpr bool is_groups_with_state_v<groups_with_state_t<S, O, F, T>> = true;
}  // namespace detail

namespace detail {
// Other operators a stream grouped by key takes (sl::transform_with_state specializes it).
template <class T>
inline constexpr bool takes_key_grouped_v = false;
}  // namespace detail

template <class Up, class... Sels, class Next>
  requires(!detail::is_groups_with_state_v<std::remove_cvref_t<Next>> &&
           !detail::takes_key_grouped_v<std::remove_cvref_t<Next>>)
auto pipe_into(key_grouped_node<Up, Sels...>&& g, Next&&) {
  static_assert(detail::always_false_v<Next>,
                "sluice::group_by_key must be followed by sl::map_groups_with_state or "
                "sl::flat_map_groups_with_state: a stream grouped by key is not a stream yet");
  return std::move(g.up);  // after the error: the stream before group_by_key, adding none
}

}  // namespace sluice

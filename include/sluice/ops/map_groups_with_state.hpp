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
#include "state_partitions.hpp"
#include "watermark.hpp"

namespace sluice {
namespace detail {

template <class In, class... Sels>
struct group_key_of {
  using tuple_type = std::tuple<std::remove_cvref_t<typename bound_selector<In, Sels>::value_type>...>;
  // What f receives: the value for one key column, the tuple for several (no key: reported by
  // group_by_key).
  using user_type = typename std::conditional_t<sizeof...(Sels) == 1, std::tuple_element<0, tuple_type>,
                                                std::type_identity<tuple_type>>::type;
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

  // Where a key first appeared in the batch: the calls with rows emit in this order, as on one thread.
  using rank_type = arrival_rank;
  // The state in batch_context::shuffle_partitions partitions by key hash (Spark's state per
  // shuffle partition): one partition's keys, and its part of the batch (its rows grouped by
  // key at finish, and what its calls emitted).
  struct part {
    boost::unordered_flat_map<key_type, entry, key_hash> states;
    std::vector<key_type> touched;  // keys written or removed by the batch: its checkpoint delta
    // A lower bound of the stored timeouts: an idle query asks needs_no_data_batch_at every few
    // milliseconds, which must not scan every key.
    std::int64_t min_timeout = std::numeric_limits<std::int64_t>::max();
    boost::unordered_flat_map<key_type, std::uint32_t, key_hash> batch_index;
    std::vector<key_type> batch_keys;
    std::vector<rank_type> batch_ranks;  // per key of the batch
    std::vector<In> rows;
    std::vector<std::uint32_t> row_group;
    std::vector<In> sorted;
    std::int64_t updated = 0;
    ranked_output<Out> out;  // what the calls emitted

    void add(key_type k, In&& r, rank_type rank) {
      auto [it, inserted] = batch_index.try_emplace(std::move(k), static_cast<std::uint32_t>(batch_keys.size()));
      if (inserted) {
        batch_keys.push_back(it->first);
        batch_ranks.push_back(rank);
      }
      row_group.push_back(it->second);
      rows.push_back(std::move(r));
    }
    void clear_batch() {
      batch_index.clear();
      batch_keys.clear();
      batch_ranks.clear();
      rows.clear();
      row_group.clear();
      sorted.clear();
      touched.clear();
      updated = 0;
      out.clear();
    }
  };
  std::vector<part> parts_ = std::vector<part>(1);
  // Input partitions are taken at once (parallel_accept): each routes its rows to their state
  // partition (routed_rows); finish groups each state partition's rows by key, input partition
  // by input partition in their order, and calls f per key in a task: f sees a key's rows in
  // the order one thread gives. It may be called for keys of different state partitions at
  // once (Spark's tasks do the same). Without workers rows go straight to their partition.
  static constexpr bool parallel_accept = true;
  using batch_rows = ranked_rows<key_type, In, In>;
  using routed = ranked_row<key_type, In>;
  using local = typename batch_rows::local;
  batch_rows routed_;

  using late_row = In;  // sl::late_rows_to (ops/late_rows.hpp): where rows dropped as late go
  std::vector<In>* late_rows = nullptr;
  std::int64_t dropped_ = 0;
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
  std::size_t partition_of(const key_type& k) const {
    return parts_.size() == 1 ? 0 : state_partition_of(key_hash{}(k), parts_.size());
  }

  std::int64_t (*event_time_)(const In&) = nullptr;

  // A run of a batch starts: with the batch's number of state partitions (a graph driven by
  // hand may change it; the engine keeps the checkpoint's), the keys moved to theirs.
  void begin_batch(const batch_context& ctx) override {
    const std::size_t n = std::max<std::size_t>(1, ctx.shuffle_partitions);
    if (n != parts_.size()) repartition(n);
    for (auto& pt : parts_) pt.clear_batch();
    routed_.closed.clear();
    dropped_ = 0;
  }

  // index: the input partition's (its rows come after those of lower ones).
  local open_batch(const batch_context& ctx, std::size_t index = 0) {
    return batch_rows::open(ctx.tasks == nullptr, index, parts_.size());
  }
  void close_batch(local& l) { routed_.close(l); }

  template <class R>
  void accept(batch_context& ctx, R&& r, local& l) {
    // Spark filters rows older than the watermark only under an event-time timeout.
    if constexpr (timeout == group_state_timeout_kind::event_time) {
      if (event_time_ != nullptr && ctx.has_watermark && event_time_(r) <= late_events_watermark(ctx, operator_index)) {
        batch_rows::drop_late(l, dropped_, late_rows, std::forward<R>(r));
        return;
      }
    }
    key_type k = key_of(r);
    const std::size_t p = partition_of(k);
    if (l.straight) parts_[p].add(std::move(k), In(std::forward<R>(r)), l.next());
    else l.buckets[p].push_back(routed{std::move(k), In(std::forward<R>(r)), l.next()});
  }

  template <class Emit>
  void call(const batch_context& ctx, part& pt, const key_type& k, std::span<const In> values, bool timed_out,
            Emit& emit) {
    auto found = pt.states.find(k);
    const std::int64_t prior_timeout = found == pt.states.end() ? no_timeout_timestamp : found->second.timeout_us;
    group_state<State> gs(found == pt.states.end() ? std::nullopt : found->second.value, timeout,
                          ctx.batch_timestamp.micros, watermark_present, eviction_watermark(ctx, operator_index), timed_out);
    const user_key& uk = user_key_of(k);
    if constexpr (Traits::is_map) {
      emit(std::invoke(f, uk, values, gs));
    } else if constexpr (Traits::callback) {
      std::invoke(f, uk, values, gs, emit);
    } else {
      auto&& produced = std::invoke(f, uk, values, gs);
      if constexpr (is_optional_v<std::remove_cvref_t<decltype(produced)>>) {
        if (produced) emit(std::move(*produced));
      } else {
        for (auto&& o : produced) emit(std::forward<decltype(o)>(o));
      }
    }
    // Spark's InputProcessor: remove the state row when removed without a timeout; otherwise
    // write it when the value or the timeout changed.
    if (gs.removed_ && gs.timeout_us_ == no_timeout_timestamp) {
      if (found != pt.states.end()) pt.states.erase(found);
      pt.touched.push_back(k);
      ++pt.updated;  // Spark counts a removal among the updated rows (numUpdatedStateRows)
    } else if (gs.updated_ || gs.removed_ || gs.timeout_us_ != prior_timeout) {
      if (gs.timeout_us_ != no_timeout_timestamp && gs.timeout_us_ < pt.min_timeout) pt.min_timeout = gs.timeout_us_;
      entry e{std::move(gs.value_), gs.timeout_us_};
      if (found != pt.states.end()) found->second = std::move(e);
      else pt.states.emplace(k, std::move(e));
      pt.touched.push_back(k);
      ++pt.updated;
    }
  }

  std::int64_t timeout_threshold(const batch_context& ctx) const {
    if constexpr (timeout == group_state_timeout_kind::processing_time) return ctx.batch_timestamp.micros;
    else return eviction_watermark(ctx, operator_index);
  }

  // One state partition's part of the batch: its routed rows grouped by key, f called per key
  // with them, then per key whose timeout fired; what f emits kept in pt.out.
  void finish_part(batch_context& ctx, part& pt, std::size_t p) {
    routed_.each(p, [&pt](routed& x) { pt.add(std::move(x.key), std::move(x.row), x.rank); });
    // Group the batch's rows by key (a counting sort: stable, so values keep arrival order).
    const std::size_t groups = pt.batch_keys.size();
    std::vector<std::uint32_t> start(groups + 1, 0);
    for (auto g : pt.row_group) ++start[g + 1];
    for (std::size_t g = 0; g < groups; ++g) start[g + 1] += start[g];
    pt.sorted.clear();
    pt.sorted.reserve(pt.rows.size());
    if (!pt.rows.empty()) {
      std::vector<std::uint32_t> pos(start.begin(), start.end() - 1);
      std::vector<std::uint32_t> order(pt.rows.size());
      for (std::size_t i = 0; i < pt.rows.size(); ++i) order[pos[pt.row_group[i]]++] = static_cast<std::uint32_t>(i);
      for (auto i : order) pt.sorted.push_back(std::move(pt.rows[i]));
    }
    auto emit = [&pt](auto&& o) { pt.out.rows.emplace_back(std::forward<decltype(o)>(o)); };
    for (std::size_t g = 0; g < groups; ++g)
      pt.out.record(pt.batch_ranks[g], [&] {
        call(ctx, pt, pt.batch_keys[g], std::span<const In>(pt.sorted.data() + start[g], start[g + 1] - start[g]),
             false, emit);
      });
    pt.out.end_calls();
    // Then the keys whose timeout fired, without values (keys with rows were called above and
    // their timeouts reset).
    if constexpr (timeout != group_state_timeout_kind::none) {
      if (timeout == group_state_timeout_kind::processing_time || ctx.has_watermark) {
        const std::int64_t threshold = timeout_threshold(ctx);
        std::vector<key_type> due;
        std::int64_t min_left = std::numeric_limits<std::int64_t>::max();
        for (const auto& [k, e] : pt.states) {
          if (e.timeout_us == no_timeout_timestamp) continue;
          if (e.timeout_us < threshold && !pt.batch_index.contains(k)) due.push_back(k);
          else min_left = std::min(min_left, e.timeout_us);
        }
        pt.min_timeout = min_left;  // the calls below lower it for the timeouts they set
        for (const auto& k : due) call(ctx, pt, k, std::span<const In>(), true, emit);
      }
    }
    pt.rows.clear();
    pt.sorted.clear();
  }

  // Each state partition in a task (when there are workers). What the calls with rows emitted
  // goes down in the order their keys first appeared in the batch, as on one thread; then what
  // the timeouts emitted, partition by partition.
  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    dropped_ += routed_.order(late_rows);
    if (ctx.tasks == nullptr || parts_.size() == 1) {
      for (std::size_t p = 0; p < parts_.size(); ++p) finish_part(ctx, parts_[p], p);
    } else {
      parallel_for(ctx, parts_.size(), [&](std::size_t p) { finish_part(ctx, parts_[p], p); });
    }
    routed_.closed.clear();
    std::vector<ranked_output<Out>*> outs;
    for (auto& pt : parts_) outs.push_back(&pt.out);
    emit_ranked(outs, down);
    std::int64_t updated = 0, total = 0;
    for (auto& pt : parts_) {
      updated += pt.updated;
      total += static_cast<std::int64_t>(pt.states.size());
    }
    last_watermark_ = eviction_watermark(ctx, operator_index);
    last_metrics.num_rows_total = total;
    last_metrics.num_rows_updated = updated;
    last_metrics.num_rows_removed = 0;  // Spark's operator reports removals as updates
    last_metrics.num_rows_dropped_by_watermark = dropped_;
    last_metrics.memory_used_bytes = total * static_cast<std::int64_t>(sizeof(key_type) + sizeof(entry));
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
    if constexpr (timeout == group_state_timeout_kind::processing_time) {
      for (const auto& pt : parts_)
        if (pt.min_timeout < batch_timestamp.micros) return true;
      return false;
    } else {
      return false;
    }
  }
  state_operator_metrics metrics() const override { return last_metrics; }

  // ---- checkpoints: a key's state and timeout; the delta is the keys the batch wrote, then
  // those it removed. One delta and snapshot per state partition (state/<op>/<partition>/),
  // each in the form the whole state had before partitions, which the whole-state calls still
  // read and write (a checkpoint from before restores into them).
  std::string state_signature() const override { return boost::json::serialize(state_layout()); }
  void write_entry(binary_writer& out, const key_type& k, const entry& e) const {
    out.write(k);
    out.write(e.value);
    out.write(e.timeout_us);
  }
  // parts: the partitions written, as one state.
  void write_delta_of(binary_writer& out, std::span<const part> parts) const {
    std::size_t upserts = 0, touched = 0;
    for (const auto& pt : parts) {
      touched += pt.touched.size();
      for (const auto& k : pt.touched) upserts += pt.states.contains(k);
    }
    out.write_size(upserts);
    for (const auto& pt : parts)
      for (const auto& k : pt.touched)
        if (auto it = pt.states.find(k); it != pt.states.end()) write_entry(out, k, it->second);
    out.write_size(touched - upserts);
    for (const auto& pt : parts)
      for (const auto& k : pt.touched)
        if (!pt.states.contains(k)) out.write(k);
  }
  void write_snapshot_of(binary_writer& out, std::span<const part> parts) const {
    std::size_t n = 0;
    for (const auto& pt : parts) n += pt.states.size();
    out.write_size(n);
    for (const auto& pt : parts)
      for (const auto& [k, e] : pt.states) write_entry(out, k, e);
  }
  void write_delta(binary_writer& out) const override { write_delta_of(out, parts_); }
  void write_snapshot(binary_writer& out) const override { write_snapshot_of(out, parts_); }
  void load_snapshot(binary_reader& in) override {
    reset_partitions(parts_.size());
    read_upserts(in, [this](const key_type& k) -> part& { return parts_[partition_of(k)]; });
  }
  void apply_delta(binary_reader& in) override {
    read_upserts(in, [this](const key_type& k) -> part& { return parts_[partition_of(k)]; });
    const auto n = in.read_size(1);
    for (std::size_t i = 0; i < n; ++i) {
      key_type k{};
      in.read(k);
      parts_[partition_of(k)].states.erase(k);
    }
  }
  std::size_t state_partitions() const override { return parts_.size(); }
  void reset_partitions(std::size_t n) override {
    parts_.assign(n, part{});
    routed_.closed.clear();
  }
  void write_partition_delta(std::size_t p, binary_writer& out) const override {
    write_delta_of(out, std::span<const part>(&parts_[p], 1));
  }
  // A partition with no key written or removed writes no delta (the commit records how many each has).
  bool partition_unchanged(std::size_t p) const override { return parts_[p].touched.empty(); }
  void write_partition_snapshot(std::size_t p, binary_writer& out) const override {
    write_snapshot_of(out, std::span<const part>(&parts_[p], 1));
  }
  void load_partition_snapshot(std::size_t p, binary_reader& in) override {
    parts_[p] = part{};
    read_upserts(in, [&](const key_type&) -> part& { return parts_[p]; });
  }
  void apply_partition_delta(std::size_t p, binary_reader& in) override {
    read_upserts(in, [&](const key_type&) -> part& { return parts_[p]; });
    erase_keys<key_type>(in, parts_[p].states);
  }
  void restore_last_batch_watermark(std::int64_t watermark) override { last_watermark_ = watermark; }

 private:
  template <class PartFor>
  void read_upserts(binary_reader& in, PartFor&& part_for) {
    const auto n = in.read_size(1);
    for (std::size_t i = 0; i < n; ++i) {
      key_type k{};
      entry e;
      in.read(k);
      in.read(e.value);
      in.read(e.timeout_us);
      part& pt = part_for(k);
      if (e.timeout_us != no_timeout_timestamp) pt.min_timeout = std::min(pt.min_timeout, e.timeout_us);
      pt.states.insert_or_assign(std::move(k), std::move(e));
    }
  }
  // The keys into n partitions; when there are some, the next checkpoint writes each
  // partition's snapshot, as their files so far (if any) are of another layout.
  void repartition(std::size_t n) {
    std::vector<part> old = std::move(parts_);
    parts_.assign(n, part{});
    for (auto& o : old)
      for (auto& [k, e] : o.states) {
        part& pt = parts_[partition_of(k)];
        if (e.timeout_us != no_timeout_timestamp) pt.min_timeout = std::min(pt.min_timeout, e.timeout_us);
        pt.states.emplace(k, std::move(e));
        full_snapshot_due = true;
      }
    routed_.closed.clear();
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
  if constexpr (sizeof...(Sels) == 0) return std::move(g.up);  // group_by_key() reported it, adding none
  else return detail::bind_groups_with_state(std::move(g), std::move(d));
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

// sl::session_window(column, gap) as a group_by key: Spark's session_window. A row at event
// time t opens the session [t, t + gap); sessions of the same other keys merge when they
// overlap or touch (a session starting exactly where another ends joins it, as Spark's
// MergingSessionsIterator merges when start <= the current end), across batches too: the
// state holds each key's open sessions. The gap is a duration, or a function of the row
// returning one (Spark's dynamic gap); a row whose gap is <= 0 is left out.
//
//   events | sl::with_watermark(sl::col<"timestamp">, 30s)
//          | sl::group_by(sl::session_window(sl::col<"timestamp">, 10s), sl::col<"user">)
//          | sl::aggregate(sl::count(), sl::sum(sl::col<"value">))
//   // row: session_window (a time_window), user, count, sum(value)
//
// Output modes, as Spark: append (with the watermark on the session's time column) emits a
// session once, when its end <= the watermark, then evicts it; complete emits every session
// every batch and evicts nothing; update is a compile error (rule session-window-update).
// With a watermark, a row whose own session [t, t + gap) ends at or before it is late: dropped
// and counted, in both modes (Spark's SessionWindowStateStoreRestoreExec).
#pragma once
#include <boost/unordered/unordered_flat_map.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "../codec/binary.hpp"
#include "../engine/control.hpp"
#include "../graph/node.hpp"
#include "../time.hpp"
#include "aggregate.hpp"
#include "column.hpp"
#include "state_partitions.hpp"

namespace sluice {

namespace detail {
template <class T>
inline constexpr bool is_chrono_duration_v = false;
template <class R, class P>
inline constexpr bool is_chrono_duration_v<std::chrono::duration<R, P>> = true;
}  // namespace detail

// A dynamic session gap: a function of the row returning a std::chrono::duration.
template <class F, class Row>
concept session_gap_function = std::is_invocable_v<const F&, const Row&> &&
                               detail::is_chrono_duration_v<std::remove_cvref_t<std::invoke_result_t<const F&, const Row&>>>;

// Gap: sluice::duration (a fixed gap) or a function of the row.
template <class Sel, class Gap>
struct session_window_spec {
  Sel column;
  Gap gap;
};

// A fixed gap, which must be positive.
template <class Sel, class Rep, class Period>
session_window_spec<detail::selector_t<Sel>, duration> session_window(Sel&& column, std::chrono::duration<Rep, Period> gap) {
  const auto g = std::chrono::duration_cast<duration>(gap);
  if (g.count() <= 0)
    throw std::invalid_argument("sluice::session_window: the gap duration must be positive, got " + format_duration(g));
  return {detail::to_selector(std::forward<Sel>(column)), g};
}

// A gap computed per row (Spark's dynamic gap duration): rows whose gap is <= 0 are left out.
template <class Sel, class F>
  requires(!detail::is_chrono_duration_v<std::remove_cvref_t<F>>)
session_window_spec<detail::selector_t<Sel>, std::decay_t<F>> session_window(Sel&& column, F&& gap) {
  return {detail::to_selector(std::forward<Sel>(column)), std::forward<F>(gap)};
}

namespace detail {
template <class K>
inline constexpr bool is_session_spec_v = false;
template <class S, class G>
inline constexpr bool is_session_spec_v<session_window_spec<S, G>> = true;
template <class K>
using is_session_spec = std::bool_constant<is_session_spec_v<K>>;

template <class In, class Sel, class Gap, class Up>
struct bound_key<In, session_window_spec<Sel, Gap>, Up> {
  using selector = bound_selector<In, Sel>;
  static_assert(std::is_same_v<std::remove_cvref_t<typename selector::value_type>, timestamp> || !selector::resolved,
                "sluice::session_window: the time column must be of type sluice::timestamp");
  static_assert(std::is_same_v<Gap, duration> || session_gap_function<Gap, In>,
                "sluice::session_window: the gap must be a duration or a function of the row (const Row&) returning "
                "a std::chrono::duration");
  using value_type = time_window;
  using stored_type = std::int64_t;  // unused in the group key: sessions are listed per key
  static constexpr fixed_string name{"session_window"};
  static constexpr bool is_event_time = Up::props.has_watermark && (!selector::named || Up::props.watermark_column.empty() ||
                                                                 Up::props.watermark_column == selector::name);
  static constexpr bool is_session = true;
  selector sel;
  Gap gap;
  explicit bound_key(session_window_spec<Sel, Gap> s) : sel(std::move(s.column)), gap(std::move(s.gap)) {}
  std::int64_t time(const In& r) const { return event_micros(sel, r); }
  boost::json::object checkpoint_description() const {
    boost::json::object o{{"key", "session_window"}, {"column", selector::named ? std::string(selector::name) : "<computed>"}};
    if constexpr (std::is_same_v<Gap, duration>) o["gapUs"] = gap.count();
    else o["gap"] = "per row";
    return o;
  }
  std::int64_t gap_of(const In& r) const {
    if constexpr (std::is_same_v<Gap, duration>) return gap.count();
    else return std::chrono::duration_cast<duration>(std::invoke(gap, r)).count();
  }
};

template <class K>
inline constexpr bool is_session_key_v = requires { K::is_session; };

template <class In, class KeyList, class AggList>
struct session_aggregate_stage;

template <class In, class... Keys, class... Aggs>
struct session_aggregate_stage<In, std::tuple<Keys...>, std::tuple<Aggs...>> : stateful_control, described_stage {
  static constexpr stage_kind kind = stage_kind::stateful;
  static constexpr std::size_t session_key = [] {
    constexpr bool flags[] = {is_session_key_v<Keys>...};
    for (std::size_t i = 0; i < sizeof...(Keys); ++i)
      if (flags[i]) return i;
    return sizeof...(Keys);
  }();
  using session_key_type = std::tuple_element_t<session_key, std::tuple<Keys...>>;
  static constexpr bool event_time = session_key_type::is_event_time;

  // The other keys' values; the session key's slot is always 0.
  using key_type = std::tuple<typename Keys::stored_type...>;
  using state_type = std::tuple<typename Aggs::bound_type::state_type...>;
  using output_row = row<field<Keys::name, typename Keys::value_type>...,
                         field<Aggs::name, typename Aggs::bound_type::result_type>...>;
  static_assert(detail::unique_names<columns_of<output_row>>::value,
                "sluice::aggregate: two output columns have the same name; rename one with .as<\"name\">()");

  static constexpr bool aggregation = true;  // graph/stages.hpp's is_aggregation
  static constexpr bool stateful_operator = true;
  // rule: Spark's checks of an aggregation, and update mode refused for session windows.
  template <class Q>
  static constexpr bool check_shape() {
    check_aggregation_shape<Q, event_time>();
    static_assert(Q::mode != output_mode_kind::update,
                  "sluice rule [session-window-update]: update output mode is not supported for a session window "
                  "aggregation (as in Spark); use output_mode::append (with sl::with_watermark) or output_mode::complete");
    return check_chained_stateful<Q>();
  }
  static constexpr graph_props transform(graph_props p) {
    // As in Spark, the session column carries the watermark on (its input's, Spark's
    // watermark propagation) for a stateful operator after this one.
    p.watermark_column = event_time ? std::string_view(std::tuple_element_t<session_key, std::tuple<Keys...>>::name.view())
                                    : std::string_view{};
    return p;
  }

  struct session {
    std::int64_t start = 0, end = 0;  // [start, end)
    state_type states{};
    std::int64_t updated_in = -1;  // the last batch that added rows to it
  };
  // Sorted by start; disjoint and not touching (each end < the next start), so ends are sorted too.
  struct key_sessions {
    std::vector<session> sessions;
    std::int64_t changed_in = -1;  // the last batch that changed the list (for the delta)
  };

  std::tuple<Keys...> keys;
  std::tuple<typename Aggs::bound_type...> aggs;

  // The state in batch_context::shuffle_partitions partitions by the other keys' hash (Spark's
  // state per shuffle partition). One partition's keys, and what the batch did to them.
  struct part {
    boost::unordered_flat_map<key_type, key_sessions, key_hash> groups;
    std::vector<key_type> changed;  // keys the batch changed, each once
    std::int64_t sessions = 0;      // sessions in the partition
    std::int64_t min_end = std::numeric_limits<std::int64_t>::max();  // no session ends before it
    std::int64_t updated = 0, removed = 0;  // the batch's sessions updated and evicted
    std::vector<output_row> out;            // what finish emits from it, when run in a task
  };
  std::vector<part> parts_ = std::vector<part>(1);
  // Input partitions are taken at once (parallel_accept): each routes its rows to their state
  // partition (routed_rows); finish gives each state partition its rows in input partition
  // order, then row order, in a task: a key's rows merge in the order one thread gives (which
  // first() / last() of a session see). Without workers rows go straight to their partition.
  static constexpr bool parallel_accept = true;
  struct routed {
    key_type key;
    In row;
  };
  using batch_rows = routed_rows<routed, In>;
  using local = typename batch_rows::local;
  batch_rows routed_;

  std::int64_t batch_ = -1;
  using late_row = In;  // sl::late_rows_to (ops/late_rows.hpp): where rows dropped as late go
  std::vector<In>* late_rows = nullptr;
  std::int64_t dropped_ = 0;
  std::int64_t last_watermark_ = std::numeric_limits<std::int64_t>::min();
  state_operator_metrics last_metrics{"sessionWindowStateStoreSaveExec"};

  session_aggregate_stage(std::tuple<Keys...> k, std::tuple<typename Aggs::bound_type...> a)
      : keys(std::move(k)), aggs(std::move(a)) {}

  void visit(graph_controls& c) { c.add_stateful(this); }
  // Keys (the gap included) and functions: a checkpoint made with others is refused.
  boost::json::object checkpoint_description() const override {
    auto o = describe_grouping<Aggs...>("sessionWindow", keys, aggs);
    o["state"] = state_signature();
    return o;
  }
  // Per key its sessions, each [start, end) and the aggregates' state; the session key's slot
  // in the key is always 0.
  boost::json::object state_layout() const override {
    auto session = aggregate_state_layout<Aggs...>();
    auto& fields = session["struct"].as_array();
    fields.insert(fields.begin(), {boost::json::object{{"name", "start"}, {"type", "timestamp"}},
                                   boost::json::object{{"name", "end"}, {"type", "timestamp"}}});
    return keyed_layout(grouping_key_layout<Keys...>(""), std::move(session), "sessions");
  }

  key_type key_of(const In& r) const {
    key_type k{};
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (
          [&] {
            if constexpr (I != session_key) std::get<I>(keys).for_each(r, [&](const auto& v) { std::get<I>(k) = v; });
          }(),
          ...);
    }(std::index_sequence_for<Keys...>{});
    return k;
  }
  std::size_t partition_of(const key_type& k) const {
    return parts_.size() == 1 ? 0 : state_partition_of(key_hash{}(k), parts_.size());
  }

  void merge_states(state_type& s, const state_type& o) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(aggs).merge(std::get<I>(s), std::get<I>(o)), ...);
    }(std::index_sequence_for<Aggs...>{});
  }

  void note_changed(part& pt, const key_type& k, key_sessions& ks) const {
    if (ks.changed_in != batch_) {
      ks.changed_in = batch_;
      pt.changed.push_back(k);
    }
  }

  // index: the input partition's (its rows come after those of lower ones).
  local open_batch(const batch_context& ctx, std::size_t index = 0) {
    return batch_rows::open(ctx.tasks == nullptr, index, parts_.size());
  }
  void close_batch(local& l) { routed_.close(l); }

  template <class R>
  void accept(batch_context& ctx, R&& r, local& l) {
    const auto& sk = std::get<session_key>(keys);
    const std::int64_t gap = sk.gap_of(r);
    if (gap <= 0) return;  // Spark leaves such rows out of the aggregation
    const std::int64_t t = sk.time(r);
    if constexpr (event_time) {
      if (ctx.has_watermark && t + gap <= late_events_watermark(ctx, operator_index)) {
        batch_rows::drop_late(l, dropped_, late_rows, std::forward<R>(r));
        return;
      }
    }
    key_type k = key_of(r);
    const std::size_t p = partition_of(k);
    if (l.straight) add(parts_[p], std::move(k), r, t, t + gap);
    else l.buckets[p].push_back(routed{std::move(k), In(std::forward<R>(r))});
  }

  // A row (not late, with a positive gap) into its key's sessions in partition pt: its session
  // [t, end).
  void add(part& pt, key_type k, const In& r, std::int64_t t, std::int64_t end) const {
    auto [it, inserted] = pt.groups.try_emplace(std::move(k));
    key_sessions& ks = it->second;
    note_changed(pt, it->first, ks);
    auto& v = ks.sessions;
    // The first session ending at or after t is the first that can overlap or touch [t, end).
    auto first = std::lower_bound(v.begin(), v.end(), t, [](const session& s, std::int64_t x) { return s.end < x; });
    session* target;
    if (first == v.end() || first->start > end) {
      target = &*v.insert(first, session{t, end, state_type{}, batch_});
      ++pt.sessions;
    } else {
      first->start = std::min(first->start, t);
      first->end = std::max(first->end, end);
      auto last = first + 1;
      for (; last != v.end() && last->start <= first->end; ++last) {  // sessions the new one bridges
        merge_states(first->states, last->states);
        first->end = std::max(first->end, last->end);
      }
      pt.sessions -= last - (first + 1);
      target = &*first;
      v.erase(first + 1, last);
    }
    target->updated_in = batch_;
    if (end < pt.min_end) pt.min_end = end;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(aggs).update(std::get<I>(target->states), r), ...);
    }(std::index_sequence_for<Aggs...>{});
  }

  output_row make_row(const key_type& k, const session& s) const {
    return [&]<std::size_t... KI, std::size_t... AI>(std::index_sequence<KI...>, std::index_sequence<AI...>) {
      return output_row{{key_output<KI>(k, s)}..., {std::get<AI>(aggs).result(std::get<AI>(s.states))}...};
    }(std::index_sequence_for<Keys...>{}, std::index_sequence_for<Aggs...>{});
  }
  template <std::size_t I>
  decltype(auto) key_output(const key_type& k, const session& s) const {
    if constexpr (I == session_key) return time_window{timestamp{s.start}, timestamp{s.end}};
    else return std::get<I>(keys).output(std::get<I>(k));
  }

  // One state partition's part of finish: its routed rows, then what it emits (every session
  // in complete mode; in append mode the sessions the watermark closed, evicted).
  template <class Emit>
  void finish_part(part& pt, std::size_t p, bool complete, bool evict, std::int64_t wm, Emit&& emit) {
    const auto& sk = std::get<session_key>(keys);
    routed_.each(p, [&](routed& x) {
      const std::int64_t t = sk.time(x.row);
      add(pt, std::move(x.key), x.row, t, t + sk.gap_of(x.row));
    });
    for (const key_type& k : pt.changed)
      for (const session& s : pt.groups.find(k)->second.sessions) pt.updated += s.updated_in == batch_;
    if (complete) {
      for (const auto& [k, ks] : pt.groups)
        for (const session& s : ks.sessions) emit(make_row(k, s));
    } else if (evict && wm >= pt.min_end) {
      // Append: sessions ending at or before the watermark are final: emit and evict them.
      std::int64_t left = std::numeric_limits<std::int64_t>::max();
      boost::unordered::erase_if(pt.groups, [&](auto& kv) {
        auto& v = kv.second.sessions;
        std::size_t n = 0;
        while (n < v.size() && v[n].end <= wm) emit(make_row(kv.first, v[n++]));
        if (n > 0) {
          note_changed(pt, kv.first, kv.second);
          v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
          pt.removed += static_cast<std::int64_t>(n);
        }
        if (!v.empty()) left = std::min(left, v.front().end);
        return v.empty();
      });
      pt.sessions -= pt.removed;
      pt.min_end = left;
    }
  }

  // Each state partition in a task (when there are workers), what it emits kept and sent down
  // in partition order: the rows of one key in the order one thread gives, the order across
  // keys (and partitions) may differ.
  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    dropped_ += routed_.order(late_rows);
    const bool complete = ctx.mode == output_mode_kind::complete;
    const bool evict = event_time && ctx.has_watermark;
    const std::int64_t wm = eviction_watermark(ctx, operator_index);
    if (ctx.tasks == nullptr || parts_.size() == 1) {
      for (std::size_t p = 0; p < parts_.size(); ++p)
        finish_part(parts_[p], p, complete, evict, wm, [&](output_row&& r) { down(std::move(r)); });
    } else {
      parallel_for(ctx, parts_.size(), [&](std::size_t p) {
        finish_part(parts_[p], p, complete, evict, wm, [&](output_row&& r) { parts_[p].out.push_back(std::move(r)); });
      });
      for (auto& pt : parts_) {
        for (auto& r : pt.out) down(std::move(r));
        pt.out.clear();
      }
    }
    routed_.closed.clear();
    last_watermark_ = wm;  // its own (after a join: lower)
    last_metrics = state_operator_metrics{"sessionWindowStateStoreSaveExec"};
    std::size_t keys_held = 0;
    for (const auto& pt : parts_) {
      last_metrics.num_rows_total += pt.sessions;
      last_metrics.num_rows_updated += pt.updated;
      last_metrics.num_rows_removed += pt.removed;
      keys_held += pt.groups.size();
    }
    last_metrics.num_rows_dropped_by_watermark = std::exchange(dropped_, 0);
    last_metrics.memory_used_bytes = static_cast<std::int64_t>(keys_held * (sizeof(key_type) + sizeof(key_sessions))) +
                                     last_metrics.num_rows_total * static_cast<std::int64_t>(sizeof(session));
  }

  // A run of a batch starts: with the batch's number of state partitions (a graph driven by
  // hand may change it; the engine keeps the checkpoint's), the keys moved to theirs.
  void begin_batch(const batch_context& ctx) override {
    batch_ = ctx.batch_id;
    const std::size_t n = std::max<std::size_t>(1, ctx.shuffle_partitions);
    if (n != parts_.size()) repartition(n);
    for (auto& pt : parts_) {
      pt.changed.clear();
      pt.updated = pt.removed = 0;
      pt.out.clear();
    }
    routed_.closed.clear();
    dropped_ = 0;
  }

  // Spark's SessionWindowStateStoreSaveExec.shouldRunAnotherBatch (append; update is refused).
  bool needs_no_data_batch(output_mode_kind mode, std::int64_t new_watermark) const override {
    return event_time && mode == output_mode_kind::append &&
           last_watermark_ != std::numeric_limits<std::int64_t>::min() && new_watermark > last_watermark_;
  }
  state_operator_metrics metrics() const override { return last_metrics; }

  // ---- checkpoints: a batch's delta is the whole session list of every key it changed (an
  // empty list removes the key). One delta and snapshot per state partition
  // (state/<op>/<partition>/), each in the form the whole state had before partitions, which
  // the whole-state calls still read and write (a checkpoint from before restores into them).
  std::string state_signature() const override { return boost::json::serialize(state_layout()); }
  void write_sessions(binary_writer& out, const key_type& k, const std::vector<session>* v) const {
    out.write(k);
    out.write_size(v ? v->size() : 0);
    if (v)
      for (const session& s : *v) {
        out.write(s.start);
        out.write(s.end);
        out.write(s.states);
      }
  }
  void write_changed(binary_writer& out, const part& pt) const {
    for (const key_type& k : pt.changed) {
      const auto it = pt.groups.find(k);
      write_sessions(out, k, it == pt.groups.end() ? nullptr : &it->second.sessions);
    }
  }
  void write_all(binary_writer& out, const part& pt) const {
    for (const auto& [k, ks] : pt.groups) write_sessions(out, k, &ks.sessions);
  }
  std::size_t state_partitions() const override { return parts_.size(); }
  void reset_partitions(std::size_t n) override {
    parts_.assign(n, part{});
    routed_.closed.clear();
  }
  void write_partition_delta(std::size_t p, binary_writer& out) const override {
    out.write_size(parts_[p].changed.size());
    write_changed(out, parts_[p]);
  }
  // A partition with no key changed writes no delta (the commit records how many each has).
  bool partition_unchanged(std::size_t p) const override { return parts_[p].changed.empty(); }
  void write_partition_snapshot(std::size_t p, binary_writer& out) const override {
    out.write_size(parts_[p].groups.size());
    write_all(out, parts_[p]);
  }
  void load_partition_snapshot(std::size_t p, binary_reader& in) override {
    parts_[p] = part{};
    read_sessions(in, [&](const key_type&) -> part& { return parts_[p]; });
  }
  void apply_partition_delta(std::size_t p, binary_reader& in) override {
    read_sessions(in, [&](const key_type&) -> part& { return parts_[p]; });
  }

  void write_delta(binary_writer& out) const override {
    std::size_t n = 0;
    for (const auto& pt : parts_) n += pt.changed.size();
    out.write_size(n);
    for (const auto& pt : parts_) write_changed(out, pt);
  }
  void write_snapshot(binary_writer& out) const override {
    std::size_t n = 0;
    for (const auto& pt : parts_) n += pt.groups.size();
    out.write_size(n);
    for (const auto& pt : parts_) write_all(out, pt);
  }
  void load_snapshot(binary_reader& in) override {
    reset_partitions(parts_.size());
    apply_delta(in);
  }
  void apply_delta(binary_reader& in) override {
    read_sessions(in, [&](const key_type& k) -> part& { return parts_[partition_of(k)]; });
  }
  void restore_last_batch_watermark(std::int64_t watermark) override { last_watermark_ = watermark; }

 private:
  // Reads keys' session lists (a delta's or a snapshot's) into the partition part_for(key) names.
  template <class PartFor>
  void read_sessions(binary_reader& in, PartFor&& part_for) {
    const auto n = in.read_size(1);
    for (std::size_t i = 0; i < n; ++i) {
      key_type k{};
      in.read(k);
      const auto m = in.read_size(16);
      part& pt = part_for(k);
      auto it = pt.groups.find(k);
      if (it != pt.groups.end()) pt.sessions -= static_cast<std::int64_t>(it->second.sessions.size());
      if (m == 0) {
        if (it != pt.groups.end()) pt.groups.erase(it);
        continue;
      }
      if (it == pt.groups.end()) it = pt.groups.try_emplace(std::move(k)).first;
      auto& v = it->second.sessions;
      v.assign(m, session{});
      for (auto& s : v) {
        in.read(s.start);
        in.read(s.end);
        in.read(s.states);
        pt.min_end = std::min(pt.min_end, s.end);
      }
      pt.sessions += static_cast<std::int64_t>(m);
    }
    for (auto& pt : parts_) pt.changed.clear();
  }
  // The keys into n partitions; when there are some, the next checkpoint writes each
  // partition's snapshot, as their files so far (if any) are of another layout.
  void repartition(std::size_t n) {
    std::vector<part> old = std::move(parts_);
    parts_.assign(n, part{});
    for (auto& o : old)
      for (auto& [k, ks] : o.groups) {
        part& pt = parts_[partition_of(k)];
        pt.sessions += static_cast<std::int64_t>(ks.sessions.size());
        if (!ks.sessions.empty()) pt.min_end = std::min(pt.min_end, ks.sessions.front().end);
        pt.groups.emplace(k, std::move(ks));
        full_snapshot_due = true;
      }
    routed_.closed.clear();
  }
};

}  // namespace detail

// group_by(..., session_window(...), ...) | aggregate(...): the session aggregation (more
// constrained than the general overload in aggregate.hpp, so chosen for a session key).
template <class Up, class... Keys, class... Aggs>
  requires(detail::is_session_spec_v<Keys> || ...)
auto pipe_into(grouped_node<Up, Keys...>&& g, const aggregate_t<Aggs...>& a) {
  static_assert((detail::is_session_spec_v<Keys> + ...) == 1,
                "sluice::group_by: at most one sl::session_window key");
  static_assert(!(detail::is_window_key_v<detail::bound_key<typename Up::row_type, Keys, Up>> || ...),
                "sluice::group_by: sl::window and sl::session_window cannot group the same aggregation (Spark refuses "
                "more than one time window expression)");
  if constexpr ((detail::is_session_spec_v<Keys> + ...) == 1 &&
                !(detail::is_window_key_v<detail::bound_key<typename Up::row_type, Keys, Up>> || ...)) {
    auto stage = detail::make_aggregate_stage<typename Up::row_type, Up, detail::session_aggregate_stage>(g.keys, a.aggs);
    return stage_node<Up, decltype(stage)>{std::move(g.up), std::move(stage)};
  } else {
    // After the error: the aggregation by the first session key alone, so the query's rules
    // (an aggregation is there) add none.
    constexpr std::size_t i = boost::mp11::mp_find_if<boost::mp11::mp_list<Keys...>, detail::is_session_spec>::value;
    auto stage = detail::make_aggregate_stage<typename Up::row_type, Up, detail::session_aggregate_stage>(
        std::make_tuple(std::get<i>(g.keys)), a.aggs);
    return stage_node<Up, decltype(stage)>{std::move(g.up), std::move(stage)};
  }
}

}  // namespace sluice

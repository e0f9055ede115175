// Stream-stream joins (Spark's StreamingSymmetricHashJoinExec): two streams joined on a key and
// an optional event-time range, with state on both sides.
//
//   auto impressions = imps | sl::with_watermark(sl::col<"impressionTime">, 2h);
//   auto clicks      = clks | sl::with_watermark(sl::col<"clickTime">, 3h);
//   impressions | sl::join(clicks, sl::col<"adId">)                          // inner, state forever
//   impressions | sl::left_join(clicks, sl::col<"impressionAdId">, sl::col<"clickAdId">,
//                               sl::time_range(sl::col<"clickTime">, sl::col<"impressionTime">, 0h, 1h))
//
// Join types: sl::join (inner), sl::left_join, sl::right_join, sl::full_join, sl::left_semi_join.
// Keys: sl::col<"k"> of both sides (the key column once in the output, Spark's join(df, "k")),
// or a key per side (sl::col<"..">, member pointers or functions of the row: every column of
// both sides). The output columns and key rules are the stream-static join's (ops/join.hpp):
// the nullable side's columns become std::optional; a left semi join outputs the left rows.
//
// The condition sl::time_range(sl::col<"a">, sl::col<"b">, lower, upper) keeps the pairs with
// b + lower <= a <= b + upper (Spark's `a >= b + lower AND a <= b + upper`, bounds included),
// `a` a timestamp column of the left row and `b` of the right row. Either order of columns
// works: sl::time_range(right_col, left_col, ...) is recognised from the row types.
// sl::same_window(sl::col<"a">, sl::col<"b">, size) keeps the pairs whose times fall in the same
// tumbling window (Spark: a join on window(a, size) = window(b, size)).
//
// Per batch, as Spark: the left input first (joined with the right state of earlier batches,
// then kept in the left state), then the right input (joined with the left state, this batch's
// rows included), then the outer rows of the state rows the watermark evicts that never
// matched. A row whose side's watermarked column is <= the watermark of the previous batch is
// late: dropped and counted. State is evicted as Spark computes the state watermark of a side:
//   - the join key is a side's watermarked timestamp column: both sides' rows leave once their
//     key <= the watermark; with sl::same_window of the two watermarked columns, once their
//     window's end <= the watermark (Spark's window in the join keys);
//   - otherwise a side whose rows carry a watermark leaves the state when its watermarked
//     column <= watermark + bound - 1 us, the bound coming from the time range and the other
//     side's watermarked column (left: lower, right: -upper);
//   - else never (an inner join without a condition keeps its state forever).
// A right row already below its side's state watermark is not kept (and, unmatched, not
// emitted); a left row is kept until the batch's eviction (Spark 4.0, SPARK-49829).
// Null keys match nothing; the preserved side of an outer join keeps and emits them.
//
// Rules at the `|`: outer and semi joins need watermarks on both sides and either the
// watermarked column as the key or a time range or same window of the two watermarked columns.
// At sl::start: append mode only (Spark), and the rules of chained stateful operators. A side
// may come out of a stateful operator (Spark 3.4+): an aggregation or session window (its
// window column carries the watermark, compared by its end: join two window aggregations on
// sl::col<"window">) or another join; the join's input watermark is the lowest output watermark
// of the operators before it, and the operators after it run with its own output watermark
// (output_watermark below; the engine propagates both).
#pragma once
#include <boost/mp11.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "../codec/binary.hpp"
#include "../codec/state_layout.hpp"
#include "../engine/control.hpp"
#include "../graph/pipe.hpp"
#include "../schema.hpp"
#include "column.hpp"
#include "dedup.hpp"  // detail::event_time_column (the watermarked column of a side)
#include "join.hpp"   // keys and output columns, shared with the stream-static join
#include "stream_join_state.hpp"

namespace sluice {

enum class join_type { inner, left_outer, right_outer, full_outer, left_semi };

inline constexpr std::string_view to_string(join_type t) {
  switch (t) {
    case join_type::inner: return "Inner";
    case join_type::left_outer: return "LeftOuter";
    case join_type::right_outer: return "RightOuter";
    case join_type::full_outer: return "FullOuter";
    case join_type::left_semi: return "LeftSemi";
  }
  return "?";
}

// sl::time_range(sl::col<"a">, sl::col<"b">, lower, upper): b + lower <= a <= b + upper.
template <fixed_string A, fixed_string B>
struct time_range_t {
  duration lower;
  duration upper;
};
template <fixed_string A, fixed_string B, class R1, class P1, class R2, class P2>
time_range_t<A, B> time_range(col_t<A>, col_t<B>, std::chrono::duration<R1, P1> lower,
                              std::chrono::duration<R2, P2> upper) {
  const auto lo = std::chrono::duration_cast<duration>(lower);
  const auto hi = std::chrono::duration_cast<duration>(upper);
  if (lo > hi) throw std::invalid_argument("sluice::time_range: the lower bound is above the upper bound");
  return {lo, hi};
}

// sl::same_window(sl::col<"a">, sl::col<"b">, size): a and b fall in the same tumbling window
// of `size` (Spark: both sides select window(time, size) and join on it).
template <fixed_string A, fixed_string B>
struct same_window_t {
  duration size;
};
template <fixed_string A, fixed_string B, class Rep, class Period>
same_window_t<A, B> same_window(col_t<A>, col_t<B>, std::chrono::duration<Rep, Period> size) {
  const auto d = std::chrono::duration_cast<duration>(size);
  if (d.count() <= 0) throw std::invalid_argument("sluice::same_window: the window size must be positive");
  return {d};
}

namespace detail {
struct no_time_range {};
template <class T>
inline constexpr bool is_time_range_v = false;
template <fixed_string A, fixed_string B>
inline constexpr bool is_time_range_v<time_range_t<A, B>> = true;
template <fixed_string A, fixed_string B>
inline constexpr bool is_time_range_v<same_window_t<A, B>> = true;

// A time range bound to the two row types: `left_col` of the left row lies within
// [right_col + lower, right_col + upper] (a range written right-first is turned around).
template <class LRow, class RRow, class Cond>
struct bound_time_range {
  static constexpr bool present = false;
  static constexpr bool windowed = false;
  static constexpr bool valid = true;
  static constexpr std::string_view left_name{}, right_name{};
  explicit bound_time_range(Cond) {}
  bool operator()(const LRow&, const RRow&) const { return true; }
};
// The range on a left column LA and a right column RB (Flipped: written right-first).
template <class LRow, class RRow, fixed_string LA, fixed_string RB, bool Flipped>
struct time_range_on {
  static constexpr bool present = true;
  static constexpr bool windowed = false;
  static constexpr std::string_view left_name = LA.view();
  static constexpr std::string_view right_name = RB.view();
  static constexpr bool valid = [] {
    if constexpr (has_column<LRow, LA> && has_column<RRow, RB>)
      return std::is_same_v<strip_optional_t<column_type_t<LRow, LA>>, timestamp> &&
             std::is_same_v<strip_optional_t<column_type_t<RRow, RB>>, timestamp>;
    else return false;
  }();
  std::int64_t lower, upper;  // on left - right
  template <class T>
  explicit time_range_on(const T& t)
      : lower(Flipped ? -t.upper.count() : t.lower.count()), upper(Flipped ? -t.lower.count() : t.upper.count()) {}
  template <class V>
  static std::optional<std::int64_t> micros(const V& v) {
    if constexpr (is_optional_v<V>) return v ? std::optional<std::int64_t>(v->micros) : std::nullopt;
    else return v.micros;
  }
  bool operator()(const LRow& l, const RRow& r) const {
    if constexpr (valid) {
      const auto a = micros(get<LA>(l));
      const auto b = micros(get<RB>(r));
      if (!a || !b) return false;  // a null time satisfies no condition
      return *a >= *b + lower && *a <= *b + upper;
    } else {
      return false;
    }
  }
};
template <class LRow, class RRow, fixed_string A, fixed_string B>
inline constexpr bool straight_range_v = has_column<LRow, A> && has_column<RRow, B>;
template <class LRow, class RRow, fixed_string A, fixed_string B>
struct bound_time_range<LRow, RRow, time_range_t<A, B>>
    : std::conditional_t<straight_range_v<LRow, RRow, A, B>, time_range_on<LRow, RRow, A, B, false>,
                         time_range_on<LRow, RRow, B, A, true>> {
  static constexpr bool straight = straight_range_v<LRow, RRow, A, B>;
  static constexpr bool flipped = !straight && has_column<LRow, B> && has_column<RRow, A>;
  using base = std::conditional_t<straight, time_range_on<LRow, RRow, A, B, false>, time_range_on<LRow, RRow, B, A, true>>;
  explicit bound_time_range(time_range_t<A, B> t) : base(t) {}
};

// Equal tumbling windows of a left column LA and a right column RB.
template <class LRow, class RRow, fixed_string LA, fixed_string RB>
struct same_window_on {
  static constexpr bool present = true;
  static constexpr bool windowed = true;
  static constexpr std::string_view left_name = LA.view();
  static constexpr std::string_view right_name = RB.view();
  static constexpr bool valid = time_range_on<LRow, RRow, LA, RB, false>::valid;
  std::int64_t size;
  template <class T>
  explicit same_window_on(const T& t) : size(t.size.count()) {}
  std::int64_t window_end(std::int64_t t) const { return floor_div(t, size) * size + size; }
  bool operator()(const LRow& l, const RRow& r) const {
    if constexpr (valid) {
      using on = time_range_on<LRow, RRow, LA, RB, false>;
      const auto a = on::micros(get<LA>(l));
      const auto b = on::micros(get<RB>(r));
      return a && b && floor_div(*a, size) == floor_div(*b, size);
    } else {
      return false;
    }
  }
};
template <class LRow, class RRow, fixed_string A, fixed_string B>
struct bound_time_range<LRow, RRow, same_window_t<A, B>>
    : std::conditional_t<straight_range_v<LRow, RRow, A, B>, same_window_on<LRow, RRow, A, B>,
                         same_window_on<LRow, RRow, B, A>> {
  static constexpr bool straight = straight_range_v<LRow, RRow, A, B>;
  static constexpr bool flipped = !straight && has_column<LRow, B> && has_column<RRow, A>;
  using base = std::conditional_t<straight, same_window_on<LRow, RRow, A, B>, same_window_on<LRow, RRow, B, A>>;
  explicit bound_time_range(same_window_t<A, B> t) : base(t) {}
};

// Whether a row type has a column of this name.
template <class Row>
constexpr bool has_column_name(std::string_view n) {
  for (auto c : column_names_v<Row>)
    if (c == n) return true;
  return false;
}

// A side's event-time column: a timestamp, or the window an aggregation or session window
// before the join emits (Spark: the window struct carries the watermark, compared by its end).
template <class In, class Node>
struct side_event_time {
  static constexpr std::string_view name = event_time_column<In, Node>::name;
  static constexpr std::size_t index = event_time_column<In, Node>::index;
  static constexpr int kind = [] {  // 0: none, 1: a timestamp, 2: a window
    if constexpr (index < column_count_v<In>) {
      using T = typename boost::mp11::mp_at_c<columns_of<In>, index>::type;
      return std::is_same_v<T, timestamp> ? 1 : std::is_same_v<T, time_window> ? 2 : 0;
    } else {
      return 0;
    }
  }();
  static constexpr bool exists = kind != 0;
  static std::int64_t micros(const In& r)
    requires exists
  {
    const auto& v = get<boost::mp11::mp_at_c<columns_of<In>, index>::name>(r);
    if constexpr (kind == 2) return v.end.micros;
    else return v.micros;
  }
};
// The time of an event-time key: a timestamp, or a window's end.
inline std::int64_t key_micros(const timestamp& t) { return t.micros; }
inline std::int64_t key_micros(const time_window& w) { return w.end.micros; }

// ---------------------------------------------------------------- the node
// The join in its query's list of stages (graph/stages.hpp): a stateful operator, and its
// rule: Spark runs a stream-stream join in append mode only.
struct stream_join_stage_tag {
  static constexpr bool stream_join = true;
  static constexpr bool stateful_operator = true;
  template <class Q>
  static constexpr bool check_shape() {
    // After an aggregation, in update or complete mode, the aggregation's rule names the mode
    // (chained-stateful-needs-append): one error.
    constexpr bool reported = any_stage<typename Q::before, is_aggregation> && Q::mode != output_mode_kind::append;
    static_assert(Q::mode == output_mode_kind::append || reported,
                  "sluice rule [stream-join-append-only]: a stream-stream join needs output_mode::append (Spark: Join "
                  "between two streaming DataFrames/Datasets is not supported in Update/Complete output mode, only in "
                  "Append output mode)");
    // After an aggregation or another join (Spark 3.4+'s chained operators): the rules of
    // chained stateful operators, which the join's input watermark comes from.
    if constexpr (Q::mode == output_mode_kind::append) return check_chained_stateful<Q>();
    else return true;
  }
};

template <join_type JT, class L, class R, class LSel, class RSel, bool Using, class Cond>
struct stream_join_node : stateful_control, described_stage {
  using LRow = typename L::row_type;
  using RRow = typename R::row_type;
  using LV = typename key_value<LRow, LSel>::type;
  using RV = typename key_value<RRow, RSel>::type;
  using K = join_key_t<LV>;
  using lkey = bound_selector<LRow, LSel>;
  using rkey = bound_selector<RRow, RSel>;
  using cond_type = bound_time_range<LRow, RRow, Cond>;
  using ltime = side_event_time<LRow, L>;
  using rtime = side_event_time<RRow, R>;
  static constexpr bool semi = JT == join_type::left_semi;
  static constexpr bool left_nullable = JT == join_type::right_outer || JT == join_type::full_outer;
  static constexpr bool right_nullable = JT == join_type::left_outer || JT == join_type::full_outer;
  static constexpr bool left_preserved = JT == join_type::left_outer || JT == join_type::full_outer;
  static constexpr bool right_preserved = JT == join_type::right_outer || JT == join_type::full_outer;
  static constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();

  // How each side's state leaves (Spark's getStateWatermarkPredicates).
  static constexpr bool key_watermarked =
      (std::is_same_v<K, timestamp> || std::is_same_v<K, time_window>) && ((lkey::named && ltime::exists && lkey::name == ltime::name) ||
                                       (rkey::named && rtime::exists && rkey::name == rtime::name));
  // Equal windows of both watermarked columns: Spark's watermark in the join keys (the window).
  static constexpr bool window_keyed = !key_watermarked && cond_type::windowed && ltime::exists && rtime::exists &&
                                       ltime::name == cond_type::left_name && rtime::name == cond_type::right_name;
  static constexpr bool left_value_evicts = !key_watermarked && !cond_type::windowed && cond_type::present &&
                                            ltime::exists && rtime::exists && rtime::name == cond_type::right_name;
  static constexpr bool right_value_evicts = !key_watermarked && !cond_type::windowed && cond_type::present &&
                                             rtime::exists && ltime::exists && ltime::name == cond_type::left_name;
  static constexpr bool left_evicts = key_watermarked || window_keyed || left_value_evicts;
  static constexpr bool right_evicts = key_watermarked || window_keyed || right_value_evicts;

  // ---- output columns
  using lcols = columns_of<LRow>;
  using rcols = columns_of<RRow>;
  using lrest = typename rest_columns<Using, lcols, LSel>::type;
  using rrest = typename rest_columns<Using, rcols, RSel>::type;
  template <class C>
  using opt_col = optional_column_t<C>;
  using lout = std::conditional_t<left_nullable, boost::mp11::mp_transform<opt_col, lrest>, lrest>;
  using rout = std::conditional_t<right_nullable, boost::mp11::mp_transform<opt_col, rrest>, rrest>;
  using key_col_type = std::conditional_t<is_optional_v<LV> || is_optional_v<RV>,
                                          std::optional<strip_optional_t<LV>>, LV>;
  using key_cols = std::conditional_t<Using, boost::mp11::mp_list<column<lkey::fixed_name, key_col_type>>,
                                      boost::mp11::mp_list<>>;
  using row_type =
      std::conditional_t<semi, LRow, row_from_columns<boost::mp11::mp_append<key_cols, lout, rout>>>;

  static constexpr graph_props props = [] {
    graph_props p;
    p.has_watermark = L::props.has_watermark || R::props.has_watermark;
    // The column that carries the watermark after the join: the left side's event time, the
    // right side's in a right outer join (where the left one may be null).
    const bool left_first = JT != join_type::right_outer;
    const bool l = ltime::exists && has_column_name<row_type>(ltime::name);
    const bool r = rtime::exists && has_column_name<row_type>(rtime::name);
    if (l && (left_first || !r)) p.watermark_column = ltime::name;
    else if (r) p.watermark_column = rtime::name;
    return p;
  }();
  // Both inputs' stages, then the join's own (graph/stages.hpp), whose rules it carries.
  using stages = boost::mp11::mp_push_back<boost::mp11::mp_append<typename L::stages, typename R::stages>,
                                           stream_join_stage_tag>;

  L left;
  R right;
  lkey lsel;
  rkey rsel;
  cond_type cond;
  using part = join_state_part<LRow, RRow, K>;
  std::vector<part> parts_ = std::vector<part>(1);  // the state partitions (stream_join_state.hpp)
  std::vector<std::vector<row_type>> out_;          // with workers: each state partition's output
  static constexpr std::int64_t max_parallel_fan_out = 4;
  bool fan_out_high_ = false;  // the last batch with input emitted more rows per input row
  std::int64_t last_watermark_ = std::numeric_limits<std::int64_t>::min();
  state_operator_metrics last_metrics{"symmetricHashJoin"};

  stream_join_node(L l, R r, LSel ls, RSel rs, Cond c)
      : left(std::move(l)), right(std::move(r)), lsel(std::move(ls)), rsel(std::move(rs)), cond(std::move(c)) {}

  void visit(graph_controls& c) {
    const std::size_t upstream_from = c.stateful.size();
    left.visit(c);
    right.visit(c);
    c.upstream_from = upstream_from;
    c.add_stateful(this);
  }

  // ---- keys and times
  template <class Sel, class Row>
  static std::optional<K> key_of(const Sel& sel, const Row& r) {
    std::optional<K> k;
    with_join_key(sel(r), [&](const auto& v) { k.emplace(v); });
    return k;
  }
  // The time a side's row leaves the state at (compared with that side's state watermark).
  template <bool Left, class Row>
  std::int64_t leave_time(const std::optional<K>& k, const Row& r) const {
    if constexpr (key_watermarked) {
      return k ? key_micros(*k) : never;  // a null key never leaves (Spark: null <= w is not true)
    } else if constexpr (window_keyed) {
      if constexpr (Left) return cond.window_end(ltime::micros(r));  // Spark: window.end <= watermark
      else return cond.window_end(rtime::micros(r));
    } else if constexpr (Left ? left_value_evicts : right_value_evicts) {
      if constexpr (Left) return ltime::micros(r);
      else return rtime::micros(r);
    } else {
      (void)k, (void)r;
      return never;
    }
  }
  // Rows with a leave time <= this leave: Spark's state watermark predicate.
  template <bool Left>
  std::int64_t state_watermark(const batch_context& ctx) const {
    if (!ctx.has_watermark) return std::numeric_limits<std::int64_t>::min();
    return side_state_watermark<Left>(eviction_watermark(ctx, operator_index)).value_or(
        std::numeric_limits<std::int64_t>::min());
  }
  // A side's state watermark for this input watermark; none when its rows never leave.
  template <bool Left>
  std::optional<std::int64_t> side_state_watermark(std::int64_t wm) const {
    if constexpr (key_watermarked || window_keyed) return wm;
    else if constexpr (Left ? left_value_evicts : right_value_evicts)
      return Left ? wm + cond.lower - 1 : wm - cond.upper - 1;  // Spark: inclusive bound, minus one unit
    else return std::nullopt;
  }
  // Spark 3.5's produceOutputWatermark: every row the join emits from now on has both sides'
  // times above their state watermarks, so the lower of them (and of the input) is the
  // watermark of its output, which the stateful operators after it run with.
  std::optional<std::int64_t> output_watermark(std::int64_t input_watermark) const override {
    std::int64_t out = input_watermark;
    if (const auto l = side_state_watermark<true>(input_watermark)) out = std::min(out, *l);
    if (const auto r = side_state_watermark<false>(input_watermark)) out = std::min(out, *r);
    return out;
  }

  // ---- output rows
  template <class C, class Row>
  static typename C::type side_value(const Row* p) {
    if constexpr (is_optional_v<typename C::type> && !is_optional_v<column_type_t<Row, C::name>>) {
      return p ? typename C::type(get<C::name>(*p)) : typename C::type{};
    } else {
      return p ? get<C::name>(*p) : typename C::type{};
    }
  }
  static row_type make(const LRow* l, const RRow* r) {
    return [&]<class... LC, class... RC>(boost::mp11::mp_list<LC...>, boost::mp11::mp_list<RC...>) {
      if constexpr (Using) {
        key_col_type k = l ? key_col_type(get<lkey::fixed_name>(*l)) : key_col_type(get<rkey::fixed_name>(*r));
        return row_type{{std::move(k)}, {side_value<LC>(l)}..., {side_value<RC>(r)}...};
      } else {
        return row_type{{side_value<LC>(l)}..., {side_value<RC>(r)}...};
      }
    }(lout{}, rout{});
  }

  // ---- one batch
  // The state is in batch_context::shuffle_partitions partitions by the join key's hash
  // (Spark's state per shuffle partition, both sides hashed by the join key). A key's rows of
  // both sides are in one partition, and everything the join does for a row touches only its
  // key's rows, so the partitions are independent: with workers, each side's input partitions
  // are read at once, routing their rows by key into per-partition lists, and each state
  // partition then runs in a task as one thread would (its left rows in arrival order, then
  // its right rows, then its evictions), its output concatenated in partition order. Without
  // workers, rows go straight to their partition in arrival order.
  //
  // The output of the tasks is kept until all have run (the stages after the join run on the
  // query thread), which costs a write and a read of every output row: more than the tasks
  // save when a join emits many rows per input row. A batch after one that emitted more than
  // max_parallel_fan_out rows per input row runs on the query thread too (the same rows).
  template <class Row>
  struct routed_input {  // one input partition's rows of a side, per state partition, in arrival order
    std::vector<std::vector<std::pair<std::optional<K>, Row>>> rows;
    std::int64_t read = 0, dropped = 0;
  };
  // A side's input partitions at once, each routing its rows (admitted: not late, a key) to
  // their state partitions.
  template <bool Left, class Node, class Admit>
  auto route_inputs(Node& node, batch_context& ctx, Admit& admit) {
    using Row = std::conditional_t<Left, LRow, RRow>;
    std::vector<routed_input<Row>> in(sluice::open_partitions(node, ctx));
    parallel_for(ctx, in.size(), [&](std::size_t i) {
      auto& to = in[i].rows;
      to.resize(parts_.size());
      auto route = [&](auto&& r) {
        ++in[i].read;
        if (auto k = admit.template operator()<Left, Row>(r, in[i].dropped))
          to[partition_of(*k)].emplace_back(std::move(*k), Row(std::forward<decltype(r)>(r)));
      };
      sluice::run_partition(node, ctx, i, route);
    });
    sluice::close_partitions(node, ctx);
    return in;
  }

  template <class Down>
  void run(batch_context& ctx, Down& down) {
    const bool wm = ctx.has_watermark;
    const std::int64_t late = late_events_watermark(ctx, operator_index);
    const std::int64_t lwm = state_watermark<true>(ctx), rwm = state_watermark<false>(ctx);
    auto admit = [this, wm, late]<bool Left, class Row>(const Row& r, std::int64_t& dropped) {
      return admitted<Left>(r, wm, late, dropped);
    };
    std::int64_t dropped = 0, rows_in = 0, rows_out = 0;
    if (ctx.tasks == nullptr || ctx.tasks->workers() <= 1 || fan_out_high_) {
      auto counted = [&](auto&& r) {
        ++rows_out;
        down(std::forward<decltype(r)>(r));
      };
      auto on_left = [&](auto&& in) {
        ++rows_in;
        if (auto k = admit.template operator()<true, LRow>(in, dropped))
          join_left(parts_[partition_of(*k)], std::move(*k), LRow(std::forward<decltype(in)>(in)), lwm, counted);
      };
      left.run(ctx, on_left);
      auto on_right = [&](auto&& in) {
        ++rows_in;
        if (auto k = admit.template operator()<false, RRow>(in, dropped))
          join_right(parts_[partition_of(*k)], std::move(*k), RRow(std::forward<decltype(in)>(in)), rwm, counted);
      };
      right.run(ctx, on_right);
      for (auto& p : parts_) evict_part(p, lwm, rwm, counted);
    } else {
      const std::size_t n = parts_.size();
      // Each side's input partitions at once (the right side's after the left's, as on one
      // thread), each routing its rows; then each state partition in a task.
      auto lin = route_inputs<true>(left, ctx, admit);
      auto rin = route_inputs<false>(right, ctx, admit);
      auto& out = out_;  // kept: its capacity, reused batch after batch, spares the page faults
      out.resize(n);
      parallel_for(ctx, n, [&](std::size_t p) {
        out[p].clear();
        auto emit = [&out, p](row_type&& r) { out[p].push_back(std::move(r)); };
        for (auto& in : lin)
          for (auto& [k, row] : in.rows[p]) join_left(parts_[p], std::move(k), std::move(row), lwm, emit);
        for (auto& in : rin)
          for (auto& [k, row] : in.rows[p]) join_right(parts_[p], std::move(k), std::move(row), rwm, emit);
        evict_part(parts_[p], lwm, rwm, emit);
      });
      for (const auto& in : lin) dropped += in.dropped, rows_in += in.read;
      for (const auto& in : rin) dropped += in.dropped, rows_in += in.read;
      for (auto& rows : out) {
        rows_out += static_cast<std::int64_t>(rows.size());
        for (auto& r : rows) down(std::move(r));
        rows.clear();
      }
    }

    if (rows_in > 0) fan_out_high_ = rows_out > max_parallel_fan_out * rows_in;
    last_watermark_ = eviction_watermark(ctx, operator_index);  // its own (after a join: lower)
    last_metrics = state_operator_metrics{"symmetricHashJoin"};
    for (const auto& p : parts_) {
      last_metrics.num_rows_total += p.left.count + p.right.count;
      last_metrics.num_rows_updated += p.appended;
      last_metrics.num_rows_removed += p.removed;
      last_metrics.memory_used_bytes += p.left.count * static_cast<std::int64_t>(sizeof(join_entry<LRow>)) +
                                        p.right.count * static_cast<std::int64_t>(sizeof(join_entry<RRow>));
    }
    last_metrics.num_rows_dropped_by_watermark = dropped;
  }

  std::size_t partition_of(const std::optional<K>& k) const { return join_partition_of(k, parts_.size()); }

  // A row of a side: late (dropped and counted), or its key; none too for a null key, which a
  // side that is not preserved drops (Spark filters them).
  template <bool Left, class Row>
  std::optional<std::optional<K>> admitted(const Row& r, bool wm, std::int64_t late, std::int64_t& dropped) const {
    using time = std::conditional_t<Left, ltime, rtime>;
    if constexpr (time::exists)
      if (wm && time::micros(r) <= late) {
        ++dropped;
        return std::nullopt;
      }
    std::optional<K> k;
    if constexpr (Left) k = key_of(lsel, r);
    else k = key_of(rsel, r);
    if (!k && !(Left ? left_preserved : right_preserved)) return std::nullopt;
    return k;
  }

  // A left row (not late, its key admitted): joined with the right rows of its key, then kept.
  template <class Emit>
  void join_left(part& p, std::optional<K> k, LRow r, std::int64_t lwm, Emit& down) {
    bool any = false;
    if (k)
      if (auto it = p.right.rows.find(k); it != p.right.rows.end())
        for (auto& e : it->second.entries) {
          if (!cond(r, e.row)) continue;
          any = true;
          if constexpr (semi) {
            break;  // one left row per match, emitted below
          } else {
            // Only a preserved side reads its rows' matched flags (for its outer rows): an
            // inner join leaves them, and the key out of the checkpoint's delta.
            if constexpr (right_preserved)
              if (!e.matched) {
                e.matched = true;
                p.right.mark(k, it->second);
              }
            down(make(&r, &e.row));
          }
        }
    if constexpr (semi)
      if (any) {
        down(LRow(r));
        return;  // a matched left row of a semi join is not kept
      }
    keep<true>(p, p.left, std::move(k), std::move(r), any, lwm);
  }
  // A right row: joined with the left rows of its key (this batch's included), then kept.
  template <class Emit>
  void join_right(part& p, std::optional<K> k, RRow r, std::int64_t rwm, Emit& down) {
    bool any = false;
    if (k)
      if (auto it = p.left.rows.find(k); it != p.left.rows.end())
        for (auto& e : it->second.entries) {
          if constexpr (semi)
            if (e.matched) continue;  // a left row is emitted once
          if (!cond(e.row, r)) continue;
          any = true;
          if constexpr (left_preserved || semi)  // a semi join emits a left row once
            if (!e.matched) {
              e.matched = true;
              p.left.mark(k, it->second);
            }
          if constexpr (semi) down(LRow(e.row));
          else down(make(&e.row, &r));
        }
    keep<false>(p, p.right, std::move(k), std::move(r), any, rwm);
  }
  // A partition's outer rows of the evicted, never matched rows; then the other evictions.
  template <class Emit>
  void evict_part(part& p, std::int64_t lwm, std::int64_t rwm, Emit& down) {
    auto emit_left = [&](const LRow& l) {
      if constexpr (left_preserved) down(make(&l, nullptr));
    };
    auto emit_right = [&](const RRow& r) {
      if constexpr (right_preserved) down(make(nullptr, &r));
    };
    if constexpr (left_evicts) evict<true>(p, p.left, lwm, emit_left);
    if constexpr (right_evicts) evict<false>(p, p.right, rwm, emit_right);
  }

  template <bool Left, class Row>
  void keep(part& p, join_side_state<Row, K>& s, std::optional<K> k, Row row, bool matched, std::int64_t state_wm) {
    const std::int64_t t = leave_time<Left>(k, row);
    // A right row that would leave at once is not added: the left rows of the batch have all
    // been joined with it. A left row is, as Spark 4.0 (SPARK-49829): the batch's right rows
    // are still to come, e.g. the windows a window aggregation before each side closes in the
    // same batch; it leaves (and, unmatched, comes out with nulls) at the batch's eviction.
    if (!Left && t <= state_wm) return;
    if (t < s.min_time) s.min_time = t;
    const auto it = s.rows.try_emplace(std::move(k)).first;
    s.mark(it->first, it->second);
    it->second.entries.push_back({std::move(row), matched});
    ++s.count;
    ++p.appended;
  }

  template <bool Left, class Row, class Emit>
  void evict(part& p, join_side_state<Row, K>& s, std::int64_t state_wm, Emit& emit) {
    if (state_wm < s.min_time) return;  // nothing old enough: no scan
    std::int64_t left_min = never;
    boost::unordered::erase_if(s.rows, [&](auto& kv) {
      auto& v = kv.second.entries;
      const auto before = v.size();
      std::erase_if(v, [&](const join_entry<Row>& e) {
        const std::int64_t t = leave_time<Left>(kv.first, e.row);
        if (t > state_wm) {
          left_min = t < left_min ? t : left_min;
          return false;
        }
        if (!e.matched) emit(e.row);
        return true;
      });
      if (v.size() != before) {
        s.mark(kv.first, kv.second);
        const auto n = static_cast<std::int64_t>(before - v.size());
        s.count -= n;
        p.removed += n;
      }
      return v.empty();
    });
    s.min_time = left_min;
  }

  // A run of a batch starts: with the batch's number of state partitions (a graph driven by
  // hand may change it; the engine keeps the checkpoint's), the keys moved to theirs.
  void begin_batch(const batch_context& ctx) override {
    const std::size_t n = std::max<std::size_t>(1, ctx.shuffle_partitions);
    if (n != parts_.size() && repartition(parts_, n)) full_snapshot_due = true;
    for (auto& p : parts_) p.new_batch();
  }
  // Spark's shouldRunAnotherBatch: some state leaves by the watermark, and it moved.
  bool needs_no_data_batch(output_mode_kind, std::int64_t new_watermark) const override {
    return (left_evicts || right_evicts) && last_watermark_ != std::numeric_limits<std::int64_t>::min() &&
           new_watermark > last_watermark_;
  }
  state_operator_metrics metrics() const override { return last_metrics; }

  boost::json::object checkpoint_description() const override {
    boost::json::object o{{"operator", "symmetricHashJoin"},
                          {"joinType", to_string(JT)},
                          {"leftKey", lkey::named ? std::string(lkey::name) : std::string("<function>")},
                          {"rightKey", rkey::named ? std::string(rkey::name) : std::string("<function>")},
                          {"state", state_signature()}};
    if constexpr (cond_type::windowed)
      o["sameWindow"] = {{"left", cond_type::left_name}, {"right", cond_type::right_name}, {"sizeUs", cond.size}};
    else if constexpr (cond_type::present)
      o["timeRange"] = {{"left", cond_type::left_name}, {"right", cond_type::right_name},
                        {"lowerUs", cond.lower}, {"upperUs", cond.upper}};
    return o;
  }
  std::string state_signature() const override {  // per side: a key and its rows
    return boost::json::serialize(boost::json::object{{"format", "symmetricHashJoin"}, {"key", binary_layout<K>()},
                                                      {"left", binary_layout<LRow>()}, {"right", binary_layout<RRow>()}});
  }

  // ---- checkpoints: one delta and snapshot per state partition (state/<op>/<partition>/),
  // each in the form the whole state had before partitions: per side, a count and the keys
  // (a delta: each key the batch changed with all its rows now, or its removal). The
  // whole-state calls still read and write that form (a checkpoint from before restores into
  // the partitions, each key into its own).
  std::size_t state_partitions() const override { return parts_.size(); }
  void reset_partitions(std::size_t n) override { parts_.assign(n, part{}); }
  void write_partition_delta(std::size_t p, binary_writer& out) const override { parts_[p].write_delta(out); }
  // A partition with no key changed on either side writes no delta (the commit records how many each has).
  bool partition_unchanged(std::size_t p) const override {
    return parts_[p].left.changed.empty() && parts_[p].right.changed.empty();
  }
  void write_partition_snapshot(std::size_t p, binary_writer& out) const override { parts_[p].write_snapshot(out); }
  void load_partition_snapshot(std::size_t p, binary_reader& in) override {
    parts_[p] = part{};
    read_side<true>(in, p);
    if (!in.at_end()) read_side<false>(in, p);  // the engine's empty state is one count
  }
  void apply_partition_delta(std::size_t p, binary_reader& in) override {
    read_side<true>(in, p);
    read_side<false>(in, p);
  }

  void write_delta(binary_writer& out) const override {
    write_keys(out, [](const part& p) -> const auto& { return p.left; }, [](const auto& s) -> const auto& { return s.changed; });
    write_keys(out, [](const part& p) -> const auto& { return p.right; }, [](const auto& s) -> const auto& { return s.changed; });
  }
  void write_snapshot(binary_writer& out) const override {
    auto keys = [](const auto& s) {
      std::vector<std::optional<K>> ks;
      ks.reserve(s.rows.size());
      for (const auto& kv : s.rows) ks.push_back(kv.first);
      return ks;
    };
    write_keys(out, [](const part& p) -> const auto& { return p.left; }, keys);
    write_keys(out, [](const part& p) -> const auto& { return p.right; }, keys);
  }
  void load_snapshot(binary_reader& in) override {
    reset_partitions(parts_.size());
    read_side<true>(in, std::nullopt);
    if (!in.at_end()) read_side<false>(in, std::nullopt);
  }
  void apply_delta(binary_reader& in) override {
    read_side<true>(in, std::nullopt);
    read_side<false>(in, std::nullopt);
  }
  // One side's keys, each into partition `only`, or (the whole state's files) into its own.
  template <bool Left>
  void read_side(binary_reader& in, std::optional<std::size_t> only) {
    for (std::size_t n = in.read_size(1); n > 0; --n) {
      std::optional<K> k;
      in.read(k);
      auto& p = parts_[only ? *only : partition_of(k)];
      auto time_of = [this](const auto& key, const auto& r) { return leave_time<Left>(key, r); };
      if constexpr (Left) p.left.read_rows(in, std::move(k), time_of);
      else p.right.read_rows(in, std::move(k), time_of);
    }
  }
  // One side's keys of all partitions as one list (the whole state's form).
  template <class Side, class Keys>
  void write_keys(binary_writer& out, Side side, Keys keys) const {
    std::size_t n = 0;
    for (const auto& p : parts_) n += std::size(keys(side(p)));
    out.write_size(n);
    for (const auto& p : parts_)
      for (const auto& k : keys(side(p))) side(p).write_key(out, k);
  }
  void restore_last_batch_watermark(std::int64_t watermark) override { last_watermark_ = watermark; }
};

// ---------------------------------------------------------------- the `|` closure
template <join_type JT, class Right, class LSel, class RSel, bool Using, class Cond>
struct stream_join_t {
  using is_stage_descriptor = void;
  static constexpr bool apply_to_node = true;
  Right right;
  LSel lsel;
  RSel rsel;
  Cond cond;

  template <class Up>
  auto apply(Up&& up) && {
    using LN = std::remove_cvref_t<Up>;
    using RN = node_of_t<Right>;
    using LRow = typename LN::row_type;
    using RRow = typename RN::row_type;
    static_assert(record<LRow> && record<RRow>,
                  "sluice::join: the row types of both streams must be described structs or generated rows (the "
                  "join output names their columns)");
    if constexpr (record<LRow> && record<RRow>) {
      using LV = typename key_value<LRow, LSel>::type;
      using RV = typename key_value<RRow, RSel>::type;
      if constexpr (Using) {
        static_assert(has_column<LRow, LSel::name>, "sluice::join: sl::col<\"name\">: the left stream has no column of this name");
        static_assert(has_column<RRow, LSel::name>, "sluice::join: sl::col<\"name\">: the right stream has no column of this name");
      } else {
        static_assert(!std::is_void_v<LV>, "sluice::join: the left key must be sl::col<\"name\"> of a column of the left "
                                           "stream's row type, a member pointer of it, or a function of it");
        static_assert(!std::is_void_v<RV>, "sluice::join: the right key must be sl::col<\"name\"> of a column of the "
                                           "right stream's row type, a member pointer of it, or a function of it");
      }
      if constexpr (!std::is_void_v<LV> && !std::is_void_v<RV>) {
        constexpr bool same_keys = std::is_same_v<strip_optional_t<LV>, strip_optional_t<RV>>;
        static_assert(same_keys, "sluice::join: the join keys of the two streams have different types; they must be the "
                                 "same (std::optional<K> and K count as the same)");
        static_assert(hashable_key_v<LV>, "sluice::join: the join key type needs std::hash and == (numbers, bool, "
                                          "std::string, sl::timestamp, or std::optional of them)");
        using dup = typename shared_column<typename rest_columns<Using, columns_of<LRow>, LSel>::type,
                                           typename rest_columns<Using, columns_of<RRow>, RSel>::type>::type;
        static_assert(JT == join_type::left_semi || join_column_name_is_unique<dup>::value,
                      "sluice::join: both streams have a column of this name (other than the join column); every "
                      "output column needs its own name: rename it on one side with sl::select first");
        using C = bound_time_range<LRow, RRow, Cond>;
        if constexpr (C::present) {
          static_assert(C::straight || C::flipped, "sluice::time_range / sl::same_window: name a column of the left "
                                                   "stream and a column of the right stream");
          static_assert(C::valid || !(C::straight || C::flipped),
                        "sluice::time_range / sl::same_window: both columns must be of type sl::timestamp");
        }
        if constexpr (same_keys && hashable_key_v<LV> && (JT == join_type::left_semi || std::is_void_v<dup>) &&
                      (!C::present || C::valid)) {
          using N = stream_join_node<JT, LN, RN, LSel, RSel, Using, Cond>;
          // After an error: a stream of the join's rows without rows stands in, adding none.
          using stand_in = source_node<detail::stand_in_source<typename N::row_type>>;
          constexpr bool both_watermarked = N::ltime::exists && N::rtime::exists;
          constexpr bool ok = JT == join_type::inner ||
                              (JT == join_type::right_outer ? N::right_evicts
                               : JT == join_type::full_outer ? N::left_evicts && N::right_evicts
                                                             : N::left_evicts);
          static_assert(ok,
                        "sluice rule [stream-join-outer-needs-watermark]: a stream-stream outer or semi join needs "
                        "sl::with_watermark on a timestamp column of both streams and a join key on a watermarked "
                        "column, or sl::time_range or sl::same_window of the two watermarked columns (Spark: "
                        "Stream-stream outer "
                        "join between two streaming DataFrame/Datasets is not supported without a watermark in the "
                        "join keys, or a watermark on the nullable side and an appropriate range condition)");
          (void)both_watermarked;
          if constexpr (ok)
            return N(std::forward<Up>(up), as_node(std::move(right)), std::move(lsel), std::move(rsel), std::move(cond));
          else
            return stand_in{{}};
        } else {
          return std::forward<Up>(up);
        }
      } else {
        return std::forward<Up>(up);
      }
    } else {
      return std::forward<Up>(up);
    }
  }
};

template <join_type JT, class Right, fixed_string N>
auto make_stream_join(Right&& right, col_t<N>) {
  return stream_join_t<JT, std::decay_t<Right>, col_t<N>, col_t<N>, true, no_time_range>{
      std::forward<Right>(right), {}, {}, {}};
}
template <join_type JT, class Right, fixed_string N, class T>
  requires is_time_range_v<T>
auto make_stream_join(Right&& right, col_t<N>, T t) {
  return stream_join_t<JT, std::decay_t<Right>, col_t<N>, col_t<N>, true, T>{
      std::forward<Right>(right), {}, {}, t};
}
template <join_type JT, class Right, class LK, class RK>
  requires(!is_time_range_v<std::decay_t<RK>>)
auto make_stream_join(Right&& right, LK&& lk, RK&& rk) {
  return stream_join_t<JT, std::decay_t<Right>, std::decay_t<LK>, std::decay_t<RK>, false, no_time_range>{
      std::forward<Right>(right), std::forward<LK>(lk), std::forward<RK>(rk), {}};
}
template <join_type JT, class Right, class LK, class RK, class T>
  requires is_time_range_v<T>
auto make_stream_join(Right&& right, LK&& lk, RK&& rk, T t) {
  return stream_join_t<JT, std::decay_t<Right>, std::decay_t<LK>, std::decay_t<RK>, false, T>{
      std::forward<Right>(right), std::forward<LK>(lk), std::forward<RK>(rk), t};
}
}  // namespace detail

// left | sl::join(right, key[, time_range]) / sl::join(right, left_key, right_key[, time_range]),
// and the same for left_join, right_join, full_join and left_semi_join.
template <class Right, class... Args>
  requires pipeable<Right> && (sizeof...(Args) >= 1 && sizeof...(Args) <= 3)
auto join(Right&& right, Args&&... args) {
  return detail::make_stream_join<join_type::inner>(std::forward<Right>(right), std::forward<Args>(args)...);
}
template <class Right, class... Args>
  requires pipeable<Right> && (sizeof...(Args) >= 1 && sizeof...(Args) <= 3)
auto left_join(Right&& right, Args&&... args) {
  return detail::make_stream_join<join_type::left_outer>(std::forward<Right>(right), std::forward<Args>(args)...);
}
template <class Right, class... Args>
  requires pipeable<Right> && (sizeof...(Args) >= 1 && sizeof...(Args) <= 3)
auto right_join(Right&& right, Args&&... args) {
  return detail::make_stream_join<join_type::right_outer>(std::forward<Right>(right), std::forward<Args>(args)...);
}
template <class Right, class... Args>
  requires pipeable<Right> && (sizeof...(Args) >= 1 && sizeof...(Args) <= 3)
auto full_join(Right&& right, Args&&... args) {
  return detail::make_stream_join<join_type::full_outer>(std::forward<Right>(right), std::forward<Args>(args)...);
}
template <class Right, class... Args>
  requires pipeable<Right> && (sizeof...(Args) >= 1 && sizeof...(Args) <= 3)
auto left_semi_join(Right&& right, Args&&... args) {
  return detail::make_stream_join<join_type::left_semi>(std::forward<Right>(right), std::forward<Args>(args)...);
}

}  // namespace sluice

// sl::group_by(keys...): the grouping half of `group_by | aggregate`. Binds each key to the
// input row (sl::col<"name">, sl::window(...), sl::expr<"name">(f)): what the group table
// stores of it, the output column it becomes, whether it carries event time (a window over, or
// the value of, the watermarked column), and how the checkpoint's metadata describes it. The
// grouped stream is a pending node that only sl::aggregate(...) completes (ops/aggregate.hpp).
#pragma once
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <numeric>
#include <string>
#include <tuple>
#include <typeinfo>
#include <type_traits>
#include <utility>

#include "../codec/spark_schema.hpp"
#include "../detail/config.hpp"
#include "../detail/traits.hpp"
#include "../graph/node.hpp"
#include "column.hpp"
#include "expr.hpp"
#include "window.hpp"

namespace sluice {
namespace detail {

// The type of a key or aggregated column as a checkpoint records it: Spark's name for the
// usual ones, else the compiler's.
template <class T>
boost::json::value checkpoint_type_name() {
  using U = typename nullable_of<T>::type;
  constexpr bool spark = std::is_same_v<U, bool> || std::is_same_v<U, std::int8_t> || std::is_same_v<U, std::int16_t> ||
                         std::is_same_v<U, std::int32_t> || std::is_same_v<U, std::int64_t> ||
                         std::is_same_v<U, std::uint8_t> || std::is_same_v<U, std::uint16_t> ||
                         std::is_same_v<U, std::uint32_t> || std::is_same_v<U, std::uint64_t> ||
                         std::is_same_v<U, float> || std::is_same_v<U, double> || std::is_same_v<U, std::string> ||
                         std::is_same_v<U, timestamp>;
  // A type stored as another (Kafka's bytes as std::string) is recorded as that one, so a
  // checkpoint written before it had a type of its own still matches.
  if constexpr (requires { typename U::layout_as; }) return checkpoint_type_name<typename U::layout_as>();
  else if constexpr (spark || requires { U::spark_sql_type; }) return spark_data_type<U>();
  else return typeid(U).name();
}

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
  static constexpr bool resolved = has_column<In, N>;  // else one diagnostic (below), then a stand-in type
  using value_type = typename resolved_column_type<In, N>::type;
  using stored_type = value_type;
  static constexpr auto name = N;
  static constexpr bool is_event_time = std::is_same_v<value_type, timestamp> && Up::props.has_watermark &&
                                        Up::props.watermark_column == N.view();
  explicit bound_key(col_t<N>) { resolve_column<In, N>(); }
  template <class F>
  SLUICE_ALWAYS_INLINE void for_each(const In& r, F&& f) const {
    if constexpr (resolved) f(get<N>(r));
    else f(value_type{});
  }
  const value_type& output(const stored_type& v) const { return v; }
  std::int64_t event_time_end(const stored_type& v) const {
    if constexpr (std::is_same_v<value_type, timestamp>) return v.micros;
    else return 0;
  }
  boost::json::object checkpoint_description() const {
    return {{"key", "column"}, {"name", name.view()}, {"type", checkpoint_type_name<value_type>()}};
  }
};


template <class In, class Sel, bool MaySlide, class Up>
struct bound_key<In, window_spec<Sel, MaySlide>, Up> {
  using selector = bound_selector<In, Sel>;
  static_assert(std::is_same_v<std::remove_cvref_t<typename selector::value_type>, timestamp> ||
                    std::is_same_v<std::remove_cvref_t<typename selector::value_type>, time_window> ||
                    !selector::resolved,
                "sluice::window: the time column must be of type sluice::timestamp (or sluice::time_window: the "
                "window of an aggregation before, taken at its end less a microsecond, Spark's window_time)");
  using value_type = time_window;
  using stored_type = std::int64_t;  // the window's start: its end follows from the length
  static constexpr fixed_string name{"window"};
  // Carries the watermark when a watermark is upstream on this column (or on a column we
  // cannot name, such as a member pointer, which the engine cannot tell apart).
  static constexpr bool is_event_time = Up::props.has_watermark && (!selector::named || Up::props.watermark_column.empty() ||
                                                                 Up::props.watermark_column == selector::name);
  static constexpr bool is_window = true;
  static constexpr bool may_slide = MaySlide;
  selector sel;
  window_spec<Sel, MaySlide> spec;
  // Slices of gcd(duration, slide), aligned with the windows: every window is a whole number
  // of slices, and the windows containing a row are the windows containing its slice.
  std::int64_t slice_length;
  fast_modulus slice_mod;
  explicit bound_key(window_spec<Sel, MaySlide> s)
      : sel(s.column),
        spec(std::move(s)),
        slice_length(std::gcd(spec.length.count(), spec.slide.count())),
        slice_mod(slice_length) {}
  template <class F>
  SLUICE_ALWAYS_INLINE void for_each(const In& r, F&& f) const {
    spec.for_each_window_start(event_micros(sel, r), f);
  }
  // Aggregate into slices and combine them per window, rather than copy rows per window.
  bool sliced() const { return spec.slide < spec.length && !spec.per_window_copies; }
  SLUICE_ALWAYS_INLINE std::int64_t slice_start(const In& r) const {
    const std::int64_t t = event_micros(sel, r);
    return t - slice_mod.floor_mod(t - spec.start_offset.count());
  }
  time_window output(std::int64_t start) const {
    return {timestamp{start}, timestamp{start + spec.length.count()}};
  }
  std::int64_t event_time_end(std::int64_t start) const { return start + spec.length.count(); }
  boost::json::object checkpoint_description() const {
    return {{"key", "window"},
            {"column", selector::named ? std::string(selector::name) : std::string("<event time>")},
            {"durationUs", spec.length.count()},
            {"slideUs", spec.slide.count()},
            {"startOffsetUs", spec.start_offset.count()}};
  }
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
  boost::json::object checkpoint_description() const {
    return {{"key", "expression"}, {"name", name.view()}, {"type", checkpoint_type_name<value_type>()}};
  }
};

template <class K>
inline constexpr bool is_window_key_v = requires { K::is_window; };
template <class K>
inline constexpr bool may_slide_v = [] {
  if constexpr (requires { K::may_slide; }) return K::may_slide;
  else return false;
}();

template <class K>
constexpr bool valid_key() {
  return !is_member_pointer_key_v<K>;
}
}  // namespace detail

// A stream grouped by keys, waiting for sl::aggregate(...).
template <class Up, class... Keys>
struct grouped_node {
  using is_pending_node = void;  // completed by pipe_into (graph/pipe.hpp)
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
  return group_by_t<detail::selector_t<Keys>...>{{detail::to_selector(std::forward<Keys>(keys))...}};
}

}  // namespace sluice

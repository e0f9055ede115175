// Aggregate functions for sl::aggregate: count, sum, avg, min, max, first, last,
// count_distinct and approx_count_distinct. Each is named in the output row, by default
// after Spark ("count", "avg(value)") and otherwise with .as<"name">().
#pragma once
#include <boost/unordered/unordered_flat_set.hpp>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "../detail/fixed_string.hpp"
#include "../detail/hash.hpp"
#include "../detail/hyperloglog.hpp"
#include "column.hpp"

namespace sluice {

// An aggregate function with its output column name.
template <fixed_string Name, class Spec>
struct agg_t {
  static constexpr auto name = Name;
  Spec spec;
  template <fixed_string NewName>
  constexpr agg_t<NewName, Spec> as() const {
    return {spec};
  }
};

namespace detail {
template <fixed_string Fn, class Sel>
consteval auto default_agg_name() {
  if constexpr (is_col_v<Sel>) return concat<Fn, "(", Sel::name, ")">();
  else return Fn;
}

// Each spec binds to the input row type and yields: function (its name, recorded in
// checkpoints), state_type, result_type,
// update(state&, row), result(state), merge(state&, const state&), memory_bytes(state).
// An aggregate with an exact inverse also says `invertible = true` and has unmerge(state&,
// const state&): a sliding window then subtracts the slice that leaves it instead of keeping
// partial aggregates (detail/sliding_aggregator.hpp). Floating-point sums are not invertible:
// subtracting would drift from the per-window result.
struct count_spec {
  template <class In>
  struct bound {
    static constexpr std::string_view function = "count";
    using state_type = std::int64_t;
    using result_type = std::int64_t;
    static constexpr bool invertible = true;
    void update(state_type& s, const In&) const { ++s; }
    void merge(state_type& s, const state_type& o) const { s += o; }
    void unmerge(state_type& s, const state_type& o) const { s -= o; }
    result_type result(const state_type& s) const { return s; }
    static std::size_t memory_bytes(const state_type&) { return sizeof(state_type); }
  };
  template <class In>
  bound<In> bind() const { return {}; }
};

struct no_aggregate_params {};

// The spec of an aggregate over one column: binding it to the input row binds the column
// (`sel`, which the checkpoint description reads) and hands each row's value to
// Impl<value type>, which is all an aggregate function over a column has to write:
// function, state_type, result_type, add(state&, value), merge, result, memory_bytes, and
// optionally invertible + unmerge, arrival_ordered. Params (approx_count_distinct's precision)
// are a base of Impl<V>: given where the aggregate is made, copied into the bound function.
template <class Sel, template <class V> class Impl, class Params = no_aggregate_params>
struct column_aggregate {
  Sel sel;
  [[no_unique_address]] Params params{};
  template <class In>
  using value_type_for = std::remove_cvref_t<typename bound_selector<In, Sel>::value_type>;

  template <class In>
  struct bound : Impl<value_type_for<In>> {
    using impl = Impl<value_type_for<In>>;
    bound_selector<In, Sel> sel;
    void update(typename impl::state_type& s, const In& r) const { impl::add(s, sel(r)); }
  };
  template <class In>
  bound<In> bind() const {
    using impl = typename bound<In>::impl;
    if constexpr (std::is_empty_v<Params>) return {impl{}, bound_selector<In, Sel>(sel)};
    else return {impl{params}, bound_selector<In, Sel>(sel)};
  }
};

template <class V>
using sum_type_t = std::conditional_t<std::is_floating_point_v<V>, double,
                                      std::conditional_t<std::is_unsigned_v<V>, std::uint64_t, std::int64_t>>;

template <class V>
struct sum_fn {
  static_assert(std::is_arithmetic_v<V>, "sluice::sum: the column must be numeric");
  static constexpr std::string_view function = "sum";
  using state_type = sum_type_t<V>;
  using result_type = state_type;
  static constexpr bool invertible = std::is_integral_v<state_type>;
  static void add(state_type& s, const V& v) { s += static_cast<state_type>(v); }
  static void merge(state_type& s, const state_type& o) { s += o; }
  static void unmerge(state_type& s, const state_type& o) { s -= o; }
  static result_type result(const state_type& s) { return s; }
  static std::size_t memory_bytes(const state_type&) { return sizeof(state_type); }
};

struct avg_state {
  double sum = 0;
  std::int64_t count = 0;
  template <class Writer>
  void serialize(Writer& w) const {
    w.write(sum);
    w.write(count);
  }
  template <class Reader>
  void deserialize(Reader& r) {
    r.read(sum);
    r.read(count);
  }
};

template <class V>
struct avg_fn {
  static_assert(std::is_arithmetic_v<V>, "sluice::avg: the column must be numeric");
  static constexpr std::string_view function = "avg";
  using state_type = avg_state;
  using result_type = double;
  // Integer values sum exactly in a double (below 2^53), so subtracting them is exact too.
  static constexpr bool invertible = std::is_integral_v<V>;
  static void add(state_type& s, const V& v) {
    s.sum += static_cast<double>(v);
    ++s.count;
  }
  static void merge(state_type& s, const state_type& o) {
    s.sum += o.sum;
    s.count += o.count;
  }
  static void unmerge(state_type& s, const state_type& o) {
    s.sum -= o.sum;
    s.count -= o.count;
  }
  static result_type result(const state_type& s) { return s.count ? s.sum / static_cast<double>(s.count) : 0.0; }
  static std::size_t memory_bytes(const state_type&) { return sizeof(state_type); }
};

enum class pick { min, max, first, last };

template <pick Kind>
struct pick_fn {
  template <class V>
  struct of {
    static constexpr std::string_view function =
        Kind == pick::min ? "min" : Kind == pick::max ? "max" : Kind == pick::first ? "first" : "last";
    using state_type = std::optional<V>;
    using result_type = V;
    // first/last follow the arrival of rows across the whole window, which slices (merged in
    // time order) do not keep: a sliding window with them copies rows per window.
    static constexpr bool arrival_ordered = Kind == pick::first || Kind == pick::last;
    template <class U>
    static void add(state_type& s, U&& v) {
      if constexpr (Kind == pick::min) {
        if (!s || v < *s) s = std::forward<U>(v);
      } else if constexpr (Kind == pick::max) {
        if (!s || *s < v) s = std::forward<U>(v);
      } else if constexpr (Kind == pick::first) {
        if (!s) s = std::forward<U>(v);
      } else {
        s = std::forward<U>(v);
      }
    }
    // `o` holds later rows than `s` (slices merge in time order).
    static void merge(state_type& s, const state_type& o) {
      if (o) add(s, *o);
    }
    static result_type result(const state_type& s) { return s ? *s : V{}; }
    static std::size_t memory_bytes(const state_type&) { return sizeof(state_type); }
  };
};

template <class V>
struct count_distinct_fn {
  static constexpr std::string_view function = "count_distinct";
  struct value_hash {
    std::size_t operator()(const V& v) const { return hash_value_of(v); }
  };
  using state_type = boost::unordered_flat_set<V, value_hash>;
  using result_type = std::int64_t;
  template <class U>
  static void add(state_type& s, U&& v) { s.insert(std::forward<U>(v)); }
  static void merge(state_type& s, const state_type& o) { s.insert(o.begin(), o.end()); }
  static result_type result(const state_type& s) { return static_cast<std::int64_t>(s.size()); }
  static std::size_t memory_bytes(const state_type& s) { return s.size() * (sizeof(V) + 1); }
};

struct hll_precision {
  int precision;
};

struct hll_state {
  hyperloglog hll;
  template <class Writer>
  void serialize(Writer& w) const {
    w.write(hll);
  }
  template <class Reader>
  void deserialize(Reader& r) {
    r.read(hll);
  }
};

template <class V>
struct approx_count_distinct_fn : hll_precision {
  static constexpr std::string_view function = "approx_count_distinct";
  using state_type = hll_state;
  using result_type = std::int64_t;
  void add(state_type& s, const V& v) const {
    if (s.hll.precision() == 0) s.hll = hyperloglog(precision);
    s.hll.add_hash(mix64(hash_value_of(v)));
  }
  void merge(state_type& s, const state_type& o) const {
    if (o.hll.precision() == 0) return;
    if (s.hll.precision() == 0) s.hll = hyperloglog(precision);
    s.hll.merge(o.hll);
  }
  static result_type result(const state_type& s) { return s.hll.precision() ? s.hll.estimate() : 0; }
  static std::size_t memory_bytes(const state_type& s) { return s.hll.memory_bytes(); }
};

template <fixed_string Fn, class Sel, template <class V> class Impl, class Params = no_aggregate_params>
constexpr auto column_agg(Sel column, Params params = {}) {
  // A member pointer becomes the sl::col<"name"> it names, so the plan type is the same.
  using S = selector_t<Sel>;
  return agg_t<default_agg_name<Fn, S>(), column_aggregate<S, Impl, Params>>{{to_selector(column), params}};
}
}  // namespace detail

// count(*) of each group.
inline constexpr agg_t<"count", detail::count_spec> count() { return {}; }

template <class Sel>
constexpr auto sum(Sel column) {
  return detail::column_agg<"sum", Sel, detail::sum_fn>(column);
}
template <class Sel>
constexpr auto avg(Sel column) {
  return detail::column_agg<"avg", Sel, detail::avg_fn>(column);
}
template <class Sel>
constexpr auto min(Sel column) {
  return detail::column_agg<"min", Sel, detail::pick_fn<detail::pick::min>::template of>(column);
}
template <class Sel>
constexpr auto max(Sel column) {
  return detail::column_agg<"max", Sel, detail::pick_fn<detail::pick::max>::template of>(column);
}
// The value of the first / last row of the group, in arrival order.
template <class Sel>
constexpr auto first(Sel column) {
  return detail::column_agg<"first", Sel, detail::pick_fn<detail::pick::first>::template of>(column);
}
template <class Sel>
constexpr auto last(Sel column) {
  return detail::column_agg<"last", Sel, detail::pick_fn<detail::pick::last>::template of>(column);
}
// Exact distinct count. Its state grows with the distinct values of a group, so group by a
// window with a watermark: the set goes when the window is evicted.
template <class Sel>
constexpr auto count_distinct(Sel column) {
  return detail::column_agg<"count_distinct", Sel, detail::count_distinct_fn>(column);
}
// HyperLogLog estimate with relative standard deviation `rsd` (Spark's default 0.05).
template <class Sel>
auto approx_count_distinct(Sel column, double rsd = 0.05) {
  return detail::column_agg<"approx_count_distinct", Sel, detail::approx_count_distinct_fn>(
      column, detail::hll_precision{detail::hyperloglog::precision_for(rsd)});
}

}  // namespace sluice

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

template <class V>
using sum_type_t = std::conditional_t<std::is_floating_point_v<V>, double,
                                      std::conditional_t<std::is_unsigned_v<V>, std::uint64_t, std::int64_t>>;

template <class Sel>
struct sum_spec {
  Sel sel;
  template <class In>
  struct bound {
    static constexpr std::string_view function = "sum";
    bound_selector<In, Sel> sel;
    using value_type = std::remove_cvref_t<typename bound_selector<In, Sel>::value_type>;
    static_assert(std::is_arithmetic_v<value_type>, "sluice::sum: the column must be numeric");
    using state_type = sum_type_t<value_type>;
    using result_type = state_type;
    static constexpr bool invertible = std::is_integral_v<state_type>;
    void update(state_type& s, const In& r) const { s += static_cast<state_type>(sel(r)); }
    void merge(state_type& s, const state_type& o) const { s += o; }
    void unmerge(state_type& s, const state_type& o) const { s -= o; }
    result_type result(const state_type& s) const { return s; }
    static std::size_t memory_bytes(const state_type&) { return sizeof(state_type); }
  };
  template <class In>
  bound<In> bind() const { return {bound_selector<In, Sel>(sel)}; }
};

template <class Sel>
struct avg_spec {
  Sel sel;
  template <class In>
  struct bound {
    static constexpr std::string_view function = "avg";
    bound_selector<In, Sel> sel;
    using value_type = std::remove_cvref_t<typename bound_selector<In, Sel>::value_type>;
    static_assert(std::is_arithmetic_v<value_type>, "sluice::avg: the column must be numeric");
    struct state_type {
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
    using result_type = double;
    // Integer values sum exactly in a double (below 2^53), so subtracting them is exact too.
    static constexpr bool invertible = std::is_integral_v<value_type>;
    void update(state_type& s, const In& r) const {
      s.sum += static_cast<double>(sel(r));
      ++s.count;
    }
    void merge(state_type& s, const state_type& o) const {
      s.sum += o.sum;
      s.count += o.count;
    }
    void unmerge(state_type& s, const state_type& o) const {
      s.sum -= o.sum;
      s.count -= o.count;
    }
    result_type result(const state_type& s) const { return s.count ? s.sum / static_cast<double>(s.count) : 0.0; }
    static std::size_t memory_bytes(const state_type&) { return sizeof(state_type); }
  };
  template <class In>
  bound<In> bind() const { return {bound_selector<In, Sel>(sel)}; }
};

enum class pick { min, max, first, last };

template <class Sel, pick Kind>
struct pick_spec {
  Sel sel;
  template <class In>
  struct bound {
    static constexpr std::string_view function =
        Kind == pick::min ? "min" : Kind == pick::max ? "max" : Kind == pick::first ? "first" : "last";
    bound_selector<In, Sel> sel;
    using value_type = std::remove_cvref_t<typename bound_selector<In, Sel>::value_type>;
    using state_type = std::optional<value_type>;
    using result_type = value_type;
    // first/last follow the arrival of rows across the whole window, which slices (merged in
    // time order) do not keep: a sliding window with them copies rows per window.
    static constexpr bool arrival_ordered = Kind == pick::first || Kind == pick::last;
    void update(state_type& s, const In& r) const { take(s, sel(r)); }
    template <class V>
    static void take(state_type& s, V&& v) {
      if constexpr (Kind == pick::min) {
        if (!s || v < *s) s = std::forward<V>(v);
      } else if constexpr (Kind == pick::max) {
        if (!s || *s < v) s = std::forward<V>(v);
      } else if constexpr (Kind == pick::first) {
        if (!s) s = std::forward<V>(v);
      } else {
        s = std::forward<V>(v);
      }
    }
    // `o` holds later rows than `s` (slices merge in time order).
    void merge(state_type& s, const state_type& o) const {
      if (o) take(s, *o);
    }
    result_type result(const state_type& s) const { return s ? *s : value_type{}; }
    static std::size_t memory_bytes(const state_type&) { return sizeof(state_type); }
  };
  template <class In>
  bound<In> bind() const { return {bound_selector<In, Sel>(sel)}; }
};

template <class Sel>
struct count_distinct_spec {
  Sel sel;
  template <class In>
  struct bound {
    static constexpr std::string_view function = "count_distinct";
    bound_selector<In, Sel> sel;
    using value_type = std::remove_cvref_t<typename bound_selector<In, Sel>::value_type>;
    struct value_hash {
      std::size_t operator()(const value_type& v) const { return hash_value_of(v); }
    };
    using state_type = boost::unordered_flat_set<value_type, value_hash>;
    using result_type = std::int64_t;
    void update(state_type& s, const In& r) const { s.insert(sel(r)); }
    void merge(state_type& s, const state_type& o) const { s.insert(o.begin(), o.end()); }
    result_type result(const state_type& s) const { return static_cast<std::int64_t>(s.size()); }
    static std::size_t memory_bytes(const state_type& s) { return s.size() * (sizeof(value_type) + 1); }
  };
  template <class In>
  bound<In> bind() const { return {bound_selector<In, Sel>(sel)}; }
};

template <class Sel>
struct approx_count_distinct_spec {
  Sel sel;
  int precision;
  template <class In>
  struct bound {
    static constexpr std::string_view function = "approx_count_distinct";
    bound_selector<In, Sel> sel;
    int precision;
    using value_type = std::remove_cvref_t<typename bound_selector<In, Sel>::value_type>;
    struct state_type {
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
    using result_type = std::int64_t;
    void update(state_type& s, const In& r) const {
      if (s.hll.precision() == 0) s.hll = hyperloglog(precision);
      s.hll.add_hash(mix64(hash_value_of(sel(r))));
    }
    void merge(state_type& s, const state_type& o) const {
      if (o.hll.precision() == 0) return;
      if (s.hll.precision() == 0) s.hll = hyperloglog(precision);
      s.hll.merge(o.hll);
    }
    result_type result(const state_type& s) const { return s.hll.precision() ? s.hll.estimate() : 0; }
    static std::size_t memory_bytes(const state_type& s) { return s.hll.memory_bytes(); }
  };
  template <class In>
  bound<In> bind() const { return {bound_selector<In, Sel>(sel), precision}; }
};
}  // namespace detail

// count(*) of each group.
inline constexpr agg_t<"count", detail::count_spec> count() { return {}; }

template <class Sel>
constexpr auto sum(Sel column) {
  using S = detail::selector_t<Sel>;
  return agg_t<detail::default_agg_name<"sum", S>(), detail::sum_spec<S>>{{detail::to_selector(column)}};
}
template <class Sel>
constexpr auto avg(Sel column) {
  using S = detail::selector_t<Sel>;
  return agg_t<detail::default_agg_name<"avg", S>(), detail::avg_spec<S>>{{detail::to_selector(column)}};
}
template <class Sel>
constexpr auto min(Sel column) {
  using S = detail::selector_t<Sel>;
  return agg_t<detail::default_agg_name<"min", S>(), detail::pick_spec<S, detail::pick::min>>{{detail::to_selector(column)}};
}
template <class Sel>
constexpr auto max(Sel column) {
  using S = detail::selector_t<Sel>;
  return agg_t<detail::default_agg_name<"max", S>(), detail::pick_spec<S, detail::pick::max>>{{detail::to_selector(column)}};
}
// The value of the first / last row of the group, in arrival order.
template <class Sel>
constexpr auto first(Sel column) {
  using S = detail::selector_t<Sel>;
  return agg_t<detail::default_agg_name<"first", S>(), detail::pick_spec<S, detail::pick::first>>{{detail::to_selector(column)}};
}
template <class Sel>
constexpr auto last(Sel column) {
  using S = detail::selector_t<Sel>;
  return agg_t<detail::default_agg_name<"last", S>(), detail::pick_spec<S, detail::pick::last>>{{detail::to_selector(column)}};
}
// Exact distinct count. Its state grows with the distinct values of a group, so group by a
// window with a watermark: the set goes when the window is evicted.
template <class Sel>
constexpr auto count_distinct(Sel column) {
  using S = detail::selector_t<Sel>;
  return agg_t<detail::default_agg_name<"count_distinct", S>(), detail::count_distinct_spec<S>>{{detail::to_selector(column)}};
}
// HyperLogLog estimate with relative standard deviation `rsd` (Spark's default 0.05).
template <class Sel>
auto approx_count_distinct(Sel column, double rsd = 0.05) {
  using S = detail::selector_t<Sel>;
  return agg_t<detail::default_agg_name<"approx_count_distinct", S>(), detail::approx_count_distinct_spec<S>>{
      {detail::to_selector(column), detail::hyperloglog::precision_for(rsd)}};
}

}  // namespace sluice

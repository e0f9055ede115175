// sl::sort_by(column[, order]) / sl::sort_by(less) and sl::limit(n). On a stream these are
// only meaningful over a whole result, so, as in Spark, they are allowed only after an
// aggregation in complete mode (checked by sl::start). They order or cut each batch's output.
#pragma once
#include <algorithm>
#include <cstddef>
#include <functional>
#include <type_traits>
#include <vector>

#include "../graph/node.hpp"
#include "column.hpp"

namespace sluice {

enum class sort_order { ascending, descending };

namespace detail {
// rule: sort and limit only after an aggregation, in complete mode (Spark's checker).
template <class Q>
constexpr bool check_sort_or_limit_shape() {
  constexpr bool after_aggregation = any_stage<typename Q::before, is_aggregation>;
  static_assert(after_aggregation,
                "sluice rule [sort-limit-on-stream]: sort_by and limit are not supported on a stream; use them "
                "after an aggregation in output_mode::complete");
  static_assert(!(after_aggregation && Q::mode != output_mode_kind::complete),
                "sluice rule [sort-limit-needs-complete]: sort_by and limit after an aggregation need "
                "output_mode::complete");
  return true;
}

template <class In, class Less>
struct sort_stage {
  static constexpr stage_kind kind = stage_kind::stateful;
  using output_row = In;
  static constexpr graph_props transform(graph_props p) { return p; }
  template <class Q>
  static constexpr bool check_shape() { return check_sort_or_limit_shape<Q>(); }
  Less less;
  std::vector<In> rows;
  std::uint64_t attempt = 0;  // rows belong to this run of a batch (a failed run leaves some)
  template <class R>
  void accept(batch_context& ctx, R&& r) {
    if (ctx.attempt != attempt) rows.clear(), attempt = ctx.attempt;
    rows.emplace_back(std::forward<R>(r));
  }
  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    if (ctx.attempt != attempt) rows.clear(), attempt = ctx.attempt;
    std::stable_sort(rows.begin(), rows.end(), less);
    for (auto& r : rows) down(std::move(r));
    rows.clear();
  }
};

template <class In>
struct limit_stage {
  static constexpr stage_kind kind = stage_kind::stateful;
  using output_row = In;
  static constexpr graph_props transform(graph_props p) { return p; }
  template <class Q>
  static constexpr bool check_shape() { return check_sort_or_limit_shape<Q>(); }
  std::size_t n;
  std::vector<In> rows{};  // {}: limit_stage<In>{n} leaves it out without a -Wextra warning
  std::uint64_t attempt = 0;  // rows belong to this run of a batch (a failed run leaves some)
  template <class R>
  void accept(batch_context& ctx, R&& r) {
    if (ctx.attempt != attempt) rows.clear(), attempt = ctx.attempt;
    if (rows.size() < n) rows.emplace_back(std::forward<R>(r));
  }
  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    if (ctx.attempt != attempt) rows.clear(), attempt = ctx.attempt;
    for (auto& r : rows) down(std::move(r));
    rows.clear();
  }
};
}  // namespace detail

template <class Sel>
struct sort_by_t {
  using is_stage_descriptor = void;
  Sel sel;
  sort_order order;
  template <class In>
  auto bind() && {
    if constexpr (std::is_invocable_r_v<bool, const Sel&, const In&, const In&>) {
      return detail::sort_stage<In, Sel>{std::move(sel), {}};
    } else {
      detail::bound_selector<In, Sel> key(std::move(sel));
      auto less = [key, desc = order == sort_order::descending](const In& a, const In& b) {
        return desc ? key(b) < key(a) : key(a) < key(b);
      };
      return detail::sort_stage<In, decltype(less)>{std::move(less), {}};
    }
  }
};

// column: sl::col<"name">, a member pointer, a key function, or a less(a, b) comparator.
template <class Sel>
sort_by_t<detail::selector_t<Sel>> sort_by(Sel&& column, sort_order order = sort_order::ascending) {
  return {detail::to_selector(std::forward<Sel>(column)), order};
}

struct limit_t {
  using is_stage_descriptor = void;
  std::size_t n;
  template <class In>
  auto bind() && {
    return detail::limit_stage<In>{n};
  }
};

inline limit_t limit(std::size_t n) { return {n}; }

}  // namespace sluice

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
inline constexpr graph_props mark_sort_or_limit(graph_props p) {
  if (p.aggregated) p.sort_or_limit_after_aggregation = true;
  else p.sort_or_limit_on_stream = true;
  return p;
}

template <class In, class Less>
struct sort_stage {
  static constexpr stage_kind kind = stage_kind::stateful;
  using output_row = In;
  static constexpr graph_props transform(graph_props p) { return mark_sort_or_limit(p); }
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
  static constexpr graph_props transform(graph_props p) { return mark_sort_or_limit(p); }
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
sort_by_t<std::decay_t<Sel>> sort_by(Sel&& column, sort_order order = sort_order::ascending) {
  return {std::forward<Sel>(column), order};
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

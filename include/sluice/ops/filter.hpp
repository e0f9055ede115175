// sl::filter(pred): keeps the rows for which pred(row) is true; the row type is unchanged.
#pragma once
#include <functional>
#include <type_traits>
#include <utility>

#include "../graph/node.hpp"
#include "../graph/stand_in.hpp"

namespace sluice {
namespace detail {
template <class In, class P>
struct filter_stage {
  static constexpr stage_kind kind = stage_kind::stateless;
  using output_row = In;
  static constexpr graph_props transform(graph_props p) { return p; }
  P pred;
  template <class R, class Down>
  void push(R&& r, Down& down) {
    if (std::invoke(pred, std::as_const(r))) down(std::forward<R>(r));
  }
};
}  // namespace detail

template <class P>
struct filter_t {
  using is_stage_descriptor = void;
  P pred;
  template <class In>
  auto bind() && {
    static_assert(std::is_invocable_v<P&, const In&>,
                  "sluice::filter: the predicate must be callable with the incoming row type (const Row&)");
    if constexpr (std::is_invocable_v<P&, const In&>) {
      static_assert(std::is_convertible_v<std::invoke_result_t<P&, const In&>, bool>,
                    "sluice::filter: the predicate must return bool");
      if constexpr (std::is_convertible_v<std::invoke_result_t<P&, const In&>, bool>)
        return detail::filter_stage<In, P>{std::move(pred)};
      else
        return detail::stand_in_stage<In>{};  // after the error: adds none
    } else {
      return detail::stand_in_stage<In>{};
    }
  }
};

template <class P>
filter_t<std::decay_t<P>> filter(P&& pred) {
  return {std::forward<P>(pred)};
}
}  // namespace sluice

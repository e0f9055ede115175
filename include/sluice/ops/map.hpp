// sl::map(f): one row in, one row out; the output row type is what f returns.
#pragma once
#include <functional>
#include <type_traits>
#include <utility>

#include "../graph/node.hpp"
#include "../graph/stand_in.hpp"

namespace sluice {
namespace detail {
template <class Out, class F>
struct map_stage {
  static constexpr stage_kind kind = stage_kind::stateless;
  using output_row = Out;
  static constexpr graph_props transform(graph_props p) {
    p.watermark_column = {};  // an opaque function hides which column carries event time
    return p;
  }
  F f;
  template <class R, class Down>
  void push(R&& r, Down& down) {
    down(std::invoke(f, std::forward<R>(r)));
  }
};
}  // namespace detail

template <class F>
struct map_t {
  using is_stage_descriptor = void;
  F f;
  template <class In>
  auto bind() && {
    static_assert(std::is_invocable_v<F&, const In&>,
                  "sluice::map: the function must be callable with the incoming row type (const Row&)");
    if constexpr (std::is_invocable_v<F&, const In&>) {
      using Out = std::remove_cvref_t<std::invoke_result_t<F&, const In&>>;
      static_assert(!std::is_void_v<Out>, "sluice::map: the function must return the new row");
      if constexpr (!std::is_void_v<Out>) return detail::map_stage<Out, F>{std::move(f)};
      else return detail::stand_in_stage<In>{};
    } else {
      return detail::stand_in_stage<In>{};
    }
  }
};

template <class F>
map_t<std::decay_t<F>> map(F&& f) {
  return {std::forward<F>(f)};
}
}  // namespace sluice

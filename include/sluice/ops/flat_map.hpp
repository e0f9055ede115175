// sl::flat_map(f): zero or more rows out per row in.
//   sl::flat_map(f)        f(row) returns a range (vector, array, optional, a std or range-v3
//                          view...) of output rows
//   sl::flat_map<Out>(f)   f(row, emit) calls emit(out_row) any number of times: no allocation
#pragma once
#include <functional>
#include <iterator>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>

#include "../detail/traits.hpp"
#include "../graph/node.hpp"

namespace sluice {
namespace detail {
template <class Out>
struct emit_probe_fn {
  void operator()(const Out&) const {}
};

template <class Out, class F, bool Callback>
struct flat_map_stage {
  static constexpr stage_kind kind = stage_kind::stateless;
  using output_row = Out;
  static constexpr graph_props transform(graph_props p) {
    p.watermark_column = {};
    return p;
  }
  F f;
  template <class R, class Down>
  void push(R&& r, Down& down) {
    if constexpr (Callback) {
      std::invoke(f, std::as_const(r), down);
    } else {
      auto&& produced = std::invoke(f, std::as_const(r));
      if constexpr (is_optional_v<std::remove_cvref_t<decltype(produced)>>) {
        if (produced) down(std::move(*produced));
      } else {
        for (auto&& o : produced) down(std::forward<decltype(o)>(o));
      }
    }
  }
};

// A range, or anything a range-for walks: also range-v3 views that are not std ranges (an
// iota over int64_t has a difference type wider than the std concepts accept).
template <class R>
concept iterable = std::ranges::range<R> || requires(R& r) {
  std::begin(r) != std::end(r);
  *std::begin(r);
};

template <class R>
struct produced_row {
  using type = std::remove_cvref_t<decltype(*std::begin(std::declval<R&>()))>;
};
template <std::ranges::range R>
struct produced_row<R> {
  using type = std::ranges::range_value_t<R>;
};
template <class T>
struct produced_row<std::optional<T>> {
  using type = T;
};
}  // namespace detail

template <class Out, class F>
struct flat_map_t {
  using is_stage_descriptor = void;
  F f;
  template <class In>
  auto bind() && {
    if constexpr (std::is_void_v<Out>) {
      static_assert(std::is_invocable_v<F&, const In&>,
                    "sluice::flat_map: f must be callable with the row (const Row&) and return a range of rows; "
                    "or write sl::flat_map<Out>(f) with f(row, emit)");
      using Produced = std::remove_cvref_t<std::invoke_result_t<F&, const In&>>;
      static_assert(detail::iterable<Produced> || detail::is_optional_v<Produced>,
                    "sluice::flat_map: f must return a range (or std::optional) of output rows");
      using O = std::remove_cvref_t<typename detail::produced_row<Produced>::type>;
      return detail::flat_map_stage<O, F, false>{std::move(f)};
    } else {
      static_assert(std::is_invocable_v<F&, const In&, detail::emit_probe_fn<Out>&>,
                    "sluice::flat_map<Out>: f must be callable as f(const Row&, emit) and call emit(Out)");
      return detail::flat_map_stage<Out, F, true>{std::move(f)};
    }
  }
};

template <class Out = void, class F>
flat_map_t<Out, std::decay_t<F>> flat_map(F&& f) {
  return {std::forward<F>(f)};
}
}  // namespace sluice

// sl::expr<"name">(f): a computed, named column, for group_by keys and select.
#pragma once
#include <type_traits>
#include <utility>

#include "../detail/fixed_string.hpp"

namespace sluice {
template <fixed_string Name, class F>
struct expr_t {
  static constexpr auto name = Name;
  F f;
};

template <fixed_string Name, class F>
expr_t<Name, std::decay_t<F>> expr(F&& f) {
  return {std::forward<F>(f)};
}

namespace detail {
template <class T>
inline constexpr bool is_expr_v = false;
template <fixed_string N, class F>
inline constexpr bool is_expr_v<expr_t<N, F>> = true;
}  // namespace detail
}  // namespace sluice

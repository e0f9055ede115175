// Column selectors: sl::col<"name"> (checked against the row type at compile time, and named
// in generated rows), a member pointer (&Event::value), or a function of the row.
#pragma once
#include <functional>
#include <string_view>
#include <type_traits>

#include "../detail/fixed_string.hpp"
#include "../schema.hpp"

namespace sluice {

template <fixed_string Name>
struct col_t {
  static constexpr auto name = Name;
};
template <fixed_string Name>
inline constexpr col_t<Name> col{};

namespace detail {
template <class T>
inline constexpr bool is_col_v = false;
template <fixed_string N>
inline constexpr bool is_col_v<col_t<N>> = true;

// Binds a selector to a row type: value(row) and, where known, a compile-time name.
template <class In, class Sel>
struct bound_selector;

template <class In, fixed_string N>
struct bound_selector<In, col_t<N>> {
  static_assert(has_column<In, N>, "sluice::col<\"name\">: the row type has no column of this name");
  static constexpr std::string_view name = N.view();
  static constexpr bool named = true;
  static constexpr auto fixed_name = N;
  using value_type = column_type_t<In, N>;
  explicit bound_selector(col_t<N>) {}
  const value_type& operator()(const In& r) const { return get<N>(r); }
};

template <class In, class M, class C>
struct bound_selector<In, M C::*> {
  static_assert(std::is_base_of_v<C, In> || std::is_same_v<C, In>,
                "sluice: the member pointer belongs to another struct than the row type");
  static constexpr std::string_view name{};
  static constexpr bool named = false;
  static constexpr fixed_string fixed_name{""};
  using value_type = M;
  M C::*member;
  explicit bound_selector(M C::*m) : member(m) {}
  const M& operator()(const In& r) const { return r.*member; }
};

template <class In, class F>
  requires(!std::is_member_pointer_v<F> && !is_col_v<F>)
struct bound_selector<In, F> {
  static_assert(std::is_invocable_v<const F&, const In&>,
                "sluice: a column function must be callable with the row type (const Row&)");
  static constexpr std::string_view name{};
  static constexpr bool named = false;
  static constexpr fixed_string fixed_name{""};
  using value_type = std::remove_cvref_t<std::invoke_result_t<const F&, const In&>>;
  F f;
  explicit bound_selector(F fn) : f(std::move(fn)) {}
  value_type operator()(const In& r) const { return std::invoke(f, r); }
};
}  // namespace detail

}  // namespace sluice

// sl::select(columns...): a projection into a generated row (sl::col<"name"> keeps a column,
// sl::expr<"name">(f) computes one). sl::as<T>(): converts rows to the user struct T by field
// name, checked at compile time.
#pragma once
#include <functional>
#include <type_traits>
#include <utility>

#include "../graph/node.hpp"
#include "../schema.hpp"
#include "column.hpp"
#include "expr.hpp"

namespace sluice {
namespace detail {
template <class In, class C>
struct projected;
template <class In, fixed_string N>
struct projected<In, col_t<N>> {
  static constexpr bool resolved = has_column<In, N>;  // else one diagnostic (select_t::bind), then a stand-in
  static void check() { resolve_column<In, N>(); }
  using column_type = column<N, typename resolved_column_type<In, N>::type>;
  static decltype(auto) value(const col_t<N>&, const In& r) {
    if constexpr (resolved) return get<N>(r);
    else return typename column_type::type{};
  }
};
template <class In, class C>
void check_projection() {
  if constexpr (requires { projected<In, C>::check(); }) projected<In, C>::check();
}
template <class In, fixed_string N, class F>
struct projected<In, expr_t<N, F>> {
  static_assert(std::is_invocable_v<const F&, const In&>,
                "sluice::select: sl::expr<\"name\">(f): f must be callable with the row type (const Row&)");
  using column_type = column<N, std::remove_cvref_t<std::invoke_result_t<const F&, const In&>>>;
  static decltype(auto) value(const expr_t<N, F>& e, const In& r) { return std::invoke(e.f, r); }
};

template <class In, class... Cols>
struct select_stage {
  static constexpr stage_kind kind = stage_kind::stateless;
  using columns = boost::mp11::mp_list<typename projected<In, Cols>::column_type...>;
  static_assert(unique_names<columns>::value, "sluice::select: two output columns have the same name");
  using output_row = row_from_columns<columns>;
  static constexpr graph_props transform(graph_props p) { return p; }
  std::tuple<Cols...> cols;
  template <class R, class Down>
  void push(R&& r, Down& down) {
    std::apply([&](const auto&... c) { down(output_row{{projected<In, Cols>::value(c, r)}...}); }, cols);
  }
};

// Converted: false after the diagnostic naming T's missing field; the stage then stands in
// (default rows of T) so that nothing downstream fails too.
template <class Target, bool Converted = true>
struct as_stage {
  static constexpr stage_kind kind = stage_kind::stateless;
  using output_row = Target;
  static constexpr graph_props transform(graph_props p) { return p; }
  template <class R, class Down>
  void push(R&& r, Down& down) {
    if constexpr (Converted) down(convert_to<Target>(std::forward<R>(r)));
    else down(Target{});
  }
};

// The first field of Target that In lacks or cannot convert, as a diagnostic.
template <class Target, class In>
void check_as() {
  if constexpr (!sluice::convertible_by_name<In, Target>) {
    using missing = boost::mp11::mp_at<
        columns_of<Target>,
        boost::mp11::mp_find_if_q<columns_of<Target>,
                                  boost::mp11::mp_bind_front<column_not_convertible, In>>>;
    diagnostics::raise<diagnostics::as_target_field_not_in_row_or_not_convertible<
        Target, missing::name, In, typename given_columns<columns_of<In>>::type>>();
  }
}
}  // namespace detail

template <class... Cols>
struct select_t {
  using is_stage_descriptor = void;
  std::tuple<Cols...> cols;
  template <class In>
  auto bind() && {
    static_assert(record<In>, "sluice::select: the row type must be a described struct or a generated row");
    (detail::check_projection<In, Cols>(), ...);
    return detail::select_stage<In, Cols...>{std::move(cols)};
  }
};

template <class... Cols>
select_t<detail::selector_t<Cols>...> select(Cols&&... cols) {
  return {{detail::to_selector(std::forward<Cols>(cols))...}};
}

template <class Target>
struct as_t {
  using is_stage_descriptor = void;
  template <class In>
  auto bind() && {
    static_assert(described_struct<Target>, "sluice::as<T>: T must be a struct described with BOOST_DESCRIBE_STRUCT");
    static_assert(record<In>, "sluice::as<T>: the row type must be a described struct or a generated row");
    // Spark's "cannot resolve 'region' given input columns": one error naming T's field.
    if constexpr (described_struct<Target> && record<In>) {
      detail::check_as<Target, In>();
      return detail::as_stage<Target, convertible_by_name<In, Target>>{};
    } else {
      return detail::as_stage<Target, false>{};
    }
  }
};

template <class Target>
as_t<Target> as() {
  return {};
}

}  // namespace sluice

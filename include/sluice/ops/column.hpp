// Column selectors: sl::col<"name"> (checked against the row type at compile time, and named
// in generated rows), a member pointer (&Event::value, or sl::col<&Event::value>), the literal
// "value"_c, or a function of the row.
//
// A member pointer names its column: the stages take it as sl::col<"its name">, so the output
// rows, progress and checkpoint metadata are the same whichever form the query uses. The name
// comes from Boost.Describe: sl::col<&Event::event_type> (a template argument, so its value is
// known) matches the pointer against the described members; a member pointer passed as a
// function argument carries only its type, so it names the one described public member of
// that type, and the query must write sl::col<&S::m> (or "m"_c) when there are several.
#pragma once
#include <boost/describe.hpp>
#include <boost/mp11.hpp>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include "../detail/diagnostics.hpp"
#include "../detail/fixed_string.hpp"
#include "../schema.hpp"

namespace sluice {

template <fixed_string Name>
struct col_t {
  static constexpr auto name = Name;
};

// sl::col's template argument: a column name or a member pointer.
template <class T>
struct column_ref;
template <std::size_t N>
struct column_ref<fixed_string<N>> {
  fixed_string<N> value;
  constexpr column_ref(const char (&text)[N]) : value(text) {}
  constexpr column_ref(fixed_string<N> name) : value(name) {}
};
template <class M, class C>
struct column_ref<M C::*> {
  M C::*value;
  constexpr column_ref(M C::*member) : value(member) {}
};
template <std::size_t N>
column_ref(const char (&)[N]) -> column_ref<fixed_string<N>>;
template <std::size_t N>
column_ref(fixed_string<N>) -> column_ref<fixed_string<N>>;
template <class M, class C>
column_ref(M C::*) -> column_ref<M C::*>;

namespace detail {
template <class C>
using public_members = boost::describe::describe_members<C, boost::describe::mod_public>;
template <class D>
using member_pointer_t = std::remove_cv_t<decltype(D::pointer)>;
template <class D>
inline constexpr auto member_name_v = to_fixed<c_strlen(D::name)>(D::name);

// The described public members of C whose type is M.
template <class C, class M>
struct members_of_type {
  template <class D>
  using fits = std::is_same<member_pointer_t<D>, M C::*>;
  using type = boost::mp11::mp_copy_if<public_members<C>, fits>;
};

template <class C, class M>
consteval std::size_t member_index(M C::*member) {
  std::size_t i = 0, found = boost::mp11::mp_size<public_members<C>>::value;
  boost::mp11::mp_for_each<public_members<C>>([&](auto d) {
    if constexpr (std::is_same_v<member_pointer_t<decltype(d)>, M C::*>)
      if (d.pointer == member) found = i;
    ++i;
  });
  return found;
}

template <class C, class M, class Candidates>
struct candidate_names;
template <class C, class M, template <class...> class L, class... D>
struct candidate_names<C, M, L<D...>> {
  using type = diagnostics::candidates<member_name_v<D>...>;
};

// The column a member pointer *type* names: col_t<name>, or, after one diagnostic, the member
// pointer itself (bound_selector reads it without a name), so nothing else fails.
template <class C, class M>
consteval auto column_of_member_type() {
  if constexpr (!boost::describe::has_describe_members<C>::value) {
    diagnostics::raise<diagnostics::member_pointer_column_needs_a_struct_described_with_BOOST_DESCRIBE_STRUCT<C, M>>();
    return static_cast<M C::*>(nullptr);
  } else {
    using L = typename members_of_type<C, M>::type;
    if constexpr (boost::mp11::mp_size<L>::value == 1) {
      return col_t<member_name_v<boost::mp11::mp_front<L>>>{};
    } else if constexpr (boost::mp11::mp_empty<L>::value) {
      diagnostics::raise<diagnostics::member_pointer_column_is_not_among_the_described_members<C, M>>();
      return static_cast<M C::*>(nullptr);
    } else {
      diagnostics::raise<diagnostics::member_pointer_column_is_ambiguous_write_sl_col_of_the_member_pointer<
          C, M, typename candidate_names<C, M, L>::type>>();
      return static_cast<M C::*>(nullptr);
    }
  }
}

template <column_ref R>
consteval auto col_of() {
  if constexpr (requires { R.value.view(); }) {
    return col_t<R.value>{};
  } else {
    return []<class M, class C>(M C::*) {
      if constexpr (!boost::describe::has_describe_members<C>::value) {
        return column_of_member_type<C, M>();  // its diagnostic
      } else {
        constexpr std::size_t i = member_index(R.value);
        if constexpr (i == boost::mp11::mp_size<public_members<C>>::value) {
          diagnostics::raise<diagnostics::member_pointer_column_is_not_among_the_described_members<C, M>>();
          return R.value;
        } else {
          return col_t<member_name_v<boost::mp11::mp_at_c<public_members<C>, i>>>{};
        }
      }
    }(R.value);
  }
}
}  // namespace detail

// sl::col<"event_type"> or sl::col<&Event::event_type>: the same column.
template <column_ref R>
inline constexpr auto col = detail::col_of<R>();

namespace literals {
// "event_type"_c: sl::col<"event_type">.
template <fixed_string Name>
constexpr col_t<Name> operator""_c() {
  return {};
}
}  // namespace literals

namespace detail {
template <class T>
inline constexpr bool is_col_v = false;
template <fixed_string N>
inline constexpr bool is_col_v<col_t<N>> = true;

// A selector as the stages keep it: a member pointer becomes the column it names (above);
// anything else stays as it is. Every operator taking columns passes them through here.
template <class S>
struct column_selector {
  using type = S;
};
template <class M, class C>
  requires std::is_member_object_pointer_v<M C::*>
struct column_selector<M C::*> {
  using type = std::remove_const_t<decltype(column_of_member_type<C, M>())>;
};
template <class S>
using selector_t = typename column_selector<std::remove_cvref_t<S>>::type;

template <class S>
constexpr selector_t<S> to_selector(S&& s) {
  using T = std::remove_cvref_t<S>;
  if constexpr (std::is_same_v<selector_t<S>, T>) {
    return std::forward<S>(s);
  } else {
    // The type named one described member; a member left out of BOOST_DESCRIBE_STRUCT but of
    // the same type would name the wrong column, so check the value.
    return [&]<class M, class C>(M C::*member) {
      using D = boost::mp11::mp_front<typename members_of_type<C, M>::type>;
      if (member != D::pointer)
        throw std::invalid_argument("sluice: a member pointer used as a column is not among the members described "
                                    "with BOOST_DESCRIBE_STRUCT (only '" +
                                    std::string(D::name) + "' has its type); write sl::col<\"name\">");
      return selector_t<S>{};
    }(s);
  }
}

template <class C>
struct given_columns;
template <class... C>
struct given_columns<boost::mp11::mp_list<C...>> {
  using type = diagnostics::given_input_columns<C::name...>;
};

// Unless Row has the column, raises the one diagnostic that names the column, the row type and
// its columns; the caller then goes on with a stand-in (resolved_column_type). Called from the
// binding (at the `|`), never in a constant expression (that would add a second error).
template <class Row, fixed_string N>
void resolve_column() {
  if constexpr (!has_column<Row, N>) {
    if constexpr (record<Row>)
      diagnostics::raise<diagnostics::cannot_resolve_column<N, Row, typename given_columns<columns_of<Row>>::type>>();
    else
      diagnostics::raise<diagnostics::cannot_resolve_column<N, Row, diagnostics::given_input_columns<>>>();
  }
}

// The column's type, or Fallback after the diagnostic.
template <class Row, fixed_string N, class Fallback = std::int64_t>
struct resolved_column_type {
  using type = Fallback;
};
template <class Row, fixed_string N, class Fallback>
  requires has_column<Row, N>
struct resolved_column_type<Row, N, Fallback> {
  using type = column_type_t<Row, N>;
};

// Binds a selector to a row type: value(row) and, where known, a compile-time name.
template <class In, class Sel>
struct bound_selector;

template <class In, fixed_string N>
struct bound_selector<In, col_t<N>> {
  static constexpr bool resolved = has_column<In, N>;
  static constexpr std::string_view name = N.view();
  static constexpr bool named = true;
  static constexpr auto fixed_name = N;
  using value_type = typename resolved_column_type<In, N>::type;
  explicit bound_selector(col_t<N>) { resolve_column<In, N>(); }
  decltype(auto) operator()(const In& r) const {
    if constexpr (resolved) return (get<N>(r));
    else return value_type{};
  }
};

template <class In, class M, class C>
struct bound_selector<In, M C::*> {
  static_assert(std::is_base_of_v<C, In> || std::is_same_v<C, In>,
                "sluice: the member pointer belongs to another struct than the row type");
  static constexpr bool resolved = true;
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
  static constexpr bool resolved = true;
  static constexpr std::string_view name{};
  static constexpr bool named = false;
  static constexpr fixed_string fixed_name{""};
  using value_type = std::remove_cvref_t<std::invoke_result_t<const F&, const In&>>;
  F f;
  explicit bound_selector(F fn) : f(std::move(fn)) {}
  value_type operator()(const In& r) const { return std::invoke(f, r); }
};

// The event time of a column's value in microseconds: a timestamp's, or a window's (Spark's
// window_time: its end less a microsecond, so that sl::window over the window of an
// aggregation before it puts each window in the later windows that contain it).
inline std::int64_t event_micros(const timestamp& t) { return t.micros; }
inline std::int64_t event_micros(const time_window& w) { return w.end.micros - 1; }
// (0 after an unresolved column's diagnostic, adding no error.)
template <class S, class In>
constexpr std::int64_t event_micros(const S& sel, const In& r) {
  if constexpr (S::resolved) return event_micros(sel(r));
  else return 0;
}
}  // namespace detail

}  // namespace sluice

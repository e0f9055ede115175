// <sluice/hana.hpp>: sluice rows and plans for Boost.Hana (opt-in: not in the umbrella, for
// compile time; docs/interop.md).
//
//   namespace hana = boost::hana;
//   Event e{...};
//   hana::keys(e)                      // hana::tuple of hana::strings: "event_id", "timestamp", ...
//   hana::members(e)                   // the values, in declaration order
//   hana::for_each(e, hana::fuse([](auto name, const auto& value) { ... }));
//   hana::to<hana::map_tag>(e)         // a hana::map from field names to values
//   hana::at_key(e, BOOST_HANA_STRING("user_id"))
//
// Every row type is a Hana Struct: structs described with BOOST_DESCRIBE_STRUCT (their public
// members) and the rows the pipeline generates (sl::row<sl::field<"window", ...>, ...> from
// aggregations, joins and projections), so a field's name is a hana::string, known at compile
// time. And sl::stages(plan) is a hana::tuple of hana::type<Stage>, one per stage of a query
// plan (or of a stream before its sink) from its source to its sink, each with `output_row`
// (the row type after it) and `kind` (stateless / stateful): compile-time checks over a
// pipeline, e.g. that no stage after the source is stateful, or the row type after each stage.
// A union contributes the stages of each of its inputs, in order, then its own stages follow.
#pragma once
#include <boost/hana/accessors.hpp>
#include <boost/hana/at_key.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/keys.hpp>
#include <boost/hana/members.hpp>
#include <boost/hana/pair.hpp>
#include <boost/hana/string.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>
#include <boost/mp11/algorithm.hpp>
#include <cstddef>
#include <tuple>
#include <utility>

#include "graph/pipe.hpp"
#include "schema.hpp"

namespace sluice {
namespace detail {
// The hana::string of a compile-time name.
template <fixed_string Name, std::size_t... I>
constexpr auto hana_name(std::index_sequence<I...>) {
  return boost::hana::string<Name.data[I]...>{};
}
template <fixed_string Name>
constexpr auto hana_name() {
  return hana_name<Name>(std::make_index_sequence<Name.size()>{});
}

// One (name, accessor) pair per column; the accessor returns the field by reference.
template <class T, class... C>
constexpr auto hana_accessors(boost::mp11::mp_list<C...>) {
  return boost::hana::make_tuple(boost::hana::make_pair(
      hana_name<C::name>(), [](auto&& r) -> decltype(auto) { return sluice::get<C::name>(r); })...);
}
}  // namespace detail
}  // namespace sluice

namespace boost::hana {
// Every sluice row type (sluice::record: described structs and generated rows) is a Struct,
// unless it is one already (BOOST_HANA_DEFINE_STRUCT: Hana's own accessors are kept).
template <class T>
struct accessors_impl<T, when<sluice::record<T> && !requires { typename T::hana_accessors_impl; }>> {
  static constexpr auto apply() { return sluice::detail::hana_accessors<T>(sluice::columns_of<T>{}); }
};
}  // namespace boost::hana

namespace sluice {
namespace detail {
template <class... S>
constexpr auto hana_types(boost::mp11::mp_list<S...>) {
  return boost::hana::make_tuple(boost::hana::type_c<S>...);
}
}  // namespace detail

// The stages of a plan or a stream, from its source on: a hana::tuple of hana::type<Stage>.
// Its type depends only on the plan's type: decltype(sl::stages(plan)) is usable in constant
// expressions even when the plan is not constexpr.
template <class Plan>
constexpr auto stages(const Plan&) {
  return detail::hana_types(typename Plan::stages{});  // the node's Mp11 list (graph/stages.hpp)
}
}  // namespace sluice

// operator| : sources and stream nodes on the left, stage descriptors on the right.
#pragma once
#include <type_traits>
#include <utility>

#include "pipeline.hpp"
#include "sources/source.hpp"
#include "sources/stand_in.hpp"

namespace sluice {

// Anything with an offset_type or a row_type is taken for a source and checked member by
// member, so a would-be source that lacks part of the concept gets an error naming that part.
template <class X>
concept pipeable = stream_node<X> || requires { typename std::remove_cvref_t<X>::offset_type; } ||
                   requires { typename std::remove_cvref_t<X>::row_type; };

// A stream node as it is, or a source wrapped as the leaf of a new graph.
template <class X>
auto as_node(X&& x) {
  using T = std::remove_cvref_t<X>;
  if constexpr (stream_node<T>) {
    return T(std::forward<X>(x));
  } else {
    static_assert(check_source<T>());
    if constexpr (source<T>)
      return source_node<T>{std::forward<X>(x)};
    else  // after the error naming what T lacks: a source without rows, so nothing else fails
      return source_node<detail::stand_in_source<typename detail::stand_in_row_of<T>::type>>{{}};
  }
}

template <class X>
using node_of_t = decltype(as_node(std::declval<X>()));

template <class L, class D>
  requires pipeable<L> && stage_descriptor<D>
auto operator|(L&& left, D&& d) {
  auto node = as_node(std::forward<L>(left));
  using N = decltype(node);
  using DT = std::remove_cvref_t<D>;
  // Descriptors bind as rvalues; an lvalue descriptor (one reused for several streams) is copied.
  if constexpr (requires { DT::apply_to_node; }) {
    return DT(std::forward<D>(d)).apply(std::move(node));
  } else {
    auto bound = DT(std::forward<D>(d)).template bind<typename N::row_type>();
    return stage_node<N, decltype(bound)>{std::move(node), std::move(bound)};
  }
}

}  // namespace sluice

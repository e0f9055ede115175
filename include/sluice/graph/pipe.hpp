// Every operator| of the library, in one place. The left side is a source, a stream node or a
// pending node; the right side a stage descriptor or a sink descriptor:
//
//   source or node | stage descriptor   -> stage_node<Node, BoundStage>, or what the
//                                          descriptor's apply(node) makes (apply_to_node)
//   source or node | sink descriptor    -> query_plan<Node, BoundSink>
//   pending node   | descriptor         -> pipe_into(pending, descriptor), found by ADL in the
//                                          operator's own header (group_by | aggregate,
//                                          group_by_key | map_groups_with_state)
//
// A pending node (`using is_pending_node = void;`) is not a stream yet: sl::group_by(...) makes
// one that only sl::aggregate(...) completes. Its operator declares pipe_into overloads for what
// may follow it, and one for anything else whose static_assert says what is missing.
#pragma once
#include <type_traits>
#include <utility>

#include "node.hpp"
#include "plan.hpp"
#include "source.hpp"
#include "stand_in.hpp"

namespace sluice {

// Anything with an offset_type or a row_type is taken for a source and checked member by
// member, so a would-be source that lacks part of the concept gets an error naming that part.
template <class X>
concept pipeable = stream_node<X> || requires { typename std::remove_cvref_t<X>::offset_type; } ||
                   requires { typename std::remove_cvref_t<X>::row_type; };

template <class X>
concept pending_node = requires { typename std::remove_cvref_t<X>::is_pending_node; };

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

template <class L, class S>
  requires pipeable<L> && sink_descriptor<S>
auto operator|(L&& left, S&& sink) {
  auto node = as_node(std::forward<L>(left));
  using N = decltype(node);
  using Row = typename N::row_type;
  // Bound as an rvalue; an lvalue sink descriptor is copied (memory_sink copies share their rows).
  auto bound = std::remove_cvref_t<S>(std::forward<S>(sink)).template bind<Row>();
  static_assert(bound_sink_for<decltype(bound), Row>,
                "sluice sink: the bound sink needs add_batch(std::int64_t batch_id, std::span<const Row>) and "
                "std::string description() const");
  static_assert(check_partitioned_sink<decltype(bound), Row>());  // names what a partition-aware sink lacks
  return query_plan<N, decltype(bound)>{std::move(node), std::move(bound)};
}

// (auto: a deduced return type instantiates pipe_into's body, so its static_assert is the first
// error rather than one about using a void result.)
template <class P, class D>
  requires pending_node<P> && (!std::is_lvalue_reference_v<P>)
auto operator|(P&& pending, D&& d) {
  return pipe_into(std::move(pending), std::forward<D>(d));
}

}  // namespace sluice

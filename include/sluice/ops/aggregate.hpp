// sl::group_by(keys...) | sl::aggregate(functions...): a keyed streaming aggregation.
// Keys are sl::col<"name">, sl::window(...), or sl::expr<"name">(f). The output row holds the
// keys then the aggregates, each named. Emission and eviction follow Spark's output modes:
//   append   emits a group once, when its window end <= watermark, then evicts it
//   update   emits the groups changed in this batch, then evicts those with end <= watermark
//   complete emits every group every batch; nothing is evicted or dropped
// Two watermarks per batch, as in Spark 3.4+: a row whose window end (or event time) is <= the
// watermark the previous batch ran with is late, dropped and counted (except in complete mode);
// groups are emitted and evicted against this batch's watermark. A row between the two counts,
// and its window may close in the same batch.
//
// This file: the descriptors (sl::aggregate, and what may follow sl::group_by); the keys are
// bound in group_by.hpp, the stage and its state are in aggregation_state.hpp.
#pragma once
#include <tuple>
#include <type_traits>
#include <utility>

#include "../detail/traits.hpp"
#include "../graph/node.hpp"
#include "aggregation_state.hpp"
#include "group_by.hpp"

namespace sluice {

namespace detail {
// Checked before the stage is built, so that a clash is one error (the stage's row would not be
// a row, and every use of it would fail too): the stream before the aggregation stands in.
template <class In, class Up, class... Keys, class... Aggs>
constexpr bool aggregate_names_unique(const std::tuple<Keys...>*, const std::tuple<Aggs...>*) {
  return unique_names<boost::mp11::mp_list<column<bound_key<In, Keys, Up>::name, int>..., column<Aggs::name, int>...>>::value;
}
template <class In, class Up, class KeyTuple, class AggTuple, class Node>
auto aggregate_or_stand_in(Node&& up, const KeyTuple& keys, const AggTuple& aggs) {
  constexpr bool unique = aggregate_names_unique<In, Up>(static_cast<const KeyTuple*>(nullptr),
                                                         static_cast<const AggTuple*>(nullptr));
  static_assert(unique, "sluice::aggregate: two output columns have the same name; rename one with .as<\"name\">()");
  // After the error, the aggregation by the keys alone stands in (still an aggregation, so the
  // query's rules add no error), or the stream itself if the keys clash too.
  constexpr bool keys_unique = aggregate_names_unique<In, Up>(static_cast<const KeyTuple*>(nullptr),
                                                              static_cast<const std::tuple<>*>(nullptr));
  if constexpr (unique || keys_unique) {
    auto stage = [&] {
      if constexpr (unique) return make_aggregate_stage<In, Up>(keys, aggs);
      else return make_aggregate_stage<In, Up>(keys, std::tuple<>{});
    }();
    return stage_node<Up, decltype(stage)>{std::forward<Node>(up), std::move(stage)};
  } else {
    return std::forward<Node>(up);
  }
}
}  // namespace detail

// ---------------------------------------------------------------- descriptors
template <class... Aggs>
struct aggregate_t {
  using is_stage_descriptor = void;
  std::tuple<Aggs...> aggs;
  // Without group_by: one global group.
  static constexpr bool apply_to_node = true;
  template <class Up>
  auto apply(Up&& up) && {
    using U = std::remove_cvref_t<Up>;
    return detail::aggregate_or_stand_in<typename U::row_type, U>(std::forward<Up>(up), std::tuple<>{}, aggs);
  }
};

template <class... Aggs>
aggregate_t<Aggs...> aggregate(Aggs... functions) {
  static_assert(sizeof...(Aggs) > 0, "sluice::aggregate: give at least one aggregate function, e.g. sl::count()");
  return {{std::move(functions)...}};
}

template <class Up, class... Keys, class... Aggs>
auto pipe_into(grouped_node<Up, Keys...>&& g, const aggregate_t<Aggs...>& a) {  // also a reused sl::aggregate(...)
  if constexpr ((detail::valid_key<Keys>() && ...)) {
    return detail::aggregate_or_stand_in<typename Up::row_type, Up>(std::move(g.up), g.keys, a.aggs);
  } else {
    return std::move(g.up);  // a key had its diagnostic: go on with the stream, adding no error
  }
}

namespace detail {
template <class T>
inline constexpr bool is_aggregate_v = false;
template <class... A>
inline constexpr bool is_aggregate_v<aggregate_t<A...>> = true;
}  // namespace detail

// (auto, not void: a deduced return type instantiates the body, so this assertion is the
// first error rather than one about using the void result.)
template <class Up, class... Keys, class Next>
  requires(!detail::is_aggregate_v<std::remove_cvref_t<Next>>)
auto pipe_into(grouped_node<Up, Keys...>&& g, Next&&) {
  static_assert(detail::always_false_v<Next>,
                "sluice::group_by must be followed by sl::aggregate(...): a grouped stream is not a stream yet");
  return std::move(g.up);  // after the error: the stream before group_by, adding none
}

}  // namespace sluice

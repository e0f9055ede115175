// sl::union_all(a, b, ...) and a | sl::union_with(b): the rows of several streams with the
// same row type, as one stream (Spark's Dataset.union). Each input keeps its own watermark;
// the query's watermark is the min (or max) over them.
#pragma once
#include <tuple>
#include <type_traits>
#include <utility>

#include "../graph/pipe.hpp"

namespace sluice {

template <class... Inputs>
struct union_node {
  using row_type = typename std::tuple_element_t<0, std::tuple<Inputs...>>::row_type;
  static_assert((std::is_same_v<typename Inputs::row_type, row_type> && ...),
                "sluice::union_all: every input must have the same row type");
  static_assert(((!Inputs::props.aggregated) && ...),
                "sluice::union_all: inputs must not be aggregated; aggregate after the union");
  static constexpr graph_props props = [] {
    graph_props p;
    p.has_watermark = (Inputs::props.has_watermark || ...);
    const std::string_view cols[] = {Inputs::props.watermark_column...};
    p.watermark_column = cols[0];
    for (auto c : cols)
      if (c != cols[0]) p.watermark_column = {};
    p.sort_or_limit_on_stream = (Inputs::props.sort_or_limit_on_stream || ...);
    // Stateful operators before the union still count for sl::start's rules.
    p.stateful_stages = (Inputs::props.stateful_stages + ...);
    p.group_state_stages = (Inputs::props.group_state_stages + ...);
    p.map_groups_with_state = (Inputs::props.map_groups_with_state || ...);
    p.group_state_update_mode = (Inputs::props.group_state_update_mode || ...);
    p.group_state_append_mode = (Inputs::props.group_state_append_mode || ...);
    p.group_state_after_aggregation = (Inputs::props.group_state_after_aggregation || ...);
    p.group_state_event_time_without_watermark = (Inputs::props.group_state_event_time_without_watermark || ...);
    return p;
  }();

  std::tuple<Inputs...> inputs;

  void visit(graph_controls& c) {
    std::apply([&](auto&... in) { (in.visit(c), ...); }, inputs);
  }
  template <class Down>
  void run(batch_context& ctx, Down& down) {
    std::apply([&](auto&... in) { (in.run(ctx, down), ...); }, inputs);
  }
};

template <class... Streams>
  requires(sizeof...(Streams) >= 2 && (pipeable<Streams> && ...))
auto union_all(Streams&&... streams) {
  return union_node<node_of_t<Streams>...>{{as_node(std::forward<Streams>(streams))...}};
}

template <class Other>
struct union_with_t {
  using is_stage_descriptor = void;
  static constexpr bool apply_to_node = true;
  Other other;
  template <class Up>
  auto apply(Up&& up) && {
    return union_all(std::forward<Up>(up), std::move(other));
  }
};

template <class Other>
  requires pipeable<Other>
union_with_t<std::decay_t<Other>> union_with(Other&& other) {
  return {std::forward<Other>(other)};
}

}  // namespace sluice

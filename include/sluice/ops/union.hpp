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
  static_assert((!any_stage<typename Inputs::stages, is_aggregation> && ...),
                "sluice::union_all: inputs must not be aggregated; aggregate after the union");
  using stages = boost::mp11::mp_append<typename Inputs::stages...>;
  static constexpr graph_props props = [] {
    graph_props p;
    p.has_watermark = (Inputs::props.has_watermark || ...);
    const std::string_view cols[] = {Inputs::props.watermark_column...};
    p.watermark_column = cols[0];
    for (auto c : cols)
      if (c != cols[0]) p.watermark_column = {};
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

  // Partitioned execution (graph/node.hpp): the partitions of every input, input by input.
  std::size_t open_partitions(batch_context& ctx) {
    std::size_t total = 0, k = 0;
    std::apply([&](auto&... in) { ((counts_[k++] = sluice::open_partitions(in, ctx), total += counts_[k - 1]), ...); },
               inputs);
    return total;
  }
  template <class Down>
  void run_partition(batch_context& ctx, std::size_t i, Down& down) {
    std::size_t k = 0;
    bool done = false;
    std::apply(
        [&](auto&... in) {
          (([&] {
             if (done) return;
             if (i < counts_[k]) {
               sluice::run_partition(in, ctx, i, down);
               done = true;
             } else {
               i -= counts_[k++];
             }
           }()),
           ...);
        },
        inputs);
  }
  void close_partitions(batch_context& ctx) {
    std::apply([&](auto&... in) { (sluice::close_partitions(in, ctx), ...); }, inputs);
  }

  std::size_t counts_[sizeof...(Inputs)] = {};  // this batch's partitions per input
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

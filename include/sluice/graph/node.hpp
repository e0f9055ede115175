// The nodes of the typed graph. `source | stage | ... | sink` builds one type: each `|` binds a
// stage descriptor (what the user wrote, e.g. sl::map(f)) to the row type flowing into it,
// yielding a bound stage that knows its output row type and how it changes the graph's
// compile-time properties. Stateless stages run fused in the producer's loop (nested lambdas
// the compiler inlines); stateful stages split a batch into an accept phase and a finish phase.
#pragma once
#include <boost/mp11/algorithm.hpp>
#include <concepts>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "props.hpp"
#include "protocol.hpp"
#include "stages.hpp"

namespace sluice {

// ---------------------------------------------------------------- nodes
template <class N>
concept stream_node = requires {
  typename std::remove_cvref_t<N>::row_type;
  typename std::remove_cvref_t<N>::stages;
  { std::remove_cvref_t<N>::props } -> std::convertible_to<graph_props>;
};

// A source, as the leaf of a graph. Sources are objects meeting sluice::source (graph/source.hpp);
// the node adapts them to the engine's per-batch protocol.
template <class Source>
struct source_node;

template <class Up, class Stage>
struct stage_node {
  using row_type = typename Stage::output_row;
  static constexpr graph_props props = Stage::transform(Up::props);
  using stages = boost::mp11::mp_push_back<typename Up::stages, listed_stage_t<Stage>>;

  Up up;
  Stage stage;

  template <class Controls>  // graph_controls (engine/control.hpp): complete where a query visits its graph
  void visit(Controls& c) {
    const std::size_t upstream_from = c.stateful.size();
    up.visit(c);
    c.upstream_from = upstream_from;  // the stateful operators up.visit registered are upstream
    if constexpr (requires { stage.visit(c); }) stage.visit(c);
  }

  // A stage with open_batch(ctx) keeps what it counts per row in a local of this frame, which
  // the compiler can hold in registers; a member written per row could alias the stores of
  // the stages after it and would be reloaded and stored every row.
  template <class Down>
  void run(batch_context& ctx, Down& down) {
    if constexpr (Stage::kind == stage_kind::stateless) {
      if constexpr (requires { stage.open_batch(ctx); }) {
        auto local = stage.open_batch(ctx);
        auto fused = [this, &down, &local](auto&& r) { stage.push(std::forward<decltype(r)>(r), down, local); };
        up.run(ctx, fused);
        stage.close_batch(local);
      } else {
        auto fused = [this, &down](auto&& r) { stage.push(std::forward<decltype(r)>(r), down); };
        up.run(ctx, fused);
      }
    } else {
      if constexpr (requires { stage.open_batch(ctx); }) {
        auto local = stage.open_batch(ctx);
        auto into_state = [this, &ctx, &local](auto&& r) { stage.accept(ctx, std::forward<decltype(r)>(r), local); };
        up.run(ctx, into_state);
        stage.close_batch(local);
      } else {
        auto into_state = [this, &ctx](auto&& r) { stage.accept(ctx, std::forward<decltype(r)>(r)); };
        up.run(ctx, into_state);
      }
      stage.finish(ctx, down);
    }
  }
};

namespace detail {
template <class T>
struct is_source_node : std::false_type {};
template <class S>
struct is_source_node<source_node<S>> : std::true_type {};
}  // namespace detail

}  // namespace sluice

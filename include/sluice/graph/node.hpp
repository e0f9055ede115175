// The nodes of the typed graph. `source | stage | ... | sink` builds one type: each `|` binds a
// stage descriptor (what the user wrote, e.g. sl::map(f)) to the row type flowing into it,
// yielding a bound stage that knows its output row type and how it changes the graph's
// compile-time properties. Stateless stages run fused in the producer's loop (nested lambdas
// the compiler inlines); stateful stages split a batch into an accept phase and a finish phase.
#pragma once
#include <boost/mp11/algorithm.hpp>
#include <concepts>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "../detail/config.hpp"
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

// ---------------------------------------------------------------- partitioned execution
// With workers (batch_context::tasks), a batch runs partition by partition: the sources'
// partitions (a union's: all its inputs'), each through the fused stateless stages on a
// worker. A node that takes part says how many partitions it has this batch, runs one of them,
// and closes them once all have run:
//
//   std::size_t open_partitions(batch_context&);            // the query thread, first
//   void run_partition(batch_context&, std::size_t i, Down&); // a worker, once per i
//   void close_partitions(batch_context&);                   // the query thread, last
//
// A node without them (a stream-stream join) is one partition, run with run(ctx, down).
// A stateless stage with open_batch(ctx) gets one local per partition, opened on the worker
// that runs the partition; close_batch(local) is called for each on the query thread, in
// partition order, after all partitions ran (what it merges into the stage is merged as one
// thread would). push() of different partitions runs at once: a stateless stage keeps what
// it counts per row in its local, not in a member.
//
// A stateful stage is where partitions end: its node is one partition. Its input's partitions
// go to accept() in one of two ways:
//  - by default, each partition's rows are buffered by the worker that ran it, and fed to
//    open_batch / accept / close_batch / finish on the query thread in partition order,
//    exactly as with one thread;
//  - a stage that declares `static constexpr bool parallel_accept = true;` takes them at once:
//    open_batch(ctx) is called once per input partition (at least once), possibly
//    concurrently on different threads; each local is used by the one thread that opened it:
//    accept(ctx, row, local) per row of its partition, then close_batch(local) on that thread
//    (concurrently with other partitions' close_batch). Then finish(ctx, down) once, on the
//    query thread, after every partition closed (it may use parallel_for itself). A stage
//    with open_batch(ctx, i) is given the input partition's index i (its rows come after
//    those of lower indexes, for a result that depends on order, as deduplication's does).
// What finish emits flows on through the later stages on the query thread.
template <class N>
concept partitioned_node = requires(N& n, batch_context& ctx) {
  { n.open_partitions(ctx) } -> std::same_as<std::size_t>;
  n.close_partitions(ctx);
};

template <class N>
std::size_t open_partitions(N& n, batch_context& ctx) {
  if constexpr (partitioned_node<N>) return n.open_partitions(ctx);
  else return 1;
}
template <class N, class Down>
void run_partition(N& n, batch_context& ctx, std::size_t i, Down& down) {
  if constexpr (partitioned_node<N>) n.run_partition(ctx, i, down);
  else n.run(ctx, down);
}
template <class N>
void close_partitions(N& n, batch_context& ctx) {
  if constexpr (partitioned_node<N>) n.close_partitions(ctx);
}

// Whether a stateful stage takes several partitions at once (see above).
template <class S>
inline constexpr bool parallel_accept_v = requires { requires S::parallel_accept; };

namespace detail {
template <class Stage>
struct batch_local_of {
  using type = void;
};
template <class Stage>
  requires requires(Stage& s, batch_context& ctx) { s.open_batch(ctx); }
struct batch_local_of<Stage> {
  using type = decltype(std::declval<Stage&>().open_batch(std::declval<batch_context&>()));
};
struct no_partition_locals {};
}  // namespace detail

template <class Up, class Stage>
struct stage_node {
  using row_type = typename Stage::output_row;
  static constexpr graph_props props = Stage::transform(Up::props);
  using stages = boost::mp11::mp_push_back<typename Up::stages, listed_stage_t<Stage>>;
  using local_type = typename detail::batch_local_of<Stage>::type;
  static constexpr bool has_local = !std::is_void_v<local_type>;

  Up up;
  Stage stage;
  // Per partition of the batch: a stateless stage's locals (closed in close_partitions), a
  // stateful stage's buffered input rows.
  [[no_unique_address]] std::conditional_t<Stage::kind == stage_kind::stateless && has_local,
                                           std::vector<std::optional<local_type>>, detail::no_partition_locals>
      locals_{};
  [[no_unique_address]] std::conditional_t<Stage::kind == stage_kind::stateful && !parallel_accept_v<Stage>,
                                           std::vector<std::vector<typename Up::row_type>>,
                                           detail::no_partition_locals>
      buffered_{};

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
      if constexpr (has_local) {
        auto local = stage.open_batch(ctx);
        auto fused = [this, &down, &local](auto&& r) { stage.push(std::forward<decltype(r)>(r), down, local); };
        up.run(ctx, fused);
        stage.close_batch(local);
      } else {
        auto fused = [this, &down](auto&& r) { stage.push(std::forward<decltype(r)>(r), down); };
        up.run(ctx, fused);
      }
    } else {
      if (ctx.tasks != nullptr) {
        run_partitioned(ctx, down);
        return;
      }
      if constexpr (has_local) {
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

  // ---- partitioned execution (see above)
  std::size_t open_partitions(batch_context& ctx) {
    if constexpr (Stage::kind == stage_kind::stateful) {
      return 1;  // its input's partitions end here (run_partitioned)
    } else {
      const std::size_t n = sluice::open_partitions(up, ctx);
      if constexpr (has_local) {
        locals_.clear();
        locals_.resize(n);
      }
      return n;
    }
  }
  template <class Down>
  void run_partition(batch_context& ctx, std::size_t i, Down& down) {
    if constexpr (Stage::kind == stage_kind::stateful) {
      run(ctx, down);
    } else if constexpr (has_local) {
      auto local = stage.open_batch(ctx);
      auto fused = [this, &down, &local](auto&& r) { stage.push(std::forward<decltype(r)>(r), down, local); };
      sluice::run_partition(up, ctx, i, fused);
      locals_[i].emplace(std::move(local));
    } else {
      auto fused = [this, &down](auto&& r) { stage.push(std::forward<decltype(r)>(r), down); };
      sluice::run_partition(up, ctx, i, fused);
    }
  }
  void close_partitions(batch_context& ctx) {
    if constexpr (Stage::kind == stage_kind::stateless) {
      sluice::close_partitions(up, ctx);
      if constexpr (has_local) {
        for (auto& l : locals_)
          if (l) stage.close_batch(*l);
        locals_.clear();
      }
    }
  }

 private:
  template <class Down>
  void run_partitioned(batch_context& ctx, Down& down) {
    const std::size_t n = sluice::open_partitions(up, ctx);
    if (n <= 1 || ctx.tasks->workers() <= 1) {  // on this thread, as run() does without workers
      if constexpr (has_local) {
        auto local = stage.open_batch(ctx);
        auto into_state = [this, &ctx, &local](auto&& r) { stage.accept(ctx, std::forward<decltype(r)>(r), local); };
        for (std::size_t i = 0; i < n; ++i) sluice::run_partition(up, ctx, i, into_state);
        stage.close_batch(local);
      } else {
        auto into_state = [this, &ctx](auto&& r) { stage.accept(ctx, std::forward<decltype(r)>(r)); };
        for (std::size_t i = 0; i < n; ++i) sluice::run_partition(up, ctx, i, into_state);
      }
    } else if constexpr (parallel_accept_v<Stage>) {
      static_assert(has_local, "sluice: a stage with parallel_accept needs open_batch(ctx) / close_batch(local)");
      parallel_for(ctx, n, [&](std::size_t i) {
        auto local = [&] {  // a stage whose result depends on the partitions' order is told theirs
          if constexpr (requires { stage.open_batch(ctx, i); }) return stage.open_batch(ctx, i);
          else return stage.open_batch(ctx);
        }();
        auto into_state = [this, &ctx, &local](auto&& r) { stage.accept(ctx, std::forward<decltype(r)>(r), local); };
        sluice::run_partition(up, ctx, i, into_state);
        stage.close_batch(local);
      });
    } else {
      buffered_.resize(n);
      parallel_for(ctx, n, [&](std::size_t i) {
        auto& rows = buffered_[i];
        rows.clear();
        auto keep = [&rows](auto&& r) { detail::append_row(rows, std::forward<decltype(r)>(r)); };
        sluice::run_partition(up, ctx, i, keep);
      });
      if constexpr (has_local) {
        auto local = stage.open_batch(ctx);
        for (auto& rows : buffered_)
          for (auto& r : rows) stage.accept(ctx, std::move(r), local);
        stage.close_batch(local);
      } else {
        for (auto& rows : buffered_)
          for (auto& r : rows) stage.accept(ctx, std::move(r));
      }
      for (auto& rows : buffered_) rows.clear();
    }
    sluice::close_partitions(up, ctx);
    stage.finish(ctx, down);
  }
};

namespace detail {
template <class T>
struct is_source_node : std::false_type {};
template <class S>
struct is_source_node<source_node<S>> : std::true_type {};
}  // namespace detail

}  // namespace sluice

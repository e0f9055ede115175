// sl::late_rows_to(sink): the rows a stateful operator drops as late go to a sink of their own
// (Flink's side output for late data) rather than only into numRowsDroppedByWatermark.
//
//   events | sl::with_watermark(sl::col<"timestamp">, 10s)
//          | sl::group_by(sl::window(sl::col<"timestamp">, 5s)) | sl::aggregate(sl::count())
//          | sl::late_rows_to(late_sink)          // late Events, as they came in
//          | sl::console();
//
// It follows the operator whose late rows it takes: an aggregation (with an event-time key),
// a session window, drop_duplicates[_within_watermark] or [flat_]map_groups_with_state (with an
// event-time timeout). A row goes to the sink when the operator drops it entirely: late for
// every window it falls in (a sliding-window row late for some windows only still counts in
// the others, and is not sent). The sink binds to the operator's input row type and gets, for
// every batch, that batch's late rows under the batch's id, before the batch commits: it is
// exactly once as the query's own sink is (an idempotent sink skips a batch id it holds when a
// batch runs again after a failure; the batch drops the same rows against the same logged
// watermark).
#pragma once
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../engine/control.hpp"
#include "../graph/node.hpp"
#include "../graph/plan.hpp"

namespace sluice {
namespace detail {
// A stateful stage that can hand over the rows it drops as late: `late_row` (its input row)
// and `late_rows`, where it appends them when set.
template <class S>
concept drops_late_rows = requires(S& s) {
  typename S::late_row;
  { s.late_rows } -> std::same_as<std::vector<typename S::late_row>*&>;
};

template <class N>
struct stage_of {
  static constexpr bool is_stage = false;
};
template <class Up, class S>
struct stage_of<stage_node<Up, S>> {
  static constexpr bool is_stage = true;
  using type = S;
};

template <class S, class Sink>
struct late_rows_stage : side_sink_control {
  static constexpr stage_kind kind = stage_kind::stateful;
  using output_row = typename S::output_row;
  using late_row = typename S::late_row;
  using listed_as = S;  // the rules see the operator it wraps (graph/stages.hpp)
  static constexpr graph_props transform(graph_props p) { return S::transform(p); }

  S stage;
  Sink sink;
  std::vector<late_row> late{};  // this batch's

  late_rows_stage(S s, Sink k) : stage(std::move(s)), sink(std::move(k)) {}
  // A copy (a restarted test query) points its operator at its own buffer in visit().
  late_rows_stage(const late_rows_stage& o) : stage(o.stage), sink(o.sink) {}
  late_rows_stage(late_rows_stage&& o) noexcept : stage(std::move(o.stage)), sink(std::move(o.sink)) {}

  void visit(graph_controls& c) {
    stage.late_rows = &late;
    if constexpr (requires { stage.visit(c); }) stage.visit(c);
    c.side_sinks.push_back(this);
  }
  void start_side_sink(const std::string& query_id, const std::string& query_name) override {
    const sink_context ctx{query_id, query_name, output_mode_kind::append};
    if constexpr (requires { sink.start(ctx); }) sink.start(ctx);
  }

  // Always through open_batch: a run of a batch starts with an empty buffer (a failed run may
  // have left rows in it).
  struct no_local {};
  auto open_batch(batch_context& ctx) {
    late.clear();
    if constexpr (requires { stage.open_batch(ctx); }) return stage.open_batch(ctx);
    else return no_local{};
  }
  template <class L>
  void close_batch(L& local) {
    if constexpr (!std::is_same_v<L, no_local>) stage.close_batch(local);
  }
  template <class R, class L>
  void accept(batch_context& ctx, R&& r, L& local) {
    if constexpr (std::is_same_v<L, no_local>) stage.accept(ctx, std::forward<R>(r));
    else stage.accept(ctx, std::forward<R>(r), local);
  }
  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    stage.finish(ctx, down);
    sink.add_batch(ctx.batch_id, std::span<const late_row>(late.data(), late.size()));
  }
};
}  // namespace detail

template <class SinkD>
struct late_rows_to_t {
  using is_stage_descriptor = void;
  static constexpr bool apply_to_node = true;
  SinkD sink;

  template <class Node>
  auto apply(Node&& node) && {
    using of = detail::stage_of<std::remove_cvref_t<Node>>;
    if constexpr (of::is_stage) {
      using S = typename of::type;
      static_assert(detail::drops_late_rows<S>,
                    "sluice rule [late-rows-to-after-stateful-operator]: sl::late_rows_to(sink) must follow a "
                    "stateful operator that drops late rows (an aggregation, a session window, drop_duplicates, "
                    "[flat_]map_groups_with_state); put it right after that operator");
      if constexpr (detail::drops_late_rows<S>) {
        using Row = typename S::late_row;
        auto bound = std::move(sink).template bind<Row>();
        using B = decltype(bound);
        static_assert(bound_sink_for<B, Row>,
                      "sluice::late_rows_to: the sink needs add_batch(std::int64_t batch_id, std::span<const Row>) "
                      "and std::string description() const, for the operator's input rows");
        static_assert(sink_supports<B>(output_mode_kind::append),
                      "sluice::late_rows_to: the sink must support output_mode::append (late rows are appended)");
        using W = detail::late_rows_stage<S, B>;
        return stage_node<decltype(node.up), W>{std::move(node.up), W(std::move(node.stage), std::move(bound))};
      } else {
        return std::forward<Node>(node);  // after the error: the stream as it is, adding none
      }
    } else {
      static_assert(of::is_stage,
                    "sluice rule [late-rows-to-after-stateful-operator]: sl::late_rows_to(sink) must follow a "
                    "stateful operator that drops late rows (an aggregation, a session window, drop_duplicates, "
                    "[flat_]map_groups_with_state); put it right after that operator");
      return std::forward<Node>(node);
    }
  }
};

// The late rows of the operator just before it go to `sink` (any sink: memory, files,
// foreach_batch, ...), batch by batch.
template <class SinkD>
  requires sink_descriptor<SinkD>
late_rows_to_t<std::decay_t<SinkD>> late_rows_to(SinkD&& sink) {
  return {std::forward<SinkD>(sink)};
}
}  // namespace sluice

// The stage protocol: what a micro-batch runs with (batch_context), the two kinds of bound
// stage, and the concept of a stage descriptor. The base of the graph core: no engine, no
// connector, no std::filesystem or Boost.JSON.
#pragma once
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../time.hpp"

namespace sluice {

enum class output_mode_kind { append, update, complete };

inline constexpr std::string_view to_string(output_mode_kind m) {
  switch (m) {
    case output_mode_kind::append: return "append";
    case output_mode_kind::update: return "update";
    case output_mode_kind::complete: return "complete";
  }
  return "?";
}

// The two watermarks a stateful operator runs a batch with (Spark 3.4+): rows are late against
// the one the previous batch ran with, state is evicted and emitted against this batch's. Both
// are the operator's input watermark: with chained operators, what the ones before it pass on
// (Spark's watermark propagation), the query's for every operator here.
struct input_watermarks {
  std::int64_t for_late_events = 0;
  std::int64_t for_eviction = 0;
};

// What one micro-batch runs with. The watermark is the one computed at the end of the
// previous batch (Spark's rule), in microseconds of event time.
struct batch_context {
  std::int64_t batch_id = 0;
  std::int64_t watermark = 0;  // the query's (eviction) watermark, as in progress
  bool has_watermark = false;
  // Per stateful operator, in graph_controls::stateful order.
  std::vector<input_watermarks> operator_watermarks;
  timestamp batch_timestamp{};
  output_mode_kind mode = output_mode_kind::append;
  bool no_data = false;
  // Distinct for every run of a batch: a batch that failed runs again, after a restart, with
  // the same batch_id and a new attempt, and stages first undo what the failed run did.
  std::uint64_t attempt = 0;

  // Operator `op`'s watermarks; a context without them (a graph driven by hand) uses the
  // batch's watermark for both.
  input_watermarks watermarks_of(std::size_t op) const {
    return op < operator_watermarks.size() ? operator_watermarks[op] : input_watermarks{watermark, watermark};
  }
};

// The watermark stateful operator `op` drops late rows against (Spark's
// eventTimeWatermarkForLateEvents: the previous batch's), and the one it evicts state with
// (eventTimeWatermarkForEviction: this batch's).
inline std::int64_t late_events_watermark(const batch_context& ctx, std::size_t op) {
  return ctx.watermarks_of(op).for_late_events;
}
inline std::int64_t eviction_watermark(const batch_context& ctx, std::size_t op) {
  return ctx.watermarks_of(op).for_eviction;
}


// The engine's per-batch interfaces (engine/control.hpp); a node only passes them on.
struct graph_controls;
class binary_writer;
class binary_reader;

// ---------------------------------------------------------------- stage protocol
enum class stage_kind {
  stateless,  // push(row, down): fused into the producer's loop
  stateful,   // accept(ctx, row) for every row, then finish(ctx, down) once per batch
};

// A stage descriptor binds to its input row type: d.template bind<In>() yields a bound stage.
template <class D, class In>
concept stage_descriptor_for = requires(D&& d) { std::forward<D>(d).template bind<In>(); };

template <class D>
concept stage_descriptor = requires { typename std::remove_cvref_t<D>::is_stage_descriptor; };

}  // namespace sluice

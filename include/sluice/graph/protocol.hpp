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

// Runs the independent tasks of one batch, perhaps at once on the query's workers
// (query_options::parallelism). The engine owns it; a graph driven by hand has none, and its
// tasks run one after another (parallel_for below).
class task_runner {
 public:
  // Calls task(arg, i) for every i in [0, n); returns when all have ended, rethrowing the
  // first exception one of them threw.
  virtual void run_tasks(std::size_t n, void (*task)(void* arg, std::size_t i), void* arg) = 0;
  virtual std::size_t workers() const = 0;

 protected:
  ~task_runner() = default;
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
  // The query's workers (null: run tasks in turn on this thread), and the number of state
  // partitions of each stateful operator (spark.sql.shuffle.partitions; fixed by the
  // checkpoint, as the state's layout depends on it).
  task_runner* tasks = nullptr;
  std::size_t shuffle_partitions = 1;

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


// f(i) for every i in [0, n), on the batch's workers when it has them.
template <class F>
void parallel_for(const batch_context& ctx, std::size_t n, F&& f) {
  if (ctx.tasks == nullptr || n <= 1) {
    for (std::size_t i = 0; i < n; ++i) f(i);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  ctx.tasks->run_tasks(n, [](void* arg, std::size_t i) { (*static_cast<Fn*>(arg))(i); }, const_cast<void*>(static_cast<const void*>(&f)));
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

// A source for the stateful benchmarks: serves batch `*current` of a vector of rows, `per_batch`
// rows a batch (the offset is the batch count), and the loop that drives a node through the
// batches with a given watermark per batch, as the engine's batch loop does without its
// bookkeeping (planning, progress, checkpoints).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <sluice/sluice.hpp>

namespace bench {

struct batch_offset {
  std::int64_t end = 0;
};
BOOST_DESCRIBE_STRUCT(batch_offset, (), (end))

template <class Row>
struct batch_source {
  using row_type = Row;
  using offset = batch_offset;
  using offset_type = offset;
  using partition_type = offset;
  const std::vector<Row>* rows;
  const std::size_t* current;
  std::size_t per_batch;
  offset initial_offset() { return {0}; }
  offset latest_offset(const offset&, sluice::read_limit) { return {static_cast<std::int64_t>(*current) + 1}; }
  std::vector<offset> partitions(const offset&, const offset& e) { return {e}; }
  template <class Emit>
  void read(const offset&, Emit&& emit) {
    const Row* data = rows->data() + *current * per_batch;
    for (std::size_t i = 0; i < per_batch; ++i) emit(data[i]);
  }
  void commit(const offset&) {}
  std::string description() const { return "batches"; }
};

// The input of one benchmark argument, made once per program run by make(arg).
template <class Make>
const auto& input_for(std::int64_t arg, Make make) {
  static std::map<std::int64_t, decltype(make(arg))> all;
  auto it = all.find(arg);
  if (it == all.end()) it = all.emplace(arg, make(arg)).first;
  return it->second;
}

// The watermark of batch b when row i has event time i * step: the previous batch's max event
// time - delay (0 for the first batch).
inline std::int64_t watermark_after(std::size_t b, std::size_t per_batch, std::int64_t step, std::int64_t delay) {
  return b == 0 ? 0 : static_cast<std::int64_t>(b * per_batch - 1) * step - delay;
}

// Runs `batches` batches of a visited node (its sources serve batch `current`), batch b with
// watermark(b), in append mode; `out` counts the rows it emits. With `tasks` (workers) and
// `shuffle_partitions` state partitions, as the engine runs them.
template <class Node, class Watermark>
void run_batches(Node& node, sluice::graph_controls& controls, std::size_t& current, std::size_t batches,
                 Watermark watermark, std::size_t& out, sluice::task_runner* tasks = nullptr,
                 std::size_t shuffle_partitions = 1) {
  for (current = 0; current < batches; ++current) {
    for (auto* s : controls.sources) s->plan_batch(sluice::read_limit::all_available());
    sluice::batch_context ctx;
    ctx.batch_id = static_cast<std::int64_t>(current);
    ctx.mode = sluice::output_mode_kind::append;
    ctx.has_watermark = true;
    ctx.watermark = watermark(current);
    ctx.tasks = tasks;
    ctx.shuffle_partitions = shuffle_partitions;
    for (auto* st : controls.stateful) st->begin_batch(ctx);
    auto collect = [&out](auto&& r) { benchmark::DoNotOptimize(&r), ++out; };
    node.run(ctx, collect);
  }
}

}  // namespace bench

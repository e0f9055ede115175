// The public sink interface. A sink descriptor (what the user pipes into) binds to the
// pipeline's row type; the bound sink receives each batch once with its id:
//
//   struct my_sink {
//     using is_sink_descriptor = void;
//     template <class Row> auto bind() &&;      // static_assert here what rows you accept
//   };
//   struct my_bound_sink {
//     void start(const sluice::sink_context&);  // optional: query id and output mode
//     void add_batch(std::int64_t batch_id, std::span<const Row> rows);
//     std::string description() const;
//     static constexpr bool supports(sluice::output_mode_kind);  // optional, default: all
//   };
//
// add_batch must be idempotent per batch id: after a failure a batch may be offered again.
// sinks/two_phase.hpp adapts a sink written in two phases (writers, then commit or abort),
// after Spark's DataSource V2 writers, to this protocol, and makes it exactly once.
//
// Partition-aware sinks. A batch that ran on the query's workers reaches the sink as one span
// of rows per partition (deliver_batch below). A bound sink that also has these members takes
// the partitions as they are, after Spark's DataWriter / StreamingWrite commit protocol (seed
// 002), instead of one joined batch:
//
//   struct my_bound_sink {                      // the members above, and:
//     bool begin_batch(std::int64_t batch_id);  // false: committed before, skip the batch
//     my_writer create_writer(std::int64_t batch_id, std::int64_t partition);
//     void commit_batch(std::int64_t batch_id, std::vector<my_message> messages);  // or &, const&
//     void abort_batch(std::int64_t batch_id, std::vector<my_message> messages);
//   };
//   struct my_writer {                          // one per partition of a batch
//     void write(std::span<const Row> rows);    // the partition's rows
//     my_message commit();                      // written (not yet visible): say what
//     void abort();                             // undo what this writer wrote
//   };
//
// Per batch (write_partitions): begin_batch on the calling thread; then per partition, on the
// batch's workers at once (parallel_for), create_writer, write, commit; then, back on the
// calling thread, commit_batch once with every writer's message in partition order: the only
// step that makes the batch visible. A failure anywhere stops the writers that have not
// committed (abort), then abort_batch gets the messages of those that had, and the error
// propagates; the batch runs again later (the query fails and restarts from its checkpoint),
// so commit_batch must make a batch visible at most once per batch id, and a writer's output
// of a run that never reached commit_batch (a crash) must never become visible. create_writer
// and the writers run on several threads at once: they share nothing mutable with each other
// or with the sink. add_batch(batch_id, rows) stays required: write_partitions(sink, batch_id,
// rows) is the whole batch as one partition.
#pragma once
//
// query_plan<Node, Sink> is what `node | sink` yields (graph/pipe.hpp) and sl::start takes.
#include <atomic>
#include <concepts>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "node.hpp"
#include "protocol.hpp"

namespace sluice {

struct sink_context {
  std::string query_id;
  std::string query_name;
  output_mode_kind mode = output_mode_kind::append;
};

template <class D>
concept sink_descriptor = requires { typename std::remove_cvref_t<D>::is_sink_descriptor; };

template <class S, class Row>
concept bound_sink_for = requires(S& s, std::int64_t id, std::span<const Row> rows, const S& cs) {
  s.add_batch(id, rows);
  { cs.description() } -> std::convertible_to<std::string>;
};

template <class S>
constexpr bool sink_supports(output_mode_kind m) {
  if constexpr (requires { S::supports(m); }) return S::supports(m);
  else return true;
}

// ---------------------------------------------------------------- partition-aware sinks
namespace detail {
template <class S>
using partition_writer_t =
    std::remove_cvref_t<decltype(std::declval<S&>().create_writer(std::int64_t{}, std::int64_t{}))>;
template <class W>
using partition_message_t = std::remove_cvref_t<decltype(std::declval<W&>().commit())>;
}  // namespace detail

// A bound sink that takes a batch as partitions (see the top of this header).
template <class S, class Row>
concept partitioned_sink_for =
    bound_sink_for<S, Row> && requires(S& s, std::int64_t b) { s.create_writer(b, b); } &&
    requires(S& s, std::int64_t b, std::span<const Row> rows, detail::partition_writer_t<S>& w) {
      { s.begin_batch(b) } -> std::convertible_to<bool>;
      requires std::move_constructible<detail::partition_writer_t<S>>;
      w.write(rows);
      { w.commit() } -> std::move_constructible;
      w.abort();
    } &&
    requires(S& s, std::int64_t b,
             std::vector<detail::partition_message_t<detail::partition_writer_t<S>>>& m) {
      s.commit_batch(b, m);
      s.abort_batch(b, m);
    };

// A bound sink with create_writer(batch_id, partition) means to be partition-aware: names what
// it lacks, one static_assert per member, so that the first error says which and its signature.
// True (and silent) for a sink without create_writer.
template <class S, class Row>
constexpr bool check_partitioned_sink() {
  if constexpr (requires(S& s, std::int64_t b) { s.create_writer(b, b); }) {
    using W = detail::partition_writer_t<S>;
    static_assert(requires(S& s, std::int64_t b) {
                    { s.begin_batch(b) } -> std::convertible_to<bool>;
                  },
                  "sluice partitioned sink: missing `bool begin_batch(std::int64_t batch_id)` (false: the batch "
                  "was committed before and is skipped)");
    static_assert(std::is_move_constructible_v<W>,
                  "sluice partitioned sink: the writer create_writer returns must be move-constructible");
    static_assert(requires(W& w, std::span<const Row> rows) { w.write(rows); },
                  "sluice partitioned sink writer: missing `void write(std::span<const Row> rows)` for the "
                  "pipeline's row type");
    static_assert(requires(W& w) {
                    { w.commit() } -> std::move_constructible;
                  },
                  "sluice partitioned sink writer: missing `commit_message commit()` (returns the message "
                  "commit_batch(batch_id, std::vector<commit_message>) receives; not void)");
    static_assert(requires(W& w) { w.abort(); }, "sluice partitioned sink writer: missing `void abort()`");
    if constexpr (requires(W& w) {
                    { w.commit() } -> std::move_constructible;
                  }) {
      using M = detail::partition_message_t<W>;
      static_assert(requires(S& s, std::int64_t b, std::vector<M>& m) { s.commit_batch(b, m); },
                    "sluice partitioned sink: missing `void commit_batch(std::int64_t batch_id, "
                    "std::vector<commit_message> messages)` (commit_message: what the writer's commit() returns)");
      static_assert(requires(S& s, std::int64_t b, std::vector<M>& m) { s.abort_batch(b, m); },
                    "sluice partitioned sink: missing `void abort_batch(std::int64_t batch_id, "
                    "std::vector<commit_message> messages)` (commit_message: what the writer's commit() returns)");
    }
  }
  return true;
}

namespace detail {
// A failure while aborting must not hide the failure that caused the abort.
template <class F>
void abort_quietly(F&& f) noexcept {
  try {
    f();
  } catch (...) {
  }
}
}  // namespace detail

// One batch through a partition-aware sink: a writer per partition on the batch's workers,
// then one commit_batch on this thread (see the top of this header). Rethrows the first
// failure after aborting the batch.
template <class Row, partitioned_sink_for<Row> Sink>
void write_partitions(Sink& sink, const batch_context& ctx, std::span<const std::span<const Row>> parts) {
  using W = detail::partition_writer_t<Sink>;
  using M = detail::partition_message_t<W>;
  const std::int64_t batch_id = ctx.batch_id;
  if (!sink.begin_batch(batch_id)) return;  // committed before: exactly once
  std::vector<std::optional<M>> committed(parts.size());
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  parallel_for(ctx, parts.size(), [&](std::size_t i) {
    if (failed.load(std::memory_order_acquire)) return;  // another writer failed: do not start
    std::optional<W> writer;
    try {
      writer.emplace(sink.create_writer(batch_id, static_cast<std::int64_t>(i)));
      writer->write(parts[i]);
      // Another writer failed meanwhile: the batch is lost, do not commit this one.
      if (failed.load(std::memory_order_acquire)) {
        detail::abort_quietly([&] { writer->abort(); });
        return;
      }
      M message = writer->commit();
      writer.reset();  // closed before the batch commits (Spark's DataWriter.close)
      committed[i].emplace(std::move(message));
    } catch (...) {
      failed.store(true, std::memory_order_release);
      if (writer) detail::abort_quietly([&] { writer->abort(); });
      std::lock_guard lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
    }
  });
  std::vector<M> messages;
  messages.reserve(parts.size());
  for (auto& m : committed)
    if (m) messages.push_back(std::move(*m));
  if (first_error) {
    detail::abort_quietly([&] { sink.abort_batch(batch_id, messages); });
    std::rethrow_exception(first_error);
  }
  try {
    sink.commit_batch(batch_id, messages);
  } catch (...) {
    detail::abort_quietly([&] { sink.abort_batch(batch_id, messages); });
    throw;
  }
}

// The whole batch as one partition, on this thread: what a partition-aware sink's add_batch
// does.
template <class Row, partitioned_sink_for<Row> Sink>
void write_partitions(Sink& sink, std::int64_t batch_id, std::span<const Row> rows) {
  batch_context ctx;
  ctx.batch_id = batch_id;
  write_partitions<Row>(sink, ctx, std::span<const std::span<const Row>>(&rows, 1));
}

// Hands a batch's rows to the sink, given as one span per partition (one when the batch ran on
// one thread). A partition-aware sink writes the partitions in parallel and commits the batch
// once (write_partitions); a sink that takes one batch gets the partitions joined (in
// `scratch`, reused).
template <class Sink, class Row>
void deliver_batch(Sink& sink, const batch_context& ctx, std::span<const std::span<const Row>> parts,
                   std::vector<Row>& scratch) {
  if constexpr (partitioned_sink_for<Sink, Row>) {
    write_partitions<Row>(sink, ctx, parts);
    return;
  } else {
    if (parts.size() == 1) {
      sink.add_batch(ctx.batch_id, parts[0]);
      return;
    }
    scratch.clear();
    std::size_t n = 0;
    for (const auto& p : parts) n += p.size();
    scratch.reserve(n);
    for (const auto& p : parts) scratch.insert(scratch.end(), p.begin(), p.end());
    sink.add_batch(ctx.batch_id, std::span<const Row>(scratch.data(), scratch.size()));
  }
}

// A complete query: a graph ending in a sink, ready for sl::start.
template <class Node, class Sink>
struct query_plan {
  using row_type = typename Node::row_type;
  using sink_type = Sink;
  static constexpr graph_props props = Node::props;
  using stages = typename Node::stages;
  Node node;
  Sink sink;
};

namespace detail {
template <class T>
inline constexpr bool is_query_plan_v = false;
template <class N, class S>
inline constexpr bool is_query_plan_v<query_plan<N, S>> = true;
}  // namespace detail

}  // namespace sluice

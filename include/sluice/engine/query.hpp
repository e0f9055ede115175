// A running query: the micro-batch loop on its own thread, and the handle users hold.
//
// One batch:  plan end offsets (or a no-data batch) -> run the fused graph into a buffer (with
//             workers: partition by partition, one buffer each) -> sink.add_batch(id, rows) ->
//             commit source offsets -> advance watermarks -> record progress.
// The non-template functions are defined in impl/query.ipp (compile modes: impl/config.hpp).
#pragma once
#include <algorithm>
#include <limits>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <typeinfo>
#include <utility>
#include <vector>

#include <boost/mp11/list.hpp>

#include "../checkpoint/checkpoint.hpp"
#include "../checkpoint/state_store.hpp"
#include "../detail/crash_point.hpp"
#include "../detail/uuid.hpp"
#include "../detail/config.hpp"
#include "../impl/config.hpp"
#include "../ops/current_time.hpp"
#include "../graph/node.hpp"
#include "../graph/plan.hpp"
#include "../codec/spark_schema.hpp"
#include "control.hpp"
#include "listener.hpp"
#include "options.hpp"
#include "progress.hpp"
#include "workers.hpp"

namespace sluice {

// Why a query stopped: the cause's message, with the query and batch it happened in.
class streaming_query_error : public std::runtime_error {
 public:
  streaming_query_error(const std::string& message, std::exception_ptr cause, std::int64_t batch_id)
      : std::runtime_error(message), cause_(std::move(cause)), batch_id_(batch_id) {}
  std::exception_ptr cause() const noexcept { return cause_; }
  std::int64_t batch_id() const noexcept { return batch_id_; }

 private:
  std::exception_ptr cause_;
  std::int64_t batch_id_;
};

namespace detail {

// The part of a query that outlives one run: the graph with its state, offsets and
// watermarks. (Checkpoints persist the same things to disk.)
class runner_base {
 public:
  // Out of line, with the vtable: plan_runner<Plan> in each translation unit inherits them.
  SLUICE_DECL runner_base();
  SLUICE_DECL virtual ~runner_base();
  virtual void start_sink(const sink_context& ctx) = 0;
  virtual std::string sink_description() const = 0;
  virtual std::string row_signature() const = 0;

  // Runs the graph and hands its rows to the sink; returns the rows given to the sink. Per
  // batch, not per row, so not a template: it schedules the graph's partitions (graph/node.hpp,
  // "partitioned execution") on the batch's workers through the per-plan virtuals below, and
  // each plan instantiates its fused per-row loop once (run_partition), not once per schedule.
  SLUICE_DECL std::int64_t run_batch(batch_context& ctx);

  // What a checkpoint must match (its metadata keeps it): the output mode, the row and offset
  // types, and each stateful and watermark stage in graph order with what its state depends
  // on (described_stage).
  SLUICE_DECL boost::json::object checkpoint_description() const;

  graph_controls controls;
  output_mode_kind mode = output_mode_kind::append;
  std::string query_id;  // random (see runner_base()); on a checkpoint, the stored one
  std::int64_t next_batch_id = 0;
  std::uint64_t attempts = 0;  // runs of batches, failed ones included
  // A batch that was planned (offsets logged) but not committed: the next run executes it
  // again with exactly these offsets, watermark and timestamp.
  std::optional<offset_log_entry> pending;
  bool opened = false;  // sources opened and checkpoint restored (once per runner)
  bool failed = false;  // the last run ended in an error: state must be reloaded before a re-run
  std::optional<checkpoint_dir> checkpoint;
  std::int64_t watermark = 0;  // the next batch's watermark
  // The watermark the previous batch ran with (that of offsets/N-1; 0 before batch 0): the
  // next batch's rows are late against it.
  std::int64_t previous_batch_watermark = 0;
  // Each input's watermark in this execution (none before its first batch): a restart starts
  // them afresh and restores only the query's watermark, as Spark does.
  std::vector<std::optional<std::int64_t>> operator_watermarks;
  // Per input, the batch time (microseconds) it last had rows, or this execution first looked
  // at it: how long it has been idle (with_idleness). Not checkpointed: a restart starts anew.
  std::vector<std::optional<std::int64_t>> input_active_at;
  // The multiple-watermark policy of the checkpoint: the one the first batch was logged with,
  // kept for the life of the checkpoint (Spark ignores a new setting on restart).
  std::optional<watermark_policy> policy;
  // State partitions of each stateful operator: the checkpoint's, logged with every batch.
  std::optional<std::size_t> shuffle_partitions;

 protected:
  // The rows the sources plan for this batch (source_control::planned_rows), each capped at
  // max_rows, and the sum too; none when a source cannot tell.
  SLUICE_DECL std::optional<std::size_t> planned_source_rows(std::size_t max_rows) const;

 private:
  // The graph's partitions this batch (open_partitions of the graph's last node).
  virtual std::size_t open_partitions(batch_context& ctx) = 0;
  // Empties the first `buffers` row buffers; with one buffer and no stage between the sources
  // and the sink, reserves it for the rows the sources plan.
  virtual void prepare_buffers(std::size_t buffers) = 0;
  // Runs partition i of the graph, appending its rows to row buffer `buffer`.
  virtual void run_partition(batch_context& ctx, std::size_t i, std::size_t buffer) = 0;
  virtual void close_partitions(batch_context& ctx) = 0;
  // Gives the first `buffers` row buffers, in order, to the sink (deliver_batch); returns
  // their rows.
  virtual std::int64_t deliver(const batch_context& ctx, std::size_t buffers) = 0;
};

template <class Plan>
class plan_runner final : public runner_base {
 public:
  using row_type = typename Plan::row_type;
  plan_runner(Plan p, output_mode_kind m) : plan_(std::move(p)) {
    mode = m;
    plan_.node.visit(controls);
    operator_watermarks.resize(controls.watermarks.size());
  }
  plan_runner(const plan_runner&) = delete;
  plan_runner& operator=(const plan_runner&) = delete;

  void start_sink(const sink_context& ctx) override {
    if constexpr (requires { plan_.sink.start(ctx); }) plan_.sink.start(ctx);
    for (auto* e : controls.expectations) e->start(ctx);  // their dead-letter sinks
    for (auto* side : controls.side_sinks) side->start_side_sink(ctx.query_id, ctx.query_name);
  }
  std::string sink_description() const override { return plan_.sink.description(); }
  std::string row_signature() const override {
    if constexpr (record<row_type>) return boost::json::serialize(spark_struct_type<row_type>());
    else return typeid(row_type).name();
  }

 private:
  std::size_t open_partitions(batch_context& ctx) override { return sluice::open_partitions(plan_.node, ctx); }
  void prepare_buffers(std::size_t n) override {
    if (parts_.size() < n) parts_.resize(n);
    for (std::size_t i = 0; i < n; ++i) parts_[i].clear();
    // With no stage between the sources and the sink, the batch's rows are the sources' rows:
    // reserve for the count they plan (graph/source.hpp, planned_rows) rather than grow the
    // buffer from empty, which dominated a large first batch. Capped: a hint may be far off.
    if constexpr (boost::mp11::mp_empty<typename Plan::stages>::value) {
      if (n == 1) {
        constexpr std::size_t max_rows = std::max<std::size_t>(1, (std::size_t{256} << 20) / sizeof(row_type));
        if (const auto planned = planned_source_rows(max_rows)) parts_[0].reserve(*planned);
      }
    }
  }
  // The graph's one per-row loop: every source row through the fused stages into a buffer.
  void run_partition(batch_context& ctx, std::size_t i, std::size_t buffer) override {
    auto& rows = parts_[buffer];
    auto keep = [&rows](auto&& r) { detail::append_row(rows, std::forward<decltype(r)>(r)); };
    sluice::run_partition(plan_.node, ctx, i, keep);
  }
  void close_partitions(batch_context& ctx) override { sluice::close_partitions(plan_.node, ctx); }
  std::int64_t deliver(const batch_context& ctx, std::size_t n) override {
    spans_.resize(n);
    std::size_t rows = 0;
    for (std::size_t i = 0; i < n; ++i) {
      spans_[i] = std::span<const row_type>(parts_[i].data(), parts_[i].size());
      rows += parts_[i].size();
    }
    deliver_batch(plan_.sink, ctx, std::span<const std::span<const row_type>>(spans_.data(), n), scratch_);
    return static_cast<std::int64_t>(rows);
  }

  Plan plan_;
  // A batch's rows: one buffer on one thread, one per partition with workers. Reused: no
  // allocation per batch once warm.
  std::vector<std::vector<row_type>> parts_;
  std::vector<row_type> scratch_;  // partitions joined for a sink that takes one batch
  std::vector<std::span<const row_type>> spans_;
};

class query_core {
 public:
  SLUICE_DECL query_core(std::shared_ptr<runner_base> runner, query_options options);
  SLUICE_DECL ~query_core();  // stops and joins the thread

  SLUICE_DECL void launch();
  SLUICE_DECL void request_stop();
  // Safe from several threads at once (stop() in one, await_termination() in another).
  SLUICE_DECL void join();
  SLUICE_DECL bool wait_terminated(std::optional<std::chrono::steady_clock::duration> timeout);

  // Blocks until every row available when called has been processed and committed. As in
  // Spark, returns at once when the query is no longer active (stopped, or ended by a trigger
  // once / available-now), and throws the error of a query that failed.
  SLUICE_DECL void process_all_available();

  SLUICE_DECL std::optional<streaming_query_error> error() const;
  SLUICE_DECL bool active() const;
  SLUICE_DECL query_status status() const;
  SLUICE_DECL std::vector<query_progress> recent_progress() const;
  SLUICE_DECL std::optional<query_progress> last_progress() const;
  const std::string& id() const { return runner_->query_id; }
  const std::string& run_id() const { return run_id_; }
  const std::string& name() const { return options_.name; }
  SLUICE_DECL std::int64_t current_watermark() const;
  const std::shared_ptr<runner_base>& runner() const { return runner_; }

  // Runs f while no batch is being planned, so that what f adds to several sources lands in
  // the same batch (Spark's withProgressLocked, behind StreamTest's MultiAddData).
  template <class F>
  void with_progress_locked(F&& f) {
    std::lock_guard lock(progress_mutex_);
    std::forward<F>(f)();
  }

 private:
  using clock = std::chrono::steady_clock;

  SLUICE_DECL void set_status(std::string message, bool data_available, bool trigger_active);
  // Sleeps until `until`, a stop request, or a drain request newer than `drain_seen` (the
  // count when the last attempt began: one made since then must not wait out the sleep);
  // true when stopping.
  SLUICE_DECL bool sleep_until(clock::time_point until, std::uint64_t drain_seen);
  SLUICE_DECL void loop();
  // Once per runner (the checkpoint's metadata was checked by launch): opens the sources, and
  // restores offsets, watermarks and state of the last committed batch; a batch logged but
  // not committed becomes pending, to run again exactly as logged.
  SLUICE_COLD SLUICE_DECL void open_and_restore();
  // After a failed run, stateful operators may hold half a batch: reload the state of the
  // last committed batch from the checkpoint so the batch runs again from where it started.
  SLUICE_COLD SLUICE_DECL void recover_after_failure();
  // Every stateful operator back to its state after batch `version` (-1: empty), and to the
  // watermark that batch ran with.
  SLUICE_COLD SLUICE_DECL void reload_state(std::int64_t version, std::int64_t batch_watermark);
  // One trigger: plans, runs and commits a batch; false when there was nothing to run.
  SLUICE_DECL bool run_one_batch(clock::time_point trigger_start);

  // Tells every listener in turn; one that throws is skipped (as Spark's listener bus does).
  template <class Event>
  void notify(void (query_listener::*handler)(const Event&), const Event& event) noexcept {
    for (const auto& l : options_.listeners) {
      try {
        if (l) ((*l).*handler)(event);
      } catch (...) {
      }
    }
  }

  std::shared_ptr<runner_base> runner_;
  query_options options_;
  // The query's workers (query_options::parallelism), started with the query's thread; none
  // for parallelism 1.
  std::unique_ptr<worker_pool> workers_;
  std::string run_id_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::mutex join_mutex_;
  std::mutex progress_mutex_;  // held while a batch's offsets are planned
  std::condition_variable cv_;
  bool stop_requested_ = false;
  std::stop_source stop_source_;  // the sources' stop token for this run (set_stop_token)
  bool terminated_ = false;
  std::uint64_t drain_requested_ = 0, drained_ = 0;
  std::optional<streaming_query_error> error_;
  query_status status_;
  std::deque<query_progress> progress_;
  std::optional<clock::time_point> last_trigger_start_;
  std::optional<clock::time_point> last_event_;  // progress or idle: paces the idle events
};
}  // namespace detail

// The handle of a started query (Spark's StreamingQuery). Destroying the last handle stops
// the query.
class streaming_query {
 public:
  explicit streaming_query(std::shared_ptr<detail::query_core> core) : core_(std::move(core)) {}

  const std::string& id() const { return core_->id(); }
  const std::string& run_id() const { return core_->run_id(); }
  const std::string& name() const { return core_->name(); }
  bool is_active() const { return core_->active(); }
  query_status status() const { return core_->status(); }
  std::optional<query_progress> last_progress() const { return core_->last_progress(); }
  std::vector<query_progress> recent_progress() const { return core_->recent_progress(); }
  // The watermark the next batch will use (microseconds of event time).
  std::int64_t current_watermark() const { return core_->current_watermark(); }

  // Stops the query and waits for its thread; a batch under way finishes first.
  SLUICE_DECL void stop();
  // Waits for the query to end; throws streaming_query_error if it failed.
  SLUICE_DECL void await_termination();
  // Returns false when the timeout passed first; throws streaming_query_error if it failed.
  template <class Rep, class Period>
  bool await_termination(std::chrono::duration<Rep, Period> timeout) {
    if (!core_->wait_terminated(std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout))) return false;
    core_->join();
    if (auto e = core_->error()) throw *e;
    return true;
  }
  void process_all_available() { core_->process_all_available(); }
  std::optional<streaming_query_error> exception() const { return core_->error(); }

  const std::shared_ptr<detail::query_core>& core() const { return core_; }

 private:
  std::shared_ptr<detail::query_core> core_;
};

namespace detail {
// Opens (or checks) the checkpoint and starts the query's thread.
SLUICE_DECL streaming_query launch(std::shared_ptr<runner_base> runner, query_options options);
}  // namespace detail

}  // namespace sluice

#if SLUICE_HEADER_ONLY
#include "../impl/query.ipp"
#endif

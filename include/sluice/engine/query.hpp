// A running query: the micro-batch loop on its own thread, and the handle users hold.
//
// One batch:  plan end offsets (or a no-data batch) -> run the fused graph into a buffer ->
//             sink.add_batch(id, rows) -> commit source offsets -> advance watermarks ->
//             record progress.
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
#include <string>
#include <thread>
#include <typeinfo>
#include <utility>
#include <vector>

#include "../checkpoint/checkpoint.hpp"
#include "../checkpoint/state_store.hpp"
#include "../detail/crash_point.hpp"
#include "../detail/uuid.hpp"
#include "../pipeline.hpp"
#include "../sinks/sink.hpp"
#include "../spark_schema.hpp"
#include "options.hpp"
#include "progress.hpp"

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
  virtual ~runner_base() = default;
  virtual void start_sink(const sink_context& ctx) = 0;
  virtual std::int64_t run_batch(batch_context& ctx) = 0;  // returns rows given to the sink
  virtual std::string sink_description() const = 0;
  virtual std::string row_signature() const = 0;

  // What a checkpoint must match: the output mode, the row, offset and state types, and the
  // graph's shape (sources, watermark and stateful stages in order).
  std::string fingerprint_text() const {
    std::string text = "mode=" + std::string(to_string(mode)) + ";row=" + row_signature() + ";sources=[";
    for (auto* s : controls.sources) text += s->offset_signature() + ",";
    text += "];watermarks=" + std::to_string(controls.watermarks.size()) + ";stateful=[";
    for (auto* st : controls.stateful) text += st->state_signature() + ",";
    return text + "]";
  }
  std::string fingerprint() const {
    std::uint64_t h = 14695981039346656037ULL;  // FNV-1a, 64 bits
    for (unsigned char c : fingerprint_text()) h = (h ^ c) * 1099511628211ULL;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }

  graph_controls controls;
  output_mode_kind mode = output_mode_kind::append;
  std::string query_id = random_uuid();
  std::int64_t next_batch_id = 0;
  std::uint64_t attempts = 0;  // runs of batches, failed ones included
  // A batch that was planned (offsets logged) but not committed: the next run executes it
  // again with exactly these offsets, watermark and timestamp.
  std::optional<offset_log_entry> pending;
  bool opened = false;  // sources opened and checkpoint restored (once per runner)
  bool failed = false;  // the last run ended in an error: state must be reloaded before a re-run
  std::optional<checkpoint_dir> checkpoint;
  std::int64_t watermark = 0;  // the next batch's watermark
  std::vector<std::optional<std::int64_t>> operator_watermarks;
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
  }
  std::int64_t run_batch(batch_context& ctx) override {
    out_.clear();
    auto collect = [this](auto&& r) { out_.emplace_back(std::forward<decltype(r)>(r)); };
    plan_.node.run(ctx, collect);
    plan_.sink.add_batch(ctx.batch_id, std::span<const row_type>(out_.data(), out_.size()));
    return static_cast<std::int64_t>(out_.size());
  }
  std::string sink_description() const override { return plan_.sink.description(); }
  std::string row_signature() const override {
    if constexpr (record<row_type>) return boost::json::serialize(spark_struct_type<row_type>());
    else return typeid(row_type).name();
  }

 private:
  Plan plan_;
  std::vector<row_type> out_;  // reused: no allocation per batch once warm
};

class query_core {
 public:
  query_core(std::shared_ptr<runner_base> runner, query_options options)
      : runner_(std::move(runner)), options_(std::move(options)), run_id_(random_uuid()) {}

  ~query_core() {
    request_stop();
    join();
  }

  void launch() {
    thread_ = std::thread([this] { loop(); });  // the destructor stops and joins it
  }

  void request_stop() {
    {
      std::lock_guard lock(mutex_);
      stop_requested_ = true;
    }
    cv_.notify_all();
  }
  // Safe from several threads at once (stop() in one, await_termination() in another).
  void join() {
    std::lock_guard lock(join_mutex_);
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  bool wait_terminated(std::optional<std::chrono::steady_clock::duration> timeout) {
    std::unique_lock lock(mutex_);
    auto done = [&] { return terminated_; };
    if (timeout) return cv_.wait_for(lock, *timeout, done);
    cv_.wait(lock, done);
    return true;
  }

  // Blocks until every row available when called has been processed and committed. As in
  // Spark, returns at once when the query is no longer active (stopped, or ended by a trigger
  // once / available-now), and throws the error of a query that failed.
  void process_all_available() {
    std::unique_lock lock(mutex_);
    const std::uint64_t mine = ++drain_requested_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return terminated_ || drained_ >= mine; });
    if (error_) throw *error_;
  }

  std::optional<streaming_query_error> error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }
  bool active() const {
    std::lock_guard lock(mutex_);
    return !terminated_;
  }
  query_status status() const {
    std::lock_guard lock(mutex_);
    return status_;
  }
  std::vector<query_progress> recent_progress() const {
    std::lock_guard lock(mutex_);
    return {progress_.begin(), progress_.end()};
  }
  std::optional<query_progress> last_progress() const {
    std::lock_guard lock(mutex_);
    if (progress_.empty()) return std::nullopt;
    return progress_.back();
  }
  const std::string& id() const { return runner_->query_id; }
  const std::string& run_id() const { return run_id_; }
  const std::string& name() const { return options_.name; }
  std::int64_t current_watermark() const {
    std::lock_guard lock(mutex_);
    return runner_->watermark;
  }
  const std::shared_ptr<runner_base>& runner() const { return runner_; }

 private:
  using clock = std::chrono::steady_clock;

  void set_status(std::string message, bool data_available, bool trigger_active) {
    std::lock_guard lock(mutex_);
    status_ = {std::move(message), data_available, trigger_active};
  }

  // Sleeps until `until`, a stop request, or a drain request newer than `drain_seen` (the
  // count when the last attempt began: one made since then must not wait out the sleep);
  // true when stopping.
  bool sleep_until(clock::time_point until, std::uint64_t drain_seen) {
    std::unique_lock lock(mutex_);
    cv_.wait_until(lock, until, [&] { return stop_requested_ || drain_requested_ != drain_seen; });
    return stop_requested_;
  }

  void loop() {
    std::int64_t failed_batch = runner_->next_batch_id;
    try {
      open_and_restore();
      recover_after_failure();
      runner_->start_sink({id(), name(), runner_->mode});
      if (options_.trigger.kind == trigger_kind::available_now)
        for (auto* s : runner_->controls.sources) s->prepare_available_now();
      while (true) {
        std::uint64_t drain_seen;
        {
          std::lock_guard lock(mutex_);
          if (stop_requested_) break;
          drain_seen = drain_requested_;
        }
        const auto trigger_start = clock::now();
        failed_batch = runner_->next_batch_id;
        const bool ran = run_one_batch(trigger_start);
        if (!ran) {
          std::lock_guard lock(mutex_);
          drained_ = std::max(drained_, drain_seen);
          status_ = {"Waiting for data to arrive", false, false};
        }
        cv_.notify_all();
        if (options_.trigger.kind == trigger_kind::once) break;
        if (options_.trigger.kind == trigger_kind::available_now && !ran) break;
        if (options_.trigger.kind == trigger_kind::processing_time) {
          if (sleep_until(trigger_start + options_.trigger.interval, drain_seen)) break;
        } else if (!ran && options_.trigger.kind == trigger_kind::micro_batch) {
          if (sleep_until(clock::now() + options_.polling_delay, drain_seen)) break;
        }
      }
    } catch (...) {
      std::string what = "unknown error";
      try {
        throw;
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      runner_->failed = true;
      std::lock_guard lock(mutex_);
      error_.emplace("Query " + (name().empty() ? std::string() : name() + " ") + "[id = " + id() +
                         ", runId = " + run_id_ + "] terminated with exception in batch " +
                         std::to_string(failed_batch) + ": " + what,
                     std::current_exception(), failed_batch);
    }
    for (auto* s : runner_->controls.sources) {
      try {
        s->stop();
      } catch (...) {
      }
    }
    {
      std::lock_guard lock(mutex_);
      terminated_ = true;
      status_ = {"Stopped", false, false};
    }
    cv_.notify_all();
  }

  // Once per runner (the checkpoint's metadata was checked by launch): opens the sources, and
  // restores offsets, watermarks and state of the last committed batch; a batch logged but
  // not committed becomes pending, to run again exactly as logged.
  void open_and_restore() {
    auto& r = *runner_;
    if (r.opened) return;
    for (std::size_t i = 0; i < r.controls.sources.size(); ++i) {
      source_context ctx{r.query_id, i, {}};
      if (r.checkpoint) ctx.checkpoint_dir = r.checkpoint->root() / "sources" / std::to_string(i);
      r.controls.sources[i]->open(ctx);
    }
    r.opened = true;
    if (!r.checkpoint) return;
    const auto& cp = *r.checkpoint;
    const auto last_commit = cp.latest_commit();
    const auto last_offsets = cp.latest_offsets();
    const std::size_t n_sources = r.controls.sources.size();
    if (last_commit) {
      if (!last_offsets || *last_offsets < *last_commit)
        throw checkpoint_error(cp.commits_path(*last_commit).string() + ": commit without offsets; the checkpoint "
                                                                        "is corrupt");
      const auto committed = cp.read_offsets(*last_commit, n_sources);
      const auto commit = cp.read_commit(*last_commit);
      if (commit.operator_watermarks_us.size() != r.operator_watermarks.size())
        throw checkpoint_error(cp.commits_path(*last_commit).string() + ": holds " +
                               std::to_string(commit.operator_watermarks_us.size()) + " watermarks, the query has " +
                               std::to_string(r.operator_watermarks.size()));
      for (std::size_t i = 0; i < n_sources; ++i) {
        try {
          r.controls.sources[i]->restore(committed.source_offsets[i]);
        } catch (const std::exception& e) {
          throw checkpoint_error(cp.offsets_path(*last_commit).string() + ": offset of source " + std::to_string(i) +
                                 ": " + e.what());
        }
      }
      reload_state(*last_commit, committed.batch_watermark_us);
      r.watermark = commit.next_batch_watermark_us;
      r.operator_watermarks = commit.operator_watermarks_us;
      r.next_batch_id = *last_commit + 1;
    }
    if (last_offsets && (!last_commit || *last_offsets > *last_commit)) {
      const std::int64_t expected = last_commit ? *last_commit + 1 : 0;
      if (*last_offsets != expected)
        throw checkpoint_error(cp.offsets_path(*last_offsets).string() + ": batch " + std::to_string(*last_offsets) +
                               " was planned but batch " + std::to_string(expected) +
                               " never committed; the checkpoint is corrupt");
      r.pending = cp.read_offsets(*last_offsets, n_sources);
      r.next_batch_id = *last_offsets;
    }
  }

  // After a failed run, stateful operators may hold half a batch: reload the state of the
  // last committed batch from the checkpoint so the batch runs again from where it started.
  void recover_after_failure() {
    auto& r = *runner_;
    if (!r.failed) return;
    if (!r.controls.stateful.empty()) {
      if (!r.checkpoint)
        throw std::logic_error("sluice: this query failed and has no checkpoint: its state cannot be restored to run "
                               "the failed batch again; start queries with query_options.checkpoint to restart them");
      const auto last = r.checkpoint->latest_commit();
      reload_state(last ? *last : -1,
                   last ? r.checkpoint->read_offsets(*last, r.controls.sources.size()).batch_watermark_us
                        : std::numeric_limits<std::int64_t>::min());
    }
    r.failed = false;
  }

  // Every stateful operator back to its state after batch `version` (-1: empty), and to the
  // watermark that batch ran with.
  void reload_state(std::int64_t version, std::int64_t batch_watermark) {
    auto& r = *runner_;
    for (std::size_t i = 0; i < r.controls.stateful.size(); ++i) {
      load_state(*r.checkpoint, i, version, *r.controls.stateful[i]);
      r.controls.stateful[i]->restore_last_batch_watermark(batch_watermark);
    }
  }

  bool run_one_batch(clock::time_point trigger_start) {
    auto& r = *runner_;
    set_status("Getting offsets from sources", false, true);
    const auto t_plan = clock::now();
    const read_limit limit =
        options_.trigger.kind == trigger_kind::once ? read_limit::all_available() : read_limit::source_default();
    bool has_data = false;
    bool no_data = false;
    if (r.pending) {
      // Planned before but not committed (a failure or a crash): run it again as logged.
      for (std::size_t i = 0; i < r.controls.sources.size(); ++i) {
        try {
          has_data |= r.controls.sources[i]->plan_logged_batch(r.pending->source_offsets[i]);
        } catch (const schema_error& e) {
          const std::string where = r.checkpoint ? r.checkpoint->offsets_path(r.pending->batch_id).string()
                                                  : "batch " + std::to_string(r.pending->batch_id);
          throw checkpoint_error(where + ": offset of source " + std::to_string(i) + ": " + e.what());
        }
      }
      no_data = !has_data;
    } else {
      for (auto* s : r.controls.sources) has_data |= s->plan_batch(limit);
      if (!has_data) {
        bool wanted = false;
        // Trigger once runs one batch with data or nothing: never a no-data batch.
        if (options_.no_data_micro_batches && options_.trigger.kind != trigger_kind::once)
          for (auto* st : r.controls.stateful) wanted |= st->needs_no_data_batch(r.mode, r.watermark);
        if (!wanted) return false;
        for (auto* s : r.controls.sources) s->plan_empty_batch();
        no_data = true;
      }
      offset_log_entry planned;
      planned.batch_id = r.next_batch_id;
      planned.batch_watermark_us = r.watermark;
      planned.batch_timestamp_us = timestamp::now().micros;
      for (auto* s : r.controls.sources) planned.source_offsets.push_back(s->end_offset_json());
      if (r.checkpoint) {
        r.checkpoint->write_offsets(planned);  // durable before the batch runs
        crash_point("after_offsets");
      }
      r.pending = std::move(planned);
    }
    const auto t_run = clock::now();
    set_status("Processing new data", has_data, true);

    batch_context ctx;
    ctx.batch_id = r.pending->batch_id;
    ctx.watermark = r.pending->batch_watermark_us;
    ctx.has_watermark = !r.controls.watermarks.empty();
    ctx.batch_timestamp = timestamp{r.pending->batch_timestamp_us};
    ctx.mode = r.mode;
    ctx.no_data = no_data;
    ctx.attempt = ++r.attempts;

    // A failed run of this batch may have left event-time statistics and state behind.
    for (auto* w : r.controls.watermarks) w->take_batch_stats();
    for (auto* st : r.controls.stateful) st->begin_batch(ctx);
    const std::int64_t output_rows = r.run_batch(ctx);
    const auto t_sink = clock::now();
    if (r.checkpoint) {
      crash_point("after_sink");
      for (std::size_t i = 0; i < r.controls.stateful.size(); ++i)
        save_state(*r.checkpoint, i, ctx.batch_id, *r.controls.stateful[i], options_.state_snapshot_interval);
      crash_point("after_state");
    }
    std::vector<boost::json::value> start_offsets;
    for (auto* s : r.controls.sources) start_offsets.push_back(s->start_offset_json());

    // Watermarks: per stage max(event time) - delay, never decreasing; then the policy.
    event_time_stats all;
    for (std::size_t i = 0; i < r.controls.watermarks.size(); ++i) {
      auto* w = r.controls.watermarks[i];
      const auto stats = w->take_batch_stats();
      auto& op = r.operator_watermarks[i];
      if (stats.count > 0) {
        const std::int64_t candidate = stats.max - w->delay().count();
        if (!op || candidate > *op) op = candidate;
        all.merge(stats);
      } else if (!op) {
        op = 0;  // an input with no data yet counts as 0
      }
    }
    if (!r.operator_watermarks.empty()) {
      std::int64_t chosen = *r.operator_watermarks.front();
      for (const auto& op : r.operator_watermarks)
        chosen = options_.multiple_watermark_policy == watermark_policy::min ? std::min(chosen, *op)
                                                                               : std::max(chosen, *op);
      std::lock_guard lock(mutex_);
      if (chosen > r.watermark) r.watermark = chosen;
    }
    if (r.checkpoint) {
      commit_log_entry c;
      c.batch_id = ctx.batch_id;
      c.next_batch_watermark_us = r.watermark;
      c.operator_watermarks_us = r.operator_watermarks;
      r.checkpoint->write_commit(c);
      crash_point("after_commit");
      const std::int64_t keep_from = ctx.batch_id - options_.min_batches_to_retain + 1;
      if (keep_from > 0) {
        r.checkpoint->purge(ctx.batch_id, options_.min_batches_to_retain);
        for (std::size_t i = 0; i < r.controls.stateful.size(); ++i) purge_state(*r.checkpoint, i, keep_from);
      }
    }
    // Only now may sources release what the batch read.
    for (auto* s : r.controls.sources) s->commit_batch();
    const auto t_end = clock::now();

    query_progress p;
    p.id = id();
    p.run_id = run_id_;
    p.name = name();
    p.timestamp = ctx.batch_timestamp;
    p.batch_id = ctx.batch_id;
    auto ms = [](clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
    const double batch_seconds = std::chrono::duration<double>(t_end - trigger_start).count();
    // Input rate: rows over the time since the previous batch's trigger (this batch's own
    // duration for the first one).
    const double since_last = last_trigger_start_ ? std::chrono::duration<double>(trigger_start - *last_trigger_start_).count()
                                                  : batch_seconds;
    last_trigger_start_ = trigger_start;
    for (std::size_t i = 0; i < r.controls.sources.size(); ++i) {
      auto* s = r.controls.sources[i];
      source_progress sp;
      sp.description = s->description();
      sp.start_offset = std::move(start_offsets[i]);
      sp.end_offset = s->end_offset_json();
      sp.num_input_rows = s->rows_in_batch();
      sp.input_rows_per_second = since_last > 0 ? static_cast<double>(sp.num_input_rows) / since_last : 0;
      sp.processed_rows_per_second = batch_seconds > 0 ? static_cast<double>(sp.num_input_rows) / batch_seconds : 0;
      p.num_input_rows += sp.num_input_rows;
      p.sources.push_back(std::move(sp));
    }
    p.input_rows_per_second = since_last > 0 ? static_cast<double>(p.num_input_rows) / since_last : 0;
    p.processed_rows_per_second = batch_seconds > 0 ? static_cast<double>(p.num_input_rows) / batch_seconds : 0;
    p.duration_ms = {{"latestOffset", ms(t_run - t_plan)},
                     {"addBatch", ms(t_sink - t_run)},
                     {"triggerExecution", ms(t_end - trigger_start)}};
    if (ctx.has_watermark) {
      p.event_time.watermark = timestamp{ctx.watermark};
      if (all.count > 0) {
        p.event_time.min = timestamp{all.min};
        p.event_time.max = timestamp{all.max};
        p.event_time.avg = timestamp{static_cast<std::int64_t>(all.sum() / all.count)};
      }
    }
    for (auto* st : r.controls.stateful) p.state_operators.push_back(st->metrics());
    p.sink = {r.sink_description(), output_rows};
    {
      std::lock_guard lock(mutex_);
      progress_.push_back(std::move(p));
      while (progress_.size() > options_.progress_retention) progress_.pop_front();
      r.next_batch_id = ctx.batch_id + 1;
      r.pending.reset();
    }
    return true;
  }

  std::shared_ptr<runner_base> runner_;
  query_options options_;
  std::string run_id_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::mutex join_mutex_;
  std::condition_variable cv_;
  bool stop_requested_ = false;
  bool terminated_ = false;
  std::uint64_t drain_requested_ = 0, drained_ = 0;
  std::optional<streaming_query_error> error_;
  query_status status_;
  std::deque<query_progress> progress_;
  std::optional<clock::time_point> last_trigger_start_;
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
  void stop() {
    core_->request_stop();
    core_->join();
  }
  // Waits for the query to end; throws streaming_query_error if it failed.
  void await_termination() {
    core_->wait_terminated(std::nullopt);
    core_->join();
    if (auto e = core_->error()) throw *e;
  }
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
inline streaming_query launch(std::shared_ptr<runner_base> runner, query_options options) {
  // The checkpoint's metadata is read before start returns: the query id is the stored one,
  // and another query's checkpoint is refused here (streaming_query_error is not involved).
  if (!runner->opened && !options.checkpoint.empty() && !runner->checkpoint) {
    // Exactly-once needs every batch to be readable again: refuse before writing anything.
    for (auto* s : runner->controls.sources)
      if (!s->replayable())
        throw std::invalid_argument("sluice: source '" + s->description() +
                                    "' is not replayable and cannot be used with a checkpoint (a batch re-run after "
                                    "a failure could not read its rows again); start the query without one");
    runner->checkpoint.emplace(options.checkpoint);
    runner->query_id = runner->checkpoint->open(runner->query_id, runner->fingerprint());
  }
  auto core = std::make_shared<query_core>(std::move(runner), std::move(options));
  core->launch();
  return streaming_query(std::move(core));
}
}  // namespace detail

}  // namespace sluice

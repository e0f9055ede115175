// Definitions of engine/query.hpp's non-template functions: the micro-batch loop, recovery
// and the query handle (see impl/config.hpp).
#pragma once
#include <charconv>

#include "../engine/query.hpp"

namespace sluice {
namespace detail {

runner_base::runner_base() : query_id(random_uuid()) {}

// The offset log keeps the policy under this key (Spark: spark.sql.streaming.multipleWatermarkPolicy).
inline constexpr std::string_view policy_conf_key = "multiple_watermark_policy";

// The policy an offset log entry was planned with. An entry without one was written before
// sluice stored it: min, as Spark assumes for checkpoints older than the setting.
SLUICE_COLD inline watermark_policy logged_policy(const offset_log_entry& e, const std::filesystem::path& where) {
  const auto* v = e.conf.if_contains(policy_conf_key);
  if (!v) return watermark_policy::min;
  if (v->is_string() && v->as_string() == "min") return watermark_policy::min;
  if (v->is_string() && v->as_string() == "max") return watermark_policy::max;
  throw checkpoint_error(where.string() + ": conf." + std::string(policy_conf_key) + " is " +
                         boost::json::serialize(*v) + "; expected \"min\" or \"max\"");
}

// The offset log keeps the state partitions under this key (Spark: spark.sql.shuffle.partitions).
inline constexpr std::string_view shuffle_partitions_conf_key = "shuffle_partitions";

// The state partitions an offset log entry was planned with; none in an entry written before
// sluice had them (its state is kept whole, and restores into any number of partitions).
SLUICE_COLD inline std::optional<std::size_t> logged_shuffle_partitions(const offset_log_entry& e,
                                                                        const std::filesystem::path& where) {
  const auto* v = e.conf.if_contains(shuffle_partitions_conf_key);
  if (!v) return std::nullopt;
  if (v->is_string()) {
    const std::string text(v->as_string());
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc{} && end == text.data() + text.size() && n > 0) return n;
  }
  throw checkpoint_error(where.string() + ": conf." + std::string(shuffle_partitions_conf_key) + " is " +
                         boost::json::serialize(*v) + "; expected a positive integer");
}

// At start: a checkpoint keeps the shuffle_partitions it was created with (its state's layout).
SLUICE_COLD inline void refuse_changed_shuffle_partitions(const checkpoint_dir& cp, std::size_t sources,
                                                          std::size_t option) {
  const auto last = cp.latest_offsets();
  if (option == 0 || !last) return;
  const auto logged = logged_shuffle_partitions(cp.read_offsets(*last, sources), cp.offsets_path(*last));
  if (logged && *logged != option)
    throw checkpoint_error("query_options.shuffle_partitions is " + std::to_string(option) + " but checkpoint " +
                           cp.root().string() + " was created with " + std::to_string(*logged) +
                           " (its state is laid out in that many partitions per stateful operator): leave "
                           "shuffle_partitions at 0 to use the checkpoint's, or start from a new checkpoint");
}

runner_base::~runner_base() = default;

boost::json::object runner_base::checkpoint_description() const {
  auto as_json = [](const std::string& text) {  // the signatures are JSON schemas, or a type's name
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    return ec ? boost::json::value(text) : v;
  };
  boost::json::array sources, operators;
  for (auto* s : controls.sources) sources.push_back(boost::json::object{{"offset", as_json(s->offset_signature())}});
  for (auto* d : controls.described) operators.push_back(d->checkpoint_description());
  return {{"outputMode", to_string(mode)},
          {"row", as_json(row_signature())},
          {"sources", std::move(sources)},
          {"operators", std::move(operators)}};
}

std::optional<std::size_t> runner_base::planned_source_rows(std::size_t max_rows) const {
  std::size_t planned = 0;
  for (auto* s : controls.sources) {
    const auto n = s->planned_rows();
    if (!n) return std::nullopt;  // a source that cannot tell: the buffer grows as before
    planned += std::min(*n, max_rows);
  }
  return std::min(planned, max_rows);
}

std::int64_t runner_base::run_batch(batch_context& ctx) {
  const batch_scope running(ctx);  // sl::current_timestamp() in the graph and the sink
  const std::size_t n = open_partitions(ctx);
  if (ctx.tasks == nullptr || ctx.tasks->workers() <= 1 || n <= 1) {
    // On this thread, partition after partition into one buffer.
    prepare_buffers(1);
    for (std::size_t i = 0; i < n; ++i) run_partition(ctx, i, 0);
    close_partitions(ctx);
    return deliver(ctx, 1);
  }
  // Each partition on a worker into a buffer of its own; the sink gets them in partition order.
  prepare_buffers(n);
  parallel_for(ctx, n, [&](std::size_t i) { run_partition(ctx, i, i); });
  close_partitions(ctx);
  return deliver(ctx, n);
}

query_core::query_core(std::shared_ptr<runner_base> runner, query_options options)
    : runner_(std::move(runner)), options_(std::move(options)), run_id_(random_uuid()) {}

query_core::~query_core() {
  request_stop();
  join();
}

void query_core::launch() {
  // Spark calls onQueryStarted before start() returns.
  notify(&query_listener::on_query_started, query_started_event{id(), run_id_, name(), timestamp::now()});
  thread_ = std::thread([this] { loop(); });  // the destructor stops and joins it
}

void query_core::request_stop() {
  {
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
  }
  cv_.notify_all();
  stop_source_.request_stop();  // wakes a source blocked in a wait or a read
}

void query_core::join() {
  std::lock_guard lock(join_mutex_);
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool query_core::wait_terminated(std::optional<std::chrono::steady_clock::duration> timeout) {
  std::unique_lock lock(mutex_);
  auto done = [&] { return terminated_; };
  if (timeout) return cv_.wait_for(lock, *timeout, done);
  cv_.wait(lock, done);
  return true;
}

void query_core::process_all_available() {
  std::unique_lock lock(mutex_);
  const std::uint64_t mine = ++drain_requested_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return terminated_ || drained_ >= mine; });
  if (error_) throw *error_;
}

std::optional<streaming_query_error> query_core::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

bool query_core::active() const {
  std::lock_guard lock(mutex_);
  return !terminated_;
}

query_status query_core::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

std::vector<query_progress> query_core::recent_progress() const {
  std::lock_guard lock(mutex_);
  return {progress_.begin(), progress_.end()};
}

std::optional<query_progress> query_core::last_progress() const {
  std::lock_guard lock(mutex_);
  if (progress_.empty()) return std::nullopt;
  return progress_.back();
}

std::int64_t query_core::current_watermark() const {
  std::lock_guard lock(mutex_);
  return runner_->watermark;
}

void query_core::set_status(std::string message, bool data_available, bool trigger_active) {
  std::lock_guard lock(mutex_);
  status_ = {std::move(message), data_available, trigger_active};
}

bool query_core::sleep_until(clock::time_point until, std::uint64_t drain_seen) {
  std::unique_lock lock(mutex_);
  cv_.wait_until(lock, until, [&] { return stop_requested_ || drain_requested_ != drain_seen; });
  return stop_requested_;
}

void query_core::loop() {
  std::int64_t failed_batch = runner_->next_batch_id;
  try {
    const std::size_t threads =
        options_.parallelism > 0 ? options_.parallelism : std::max(1u, std::thread::hardware_concurrency());
    if (threads > 1 && !workers_) workers_ = std::make_unique<worker_pool>(threads);
    for (auto* s : runner_->controls.sources) s->set_stop_token(stop_source_.get_token());
    open_and_restore();
    recover_after_failure();
    runner_->start_sink({id(), name(), runner_->mode});
    if (options_.trigger.kind == trigger_kind::available_now)
      for (auto* s : runner_->controls.sources) s->prepare_available_now();
    int retries = 0;  // of the current batch, after a retriable_batch_error
    while (true) {
      std::uint64_t drain_seen;
      {
        std::lock_guard lock(mutex_);
        if (stop_requested_) break;
        drain_seen = drain_requested_;
      }
      const auto trigger_start = clock::now();
      failed_batch = runner_->next_batch_id;
      bool ran = false;
      try {
        ran = run_one_batch(trigger_start);
        retries = 0;
      } catch (const retriable_batch_error&) {
        // Without a checkpoint a stateful query cannot reload its state: the error ends it.
        const bool reloadable = runner_->checkpoint || runner_->controls.stateful.empty();
        if (++retries > retriable_batch_error::max_batch_retries || !reloadable) throw;
        runner_->failed = true;  // the logged batch runs again, on reloaded state
        recover_after_failure();
        continue;
      }
      if (!ran) {
        std::lock_guard lock(mutex_);
        drained_ = std::max(drained_, drain_seen);
        status_ = {"Waiting for data to arrive", false, false};
      }
      cv_.notify_all();
      if (!ran && (!last_event_ || clock::now() - *last_event_ >= options_.no_data_progress_event_interval)) {
        last_event_ = clock::now();
        notify(&query_listener::on_query_idle, query_idle_event{id(), run_id_, timestamp::now()});
      }
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
    bool interrupted = false;
    try {
      throw;
    } catch (const source_interrupted& e) {
      what = e.what();
      interrupted = true;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    runner_->failed = true;  // the interrupted batch may have run in part: it runs again
    std::lock_guard lock(mutex_);
    // A source cut short by stop() ends the query as stopped (Spark's isInterruptedByStop).
    if (!(interrupted && stop_requested_))
      error_.emplace("Query " + (name().empty() ? std::string() : name() + " ") + "[id = " + id() +
                         ", runId = " + run_id_ + "] terminated with exception in batch " +
                         std::to_string(failed_batch) + ": " + what,
                     std::current_exception(), failed_batch);
  }
  workers_.reset();  // the query's threads end with it
  for (auto* s : runner_->controls.sources) {
    try {
      s->stop();
    } catch (...) {
    }
  }
  // Stateful operators after the sources (transform_with_state calls the processor's close()):
  // an error there ends a query that had none with it.
  for (auto* st : runner_->controls.stateful) {
    try {
      st->stop();
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex_);
      if (!error_)
        error_.emplace("Query " + (name().empty() ? std::string() : name() + " ") + "[id = " + id() + ", runId = " +
                           run_id_ + "] terminated with exception while stopping: " + e.what(),
                       std::current_exception(), failed_batch);
    }
  }
  {
    // Before terminated_: a query's listeners know of its end when await_termination returns.
    std::optional<std::string> exception;
    if (auto e = error()) exception = e->what();
    notify(&query_listener::on_query_terminated, query_terminated_event{id(), run_id_, std::move(exception)});
  }
  {
    std::lock_guard lock(mutex_);
    terminated_ = true;
    status_ = {"Stopped", false, false};
  }
  cv_.notify_all();
}

void query_core::open_and_restore() {
  auto& r = *runner_;
  if (r.opened) return;
  for (std::size_t i = 0; i < r.controls.sources.size(); ++i) {
    source_context ctx{r.query_id, i, {}, options_.min_batches_to_retain};
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
    r.policy = logged_policy(committed, cp.offsets_path(*last_commit));
    r.shuffle_partitions = logged_shuffle_partitions(committed, cp.offsets_path(*last_commit));
    for (std::size_t i = 0; i < n_sources; ++i) {
      try {
        r.controls.sources[i]->restore(committed.source_offsets[i]);
      } catch (const std::exception& e) {
        throw checkpoint_error(cp.offsets_path(*last_commit).string() + ": offset of source " + std::to_string(i) +
                               ": " + e.what());
      }
    }
    reload_state(*last_commit, committed.batch_watermark_us);
    // Only the query's watermark: each input's starts again in this execution, and moves the
    // query's only once it gets past it (Spark's WatermarkTracker after a restart).
    r.watermark = commit.next_batch_watermark_us;
    r.previous_batch_watermark = committed.batch_watermark_us;
    r.next_batch_id = *last_commit + 1;
  }
  if (last_offsets && (!last_commit || *last_offsets > *last_commit)) {
    const std::int64_t expected = last_commit ? *last_commit + 1 : 0;
    if (*last_offsets != expected)
      throw checkpoint_error(cp.offsets_path(*last_offsets).string() + ": batch " + std::to_string(*last_offsets) +
                             " was planned but batch " + std::to_string(expected) +
                             " never committed; the checkpoint is corrupt");
    r.pending = cp.read_offsets(*last_offsets, n_sources);
    r.policy = logged_policy(*r.pending, cp.offsets_path(*last_offsets));
    if (const auto n = logged_shuffle_partitions(*r.pending, cp.offsets_path(*last_offsets))) r.shuffle_partitions = n;
    r.next_batch_id = *last_offsets;
  }
}

void query_core::recover_after_failure() {
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

// Spark's watermark propagation (PropagateWatermarkSimulator): each stateful operator's input
// watermark for a query watermark `origin` is the lowest output watermark of the stateful
// operators upstream of it (the query's when none; a stream-stream join lowers it to its state
// watermarks, the others pass it on), never below 0; all are 0 while the query's is 0 (and all
// are `origin` for the "no batch yet" marker).
inline std::vector<std::int64_t> propagate_watermark(const graph_controls& c, std::int64_t origin) {
  const auto& ops = c.stateful;
  if (origin == 0 || origin == std::numeric_limits<std::int64_t>::min()) return std::vector<std::int64_t>(ops.size(), origin);
  std::vector<std::int64_t> in(ops.size());
  std::vector<std::optional<std::int64_t>> out(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    std::int64_t w = origin;
    for (std::size_t j = ops[i]->upstream_from; j < i; ++j)
      if (out[j] && *out[j] < w) w = *out[j];
    out[i] = ops[i]->output_watermark(w);
    in[i] = std::max<std::int64_t>(w, 0);
  }
  return in;
}

void query_core::reload_state(std::int64_t version, std::int64_t batch_watermark) {
  auto& r = *runner_;
  const auto watermarks = propagate_watermark(r.controls, batch_watermark);  // each operator's
  for (std::size_t i = 0; i < r.controls.stateful.size(); ++i) {
    load_state(*r.checkpoint, i, version, *r.controls.stateful[i]);
    r.controls.stateful[i]->restore_last_batch_watermark(watermarks[i]);
  }
}

// The query's watermark by the policy over its inputs' watermarks (0 for one without data in
// this execution), leaving out the idle ones (with_idleness: no rows for their timeout of batch
// time up to `now`, this execution's first trigger counting as rows); none when all are idle.
inline std::optional<std::int64_t> policy_watermark(runner_base& r, timestamp now, watermark_policy policy) {
  const auto& inputs = r.controls.watermarks;
  r.input_active_at.resize(inputs.size());
  std::optional<std::int64_t> chosen;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto& active_at = r.input_active_at[i];
    if (!active_at) active_at = now.micros;
    if (const auto idle = inputs[i]->idle_timeout(); idle && now.micros - *active_at >= idle->count()) continue;
    const std::int64_t w = r.operator_watermarks[i].value_or(0);
    chosen = !chosen ? w : policy == watermark_policy::min ? std::min(*chosen, w) : std::max(*chosen, w);
  }
  return chosen;
}

bool query_core::run_one_batch(clock::time_point trigger_start) {
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
    {
      std::lock_guard planning(progress_mutex_);  // with_progress_locked: all of its data or none
      for (auto* s : r.controls.sources) has_data |= s->plan_batch(limit);
    }
    // Whole milliseconds, as Spark's batchTimestampMs (what sl::current_timestamp() returns).
    const timestamp batch_time = floor_to_millis(options_.clock ? options_.clock() : timestamp::now());
    const auto idle_aware = policy_watermark(r, batch_time, r.policy.value_or(options_.multiple_watermark_policy));
    if (!has_data) {
      // An input that has just become idle may let the watermark move without new data.
      if (idle_aware && *idle_aware > r.watermark) {
        std::lock_guard lock(mutex_);
        r.watermark = *idle_aware;
      }
      bool wanted = false;
      // Trigger once runs one batch with data or nothing: never a no-data batch.
      if (options_.no_data_micro_batches && options_.trigger.kind != trigger_kind::once) {
        const auto next = propagate_watermark(r.controls, r.watermark);  // each operator's, as Spark asks them
        for (std::size_t i = 0; i < r.controls.stateful.size(); ++i)
          wanted |= r.controls.stateful[i]->needs_no_data_batch(r.mode, next[i]) ||
                    r.controls.stateful[i]->needs_no_data_batch_at(batch_time);
      }
      if (!wanted) return false;
      for (auto* s : r.controls.sources) s->plan_empty_batch();
      no_data = true;
    }
    offset_log_entry planned;
    planned.batch_id = r.next_batch_id;
    planned.batch_watermark_us = r.watermark;
    planned.batch_timestamp_us = batch_time.micros;
    if (!r.policy) r.policy = options_.multiple_watermark_policy;  // the first batch fixes it
    planned.conf[policy_conf_key] = *r.policy == watermark_policy::min ? "min" : "max";
    if (!r.shuffle_partitions)
      r.shuffle_partitions = options_.shuffle_partitions != 0 ? options_.shuffle_partitions : default_shuffle_partitions;
    planned.conf[shuffle_partitions_conf_key] = std::to_string(*r.shuffle_partitions);
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
  // Spark's watermark propagation: each stateful operator's input watermarks are what the ones
  // before it pass on (the query's, lowered after a stream-stream join).
  {
    const auto late = propagate_watermark(r.controls, r.previous_batch_watermark);
    const auto evict = propagate_watermark(r.controls, ctx.watermark);
    ctx.operator_watermarks.resize(r.controls.stateful.size());
    for (std::size_t i = 0; i < late.size(); ++i) ctx.operator_watermarks[i] = {late[i], evict[i]};
  }
  ctx.batch_timestamp = timestamp{r.pending->batch_timestamp_us};
  ctx.mode = r.mode;
  ctx.no_data = no_data;
  ctx.attempt = ++r.attempts;
  ctx.shuffle_partitions = r.shuffle_partitions.value_or(
      options_.shuffle_partitions != 0 ? options_.shuffle_partitions : default_shuffle_partitions);
  ctx.tasks = workers_.get();

  // A failed run of this batch may have left event-time statistics and state behind.
  for (auto* w : r.controls.watermarks) w->take_batch_stats();
  for (auto* st : r.controls.stateful) st->begin_batch(ctx);
  for (auto* e : r.controls.expectations) e->begin_batch(ctx);
  const std::int64_t output_rows = r.run_batch(ctx);
  for (auto* e : r.controls.expectations) e->end_batch(ctx);  // dead letters, after the sink
  const auto t_sink = clock::now();
  if (r.checkpoint) {
    crash_point("after_sink");
    // A state's partitions are written at once on the workers (a file and an fsync each).
    const for_each_partition on_workers = [&ctx](std::size_t n, const std::function<void(std::size_t)>& f) {
      parallel_for(ctx, n, f);
    };
    for (std::size_t i = 0; i < r.controls.stateful.size(); ++i)
      save_state(*r.checkpoint, i, ctx.batch_id, *r.controls.stateful[i], options_.state_snapshot_interval,
                 workers_ ? on_workers : for_each_partition{});
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
      r.input_active_at.resize(r.controls.watermarks.size());
      r.input_active_at[i] = ctx.batch_timestamp.micros;
      const std::int64_t candidate = stats.max - w->delay().count();
      if (!op || candidate > *op) op = candidate;
      all.merge(stats);
    } else if (!op) {
      op = 0;  // an input with no data yet counts as 0
    }
  }
  if (const auto chosen = policy_watermark(r, ctx.batch_timestamp, *r.policy)) {
    std::lock_guard lock(mutex_);
    if (*chosen > r.watermark) r.watermark = *chosen;
  }
  if (r.checkpoint) {
    commit_log_entry c;
    c.batch_id = ctx.batch_id;
    c.next_batch_watermark_us = r.watermark;
    c.operator_watermarks_us = r.operator_watermarks;
    for (auto* st : r.controls.stateful) c.state_files.push_back(committed_state_files(*st));
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
    sp.metrics = s->progress_metrics();
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
  for (auto* e : r.controls.expectations) p.expectations.push_back(e->metrics());
  p.sink = {r.sink_description(), output_rows};
  std::optional<query_progress_event> event;
  if (!options_.listeners.empty()) event.emplace(query_progress_event{p});
  last_event_ = t_end;
  {
    std::lock_guard lock(mutex_);
    progress_.push_back(std::move(p));
    while (progress_.size() > options_.progress_retention) progress_.pop_front();
    r.next_batch_id = ctx.batch_id + 1;
    r.previous_batch_watermark = ctx.watermark;
    r.pending.reset();
  }
  // After recent_progress() has it, as in Spark.
  if (event) notify(&query_listener::on_query_progress, *event);
  return true;
}

}  // namespace detail

void streaming_query::stop() {
  core_->request_stop();
  core_->join();
}

void streaming_query::await_termination() {
  core_->wait_terminated(std::nullopt);
  core_->join();
  if (auto e = core_->error()) throw *e;
}

namespace detail {

streaming_query launch(std::shared_ptr<runner_base> runner, query_options options) {
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
    runner->query_id = runner->checkpoint->open(runner->query_id, runner->checkpoint_description());
    refuse_changed_shuffle_partitions(*runner->checkpoint, runner->controls.sources.size(), options.shuffle_partitions);
  }
  auto core = std::make_shared<query_core>(std::move(runner), std::move(options));
  core->launch();
  return streaming_query(std::move(core));
}
}  // namespace detail

}  // namespace sluice

// sl::query_manager: the queries of a process (Spark's StreamingQueryManager, spark.streams):
// the active ones, get by id or name, await_any_termination, reset_terminated, and listeners
// told of every managed query's events. Queries started through it run until stopped: the
// manager holds their handles. It keeps what monitoring needs per query (the metrics of
// manage/metrics.hpp and the admin endpoint read it through queries()).
#pragma once
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../engine/listener.hpp"
#include "../engine/query.hpp"
#include "../engine/start.hpp"

namespace sluice {

// Upper bounds (ms) of the batch_duration_ms histogram's buckets; +Inf follows.
inline constexpr double batch_duration_buckets_ms[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};

// What the manager knows of one query: its handle and the running totals its progress
// events added up (for counters, which must not go back when old progress is dropped).
struct managed_query {
  std::string id, run_id, name;
  std::optional<streaming_query> handle;  // empty only while start() is returning
  sluice::timestamp started;
  bool active = true;
  std::optional<std::string> exception;
  std::optional<query_progress> last_progress;
  std::int64_t batches = 0;
  std::int64_t records_processed = 0;  // input rows of all batches (seed 001's records_processed)
  std::int64_t output_rows = 0;
  std::int64_t rows_dropped_by_watermark = 0;
  std::vector<std::int64_t> batch_duration_counts =
      std::vector<std::int64_t>(std::size(batch_duration_buckets_ms) + 1);  // per bucket, not cumulative
  double batch_duration_sum_ms = 0;
  // Per sl::expect stage (in graph order): its name, policy and rows passed and failed so far.
  std::vector<expectation_metrics> expectations;
};

class query_manager {
 public:
  // Terminated queries kept for queries() (the admin endpoint and metrics): the newest ones.
  explicit query_manager(std::size_t retained_terminated = 100) : bus_(std::make_shared<bus>()) {
    bus_->retained_terminated = retained_terminated;
  }
  query_manager(const query_manager&) = delete;
  query_manager& operator=(const query_manager&) = delete;
  // Stops every active query (Spark stops them with the session).
  ~query_manager() {
    for (auto& q : active()) q.stop();
    // Their handles hold the queries, which hold the bus: break the cycle. Destroyed outside
    // the lock: a handle's destructor joins its query's thread.
    std::deque<managed_query> all;
    std::lock_guard lock(bus_->mutex);
    all.swap(bus_->queries);
  }

  // sl::start under this manager. As in Spark, a query may not start while an active one
  // has the same name, or works on the same checkpoint (the same query id).
  template <class Plan, output_mode_kind Mode>
  streaming_query start(Plan plan, output_mode_tag<Mode> mode, query_options options = {}) {
    {
      std::lock_guard lock(bus_->mutex);
      for (const auto& q : bus_->queries) {
        if (!q.active) continue;
        if (!options.name.empty() && q.name == options.name)
          throw std::invalid_argument("sluice: cannot start query with name " + options.name +
                                      " as a query with that name is already active (id " + q.id + ")");
        if (!options.checkpoint.empty() && q.handle && same_checkpoint(*q.handle, options.checkpoint))
          throw std::invalid_argument("sluice: cannot start a query on checkpoint " + options.checkpoint +
                                      ": query " + q.id + " is already active on it");
      }
    }
    std::string checkpoint = options.checkpoint;
    options.listeners.insert(options.listeners.begin(), bus_);
    streaming_query q = sluice::start(std::move(plan), mode, std::move(options));
    std::lock_guard lock(bus_->mutex);
    if (auto* r = bus_->find_run(q.run_id())) r->handle = q;
    bus_->checkpoints[q.run_id()] = std::move(checkpoint);
    return q;
  }

  // Spark's active: the queries started here and not terminated.
  std::vector<streaming_query> active() const {
    std::lock_guard lock(bus_->mutex);
    std::vector<streaming_query> out;
    for (const auto& q : bus_->queries)
      if (q.active && q.handle) out.push_back(*q.handle);
    return out;
  }
  // Spark's get(id); a name is accepted too. Active queries only.
  std::optional<streaming_query> get(std::string_view id_or_name) const {
    std::lock_guard lock(bus_->mutex);
    for (const auto& q : bus_->queries)
      if (q.active && q.handle && (q.id == id_or_name || (!q.name.empty() && q.name == id_or_name))) return q.handle;
    return std::nullopt;
  }
  // Every query started here, the active ones and the latest terminated ones, oldest first.
  std::vector<managed_query> queries() const {
    std::lock_guard lock(bus_->mutex);
    return {bus_->queries.begin(), bus_->queries.end()};
  }

  // Waits until a query has terminated since the manager was made or reset_terminated() was
  // called; throws the error of that query if it failed (Spark's awaitAnyTermination).
  void await_any_termination() { await_any(std::nullopt); }
  template <class Rep, class Period>
  bool await_any_termination(std::chrono::duration<Rep, Period> timeout) {
    return await_any(std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
  }
  // Forgets the terminated queries for await_any_termination.
  void reset_terminated() {
    std::lock_guard lock(bus_->mutex);
    bus_->last_terminated.reset();
  }

  // Told of every event of the queries started here after it was added. Events come one at a
  // time (as from Spark's listener bus), on the query's thread: a slow listener slows all.
  void add_listener(std::shared_ptr<query_listener> listener) {
    std::lock_guard lock(bus_->mutex);
    bus_->listeners.push_back(std::move(listener));
  }
  void remove_listener(const std::shared_ptr<query_listener>& listener) {
    std::lock_guard lock(bus_->mutex);
    std::erase(bus_->listeners, listener);
  }

 private:
  struct bus final : query_listener {
    mutable std::mutex mutex;
    std::mutex deliver;  // one event at a time to the manager's listeners
    std::condition_variable terminated_cv;
    std::deque<managed_query> queries;
    std::map<std::string, std::string> checkpoints;  // run id -> checkpoint option
    std::vector<std::shared_ptr<query_listener>> listeners;
    std::optional<std::string> last_terminated;  // run id
    std::size_t retained_terminated = 100;

    managed_query* find_run(const std::string& run_id) {
      for (auto& q : queries)
        if (q.run_id == run_id) return &q;
      return nullptr;
    }
    template <class Event>
    void forward(void (query_listener::*handler)(const Event&), const Event& event) {
      std::vector<std::shared_ptr<query_listener>> ls;
      {
        std::lock_guard lock(mutex);
        ls = listeners;
      }
      std::lock_guard lock(deliver);
      for (const auto& l : ls) {
        try {
          ((*l).*handler)(event);
        } catch (...) {  // as the engine does: the query and the other listeners go on
        }
      }
    }

    void on_query_started(const query_started_event& e) override {
      {
        std::lock_guard lock(mutex);
        managed_query q;
        q.id = e.id;
        q.run_id = e.run_id;
        q.name = e.name;
        q.started = e.timestamp;
        queries.push_back(std::move(q));
      }
      forward(&query_listener::on_query_started, e);
    }
    void on_query_progress(const query_progress_event& e) override {
      {
        std::lock_guard lock(mutex);
        if (auto* q = find_run(e.progress.run_id)) {
          const auto& p = e.progress;
          ++q->batches;
          q->records_processed += p.num_input_rows;
          q->output_rows += p.sink.num_output_rows;
          for (const auto& s : p.state_operators) q->rows_dropped_by_watermark += s.num_rows_dropped_by_watermark;
          if (q->expectations.size() < p.expectations.size()) q->expectations.resize(p.expectations.size());
          for (std::size_t i = 0; i < p.expectations.size(); ++i) {
            auto& t = q->expectations[i];
            t.name = p.expectations[i].name;
            t.policy = p.expectations[i].policy;
            t.passed_records += p.expectations[i].passed_records;
            t.failed_records += p.expectations[i].failed_records;
          }
          const auto it = p.duration_ms.find("triggerExecution");
          const double ms = it == p.duration_ms.end() ? 0.0 : static_cast<double>(it->second);
          std::size_t b = 0;
          while (b < std::size(batch_duration_buckets_ms) && ms > batch_duration_buckets_ms[b]) ++b;
          ++q->batch_duration_counts[b];
          q->batch_duration_sum_ms += ms;
          q->last_progress = p;
        }
      }
      forward(&query_listener::on_query_progress, e);
    }
    void on_query_idle(const query_idle_event& e) override { forward(&query_listener::on_query_idle, e); }
    void on_query_terminated(const query_terminated_event& e) override {
      // Forgotten queries are destroyed last, outside the locks: a handle's destructor joins
      // its query's thread, which may still be telling listeners of its end.
      std::vector<managed_query> forgotten;
      {
        std::lock_guard lock(mutex);
        if (auto* q = find_run(e.run_id)) {
          q->active = false;
          q->exception = e.exception;
        }
        last_terminated = e.run_id;
        // Forget the oldest terminated queries beyond the retained number.
        std::size_t terminated = 0;
        for (const auto& q : queries) terminated += !q.active;
        for (auto it = queries.begin(); terminated > retained_terminated && it != queries.end();) {
          if (!it->active && it->run_id != e.run_id) {
            checkpoints.erase(it->run_id);
            forgotten.push_back(std::move(*it));
            it = queries.erase(it);
            --terminated;
          } else {
            ++it;
          }
        }
      }
      terminated_cv.notify_all();
      forward(&query_listener::on_query_terminated, e);
    }
  };

  bool same_checkpoint(const streaming_query& q, const std::string& dir) const {
    const auto it = bus_->checkpoints.find(q.run_id());
    if (it == bus_->checkpoints.end() || it->second.empty()) return false;
    std::error_code ec1, ec2;
    const auto a = std::filesystem::weakly_canonical(it->second, ec1);
    const auto b = std::filesystem::weakly_canonical(dir, ec2);
    return !ec1 && !ec2 && a == b;
  }

  bool await_any(std::optional<std::chrono::steady_clock::duration> timeout) {
    std::unique_lock lock(bus_->mutex);
    auto done = [&] { return bus_->last_terminated.has_value(); };
    if (timeout) {
      if (!bus_->terminated_cv.wait_for(lock, *timeout, done)) return false;
    } else {
      bus_->terminated_cv.wait(lock, done);
    }
    const std::string run = *bus_->last_terminated;
    if (auto* q = bus_->find_run(run)) {
      if (q->handle) {
        if (auto e = q->handle->exception()) throw *e;
      } else if (q->exception) {
        throw streaming_query_error(*q->exception, nullptr, -1);
      }
    }
    return true;
  }

  std::shared_ptr<bus> bus_;
};

}  // namespace sluice

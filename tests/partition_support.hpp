// For the tests of sinks given a batch as partitions (graph/plan.hpp's partition-aware
// protocol): a small task_runner on threads, a batch's rows cut into partitions, a batch
// context with workers, and a sink whose writer of one partition fails.
#pragma once
#include <sluice/graph/plan.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <span>
#include <thread>
#include <utility>
#include <vector>

namespace sluice_test {

// Each run_tasks starts `workers` threads that take the tasks' indices in turn, joins them,
// and rethrows the first exception, as the engine's runner does. It remembers the threads the
// tasks ran on.
class thread_tasks final : public sluice::task_runner {
 public:
  explicit thread_tasks(std::size_t workers) : workers_(workers) {}

  void run_tasks(std::size_t n, void (*task)(void* arg, std::size_t i), void* arg) override {
    std::atomic<std::size_t> next{0};
    std::exception_ptr first;
    auto loop = [&] {
      {
        std::lock_guard lock(mutex_);
        threads_.insert(std::this_thread::get_id());
      }
      for (std::size_t i; (i = next.fetch_add(1)) < n;) {
        try {
          task(arg, i);
        } catch (...) {
          std::lock_guard lock(mutex_);
          if (!first) first = std::current_exception();
        }
      }
    };
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < std::min(workers_, n); ++k) threads.emplace_back(loop);
    for (auto& t : threads) t.join();
    ran_ += n;
    if (first) std::rethrow_exception(first);
  }
  std::size_t workers() const override { return workers_; }
  // Tasks handed to run_tasks so far.
  std::size_t ran() const { return ran_; }

  // The distinct threads tasks ran on so far.
  std::size_t threads_used() {
    std::lock_guard lock(mutex_);
    return threads_.size();
  }

 private:
  std::size_t workers_;
  std::size_t ran_ = 0;
  std::mutex mutex_;
  std::set<std::thread::id> threads_;
};

// `rows` cut into `n` contiguous parts of uneven sizes (the first the smallest; some may be
// empty when there are few rows), as a batch's partitions are.
template <class Row>
std::vector<std::span<const Row>> split_rows(const std::vector<Row>& rows, std::size_t n) {
  std::vector<std::span<const Row>> parts;
  std::size_t begin = 0;
  for (std::size_t p = 0; p < n; ++p) {
    // Part p takes a share growing with p: (p + 1) / (n (n + 1) / 2) of the rows.
    const std::size_t end = p + 1 == n ? rows.size() : begin + rows.size() * (p + 1) * 2 / (n * (n + 1));
    parts.emplace_back(rows.data() + begin, std::min(end, rows.size()) - begin);
    begin = std::min(end, rows.size());
  }
  return parts;
}

inline sluice::batch_context batch_on(std::int64_t batch_id, sluice::task_runner* tasks) {
  sluice::batch_context ctx;
  ctx.batch_id = batch_id;
  ctx.tasks = tasks;
  return ctx;
}

// A partition-aware sink whose writer of partition `fails` throws `what` after it wrote its
// rows through the real sink's writer (so there is output of the failing writer to undo).
template <class Sink, class Row>
struct failing_partition {
  using inner_writer = decltype(std::declval<Sink&>().create_writer(std::int64_t{}, std::int64_t{}));
  using message = decltype(std::declval<inner_writer&>().commit());
  struct writer {
    inner_writer w;
    bool fail;
    const std::string* what;
    void write(std::span<const Row> rows) {
      w.write(rows);
      if (fail) throw std::runtime_error(*what);
    }
    message commit() { return w.commit(); }
    void abort() { w.abort(); }
  };

  Sink& inner;
  std::int64_t fails;
  std::string what;

  void add_batch(std::int64_t id, std::span<const Row> rows) { inner.add_batch(id, rows); }
  std::string description() const { return inner.description(); }
  bool begin_batch(std::int64_t id) { return inner.begin_batch(id); }
  writer create_writer(std::int64_t id, std::int64_t p) { return {inner.create_writer(id, p), p == fails, &what}; }
  void commit_batch(std::int64_t id, std::vector<message>& m) { inner.commit_batch(id, m); }
  void abort_batch(std::int64_t id, std::vector<message>& m) { inner.abort_batch(id, m); }
};

}  // namespace sluice_test

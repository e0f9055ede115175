// A small task_runner on threads for the tests of partitioned paths (sinks given a batch as
// partitions): each run_tasks starts `workers` threads that take the tasks' indices in turn,
// joins them, and rethrows the first exception, as the engine's runner does. It remembers the
// threads the tasks ran on.
#pragma once
#include <sluice/graph/protocol.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <set>
#include <span>
#include <thread>
#include <vector>

namespace sluice_test {

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
    if (first) std::rethrow_exception(first);
  }
  std::size_t workers() const override { return workers_; }

  // The distinct threads tasks ran on so far.
  std::size_t threads_used() {
    std::lock_guard lock(mutex_);
    return threads_.size();
  }

 private:
  std::size_t workers_;
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

}  // namespace sluice_test

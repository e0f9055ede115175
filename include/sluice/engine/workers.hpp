// The query's workers: a pool of threads that runs the independent tasks of a batch (the
// partitions of its sources, the state partitions of an operator) as sluice::task_runner.
// One per query, created with query_options::parallelism threads; the thread that calls
// run_tasks takes tasks too, so parallelism n starts n - 1 threads. Tasks are claimed with one
// atomic increment each: nothing is locked per row, or per task but to record an exception.
// The non-template functions are defined in impl/workers.ipp (compile modes: impl/config.hpp).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "../graph/protocol.hpp"
#include "../impl/config.hpp"

namespace sluice {

class worker_pool final : public task_runner {
 public:
  // threads: how many run a batch's tasks, the caller's included (0: one per core).
  SLUICE_DECL explicit worker_pool(std::size_t threads);
  SLUICE_DECL ~worker_pool();
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  // Runs every task, on the workers and this thread; returns when all have ended and
  // rethrows the first exception (a task not yet started when one failed is skipped). Called
  // from a task (a nested parallel_for), it runs the tasks in turn on that thread.
  SLUICE_DECL void run_tasks(std::size_t n, void (*task)(void* arg, std::size_t i), void* arg) override;
  std::size_t workers() const override { return threads_.size() + 1; }

  // True on a thread that runs a pool's task (a worker, or a caller inside run_tasks).
  SLUICE_DECL static bool in_task();

 private:
  struct job {
    std::size_t n = 0;
    void (*task)(void*, std::size_t) = nullptr;
    void* arg = nullptr;
    const batch_context* batch = nullptr;  // the caller's running batch (sl::current_timestamp())
  };
  SLUICE_DECL void work(std::uint64_t generation_seen);
  SLUICE_DECL void take_tasks(const job& j);

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  job job_;
  // Changed under mutex_ (for the condition variables) but read without it while a thread
  // spins before it sleeps: a batch runs several jobs in a row (its partitions, then the
  // stateful stage's state partitions, then the state files), and a worker still spinning
  // joins the next one without a wake-up (a futex call and a scheduler round trip, 0.1-0.5 ms
  // on a busy machine).
  std::atomic<std::uint64_t> generation_{0};  // one per run_tasks: workers join each job once
  std::atomic<std::size_t> busy_{0};          // workers inside the current job
  bool open_ = false;                         // the current job still takes workers
  bool stopping_ = false;
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
};

}  // namespace sluice

#if SLUICE_HEADER_ONLY
#include "../impl/workers.ipp"
#endif

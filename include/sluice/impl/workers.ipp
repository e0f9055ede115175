// Definitions of engine/workers.hpp's functions (see impl/config.hpp).
#pragma once
#include <algorithm>
#include <chrono>

#include "../engine/workers.hpp"
#include "../ops/current_time.hpp"

namespace sluice {

namespace detail {
inline thread_local bool running_pool_task = false;

// How long a worker that ran out of tasks, or a caller waiting for the workers, spins before
// it sleeps: longer than the gap between the jobs of one batch, far shorter than a batch.
inline constexpr std::chrono::microseconds pool_spin{50};

// Spins until done() or pool_spin passed; true when done.
template <class Done>
bool spin_until(Done done) {
  const auto until = std::chrono::steady_clock::now() + pool_spin;
  for (unsigned i = 0;; ++i) {
    if (done()) return true;
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) return false;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}
}  // namespace detail

worker_pool::worker_pool(std::size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads_.reserve(threads - 1);
  for (std::size_t t = 1; t < threads; ++t) threads_.emplace_back([this] { work(0); });
}

worker_pool::~worker_pool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

bool worker_pool::in_task() { return detail::running_pool_task; }

void worker_pool::take_tasks(const job& j) {
  // The batch the tasks belong to, for sl::current_timestamp() on this thread.
  const batch_context* const outer_batch = detail::running_batch;
  detail::running_batch = j.batch;
  const bool outer = detail::running_pool_task;
  detail::running_pool_task = true;
  for (std::size_t i; !failed_.load(std::memory_order_relaxed) && (i = next_.fetch_add(1, std::memory_order_relaxed)) < j.n;) {
    try {
      j.task(j.arg, i);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  detail::running_pool_task = outer;
  detail::running_batch = outer_batch;
}

void worker_pool::work(std::uint64_t seen) {
  while (true) {
    job j;
    detail::spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_.load(std::memory_order_relaxed) != seen; });
      if (stopping_) return;
      seen = generation_.load(std::memory_order_relaxed);
      if (!open_) continue;  // woken late: the job's tasks have all ended
      j = job_;
      busy_.fetch_add(1, std::memory_order_relaxed);
    }
    take_tasks(j);
    {
      std::lock_guard lock(mutex_);
      busy_.fetch_sub(1, std::memory_order_release);
    }
    done_.notify_all();
  }
}

void worker_pool::run_tasks(std::size_t n, void (*task)(void* arg, std::size_t i), void* arg) {
  if (n == 0) return;
  if (threads_.empty() || n == 1 || detail::running_pool_task) {  // in turn, on this thread
    for (std::size_t i = 0; i < n; ++i) task(arg, i);
    return;
  }
  const job j{n, task, arg, detail::running_batch};
  {
    std::lock_guard lock(mutex_);
    job_ = j;
    next_.store(0, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
    open_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();  // no system call when every worker is still spinning
  take_tasks(j);
  std::exception_ptr error;
  {
    // A worker that wakes after the tasks ran out finds none left; wait for those inside.
    // Closed first: a worker that wakes after this takes no task of a job that has ended.
    {
      std::lock_guard lock(mutex_);
      open_ = false;
    }
    detail::spin_until([&] { return busy_.load(std::memory_order_acquire) == 0; });
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return busy_.load(std::memory_order_relaxed) == 0; });
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace sluice

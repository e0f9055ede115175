// Definitions of engine/workers.hpp's functions (see impl/config.hpp).
#pragma once
#include <algorithm>

#include "../engine/workers.hpp"
#include "../ops/current_time.hpp"

namespace sluice {

namespace detail {
inline thread_local bool running_pool_task = false;
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
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      if (!open_) continue;  // woken late: the job's tasks have all ended
      j = job_;
      ++busy_;
    }
    take_tasks(j);
    {
      std::lock_guard lock(mutex_);
      --busy_;
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
    ++generation_;
  }
  wake_.notify_all();
  take_tasks(j);
  std::exception_ptr error;
  {
    // A worker that wakes after the tasks ran out finds none left; wait for those inside.
    // Closed first: a worker that wakes after this takes no task of a job that has ended.
    std::unique_lock lock(mutex_);
    open_ = false;
    done_.wait(lock, [&] { return busy_ == 0; });
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace sluice

// Progress of long runs on the console: one status line per query of a query_manager
// (batch, rows/s in and processed, watermark, lag).
//
//   sl::console_status status(streams);   // stderr; live lines on a terminal, plain ones otherwise
//
// On a terminal the block of lines is redrawn in place every `interval`; otherwise (a log file,
// a pipe, CI) one plain line is written per batch and one when a query ends, so logs stay
// readable. Lag: wall clock minus the watermark (queries with one), and what sources report
// of their own lag (Kafka's offsets behind the latest, files waiting in a directory).
#pragma once
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "manager.hpp"

namespace sluice {

namespace detail {
inline std::string rate_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v >= 100 ? "%.0f" : "%.1f", v);
  return buf;
}
inline std::string seconds_text(double s) {
  char buf[32];
  if (s < 120) std::snprintf(buf, sizeof buf, "%.1f s", s);
  else if (s < 7200) std::snprintf(buf, sizeof buf, "%.1f min", s / 60);
  else if (s < 172800) std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  else std::snprintf(buf, sizeof buf, "%.0f d", s / 86400);
  return buf;
}
// What a source says of its own lag (its progress metrics), summed over the sources.
inline std::string source_lag_text(const query_progress& p) {
  std::int64_t behind = -1, files = -1;
  auto add = [](const std::map<std::string, std::string>& m, const char* key, std::int64_t& sum) {
    const auto it = m.find(key);
    std::int64_t v = 0;
    if (it == m.end()) return;
    const auto r = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (r.ec == std::errc{}) sum = (sum < 0 ? 0 : sum) + v;
  };
  for (const auto& s : p.sources) {
    add(s.metrics, "maxOffsetsBehindLatest", behind);
    add(s.metrics, "numFilesWaiting", files);
  }
  std::string out;
  if (behind >= 0) out += ", " + std::to_string(behind) + " offsets behind";
  if (files >= 0) out += ", " + std::to_string(files) + " files waiting";
  return out;
}
}  // namespace detail

// One query's line: `[name] batch 12 | 100 rows | 523 rows/s in | 10234 rows/s processed |
// watermark 2024-01-15T10:50:00.000Z | lag 12.3 s | active`.
inline std::string status_line(const managed_query& q, timestamp now = timestamp::now()) {
  std::string out = "[" + (q.name.empty() ? q.id.substr(0, 8) : q.name) + "] ";
  if (!q.last_progress) {
    out += "no batch yet";
  } else {
    const auto& p = *q.last_progress;
    out += "batch " + std::to_string(p.batch_id) + " | " + std::to_string(p.num_input_rows) + " rows | " +
           detail::rate_text(p.input_rows_per_second) + " rows/s in | " + detail::rate_text(p.processed_rows_per_second) +
           " rows/s processed";
    if (p.event_time.watermark) {
      out += " | watermark " + format_timestamp(*p.event_time.watermark) + " | lag " +
             detail::seconds_text(static_cast<double>(now.micros - p.event_time.watermark->micros) / 1e6);
    }
    out += detail::source_lag_text(p);
  }
  out += q.active ? " | active" : q.exception ? " | failed: " + *q.exception : " | stopped";
  return out;
}

class console_status {
 public:
  // tty: whether `out` is a terminal (default: isatty).
  explicit console_status(query_manager& manager, std::FILE* out = stderr, std::optional<bool> tty = std::nullopt,
                          std::chrono::milliseconds interval = std::chrono::milliseconds(500))
      : manager_(manager), out_(out), tty_(tty.value_or(::isatty(::fileno(out)) != 0)), interval_(interval) {
    if (tty_) {
      thread_ = std::thread([this] { redraw_loop(); });
    } else {
      listener_ = std::make_shared<plain_lines>(this);
      manager_.add_listener(listener_);
    }
  }
  console_status(const console_status&) = delete;
  console_status& operator=(const console_status&) = delete;
  ~console_status() { stop(); }

  // Stops updating (after a last redraw on a terminal).
  void stop() {
    if (listener_) {
      manager_.remove_listener(listener_);
      listener_.reset();
    }
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  bool tty() const { return tty_; }

 private:
  struct plain_lines final : query_listener {
    explicit plain_lines(console_status* s) : self(s) {}
    console_status* self;
    void on_query_progress(const query_progress_event& e) override { self->print_query(e.progress.run_id); }
    void on_query_terminated(const query_terminated_event& e) override { self->print_query(e.run_id); }
  };
  void print_query(const std::string& run_id) {
    // The manager has taken the event into its totals before its listeners hear of it.
    for (const auto& q : manager_.queries())
      if (q.run_id == run_id) {
        std::lock_guard lock(mutex_);
        std::fprintf(out_, "%s\n", status_line(q).c_str());
        std::fflush(out_);
      }
  }
  void redraw_loop() {
    std::size_t drawn = 0;
    std::unique_lock lock(mutex_);
    for (;;) {
      const bool last = stopping_;
      lock.unlock();
      const auto queries = manager_.queries();
      std::string text;
      if (drawn > 0) text += "\x1b[" + std::to_string(drawn) + "F";  // back to the block's first line
      for (const auto& q : queries) text += "\x1b[2K" + status_line(q) + "\n";
      drawn = queries.size();
      std::fputs(text.c_str(), out_);
      std::fflush(out_);
      lock.lock();
      if (last) return;
      cv_.wait_for(lock, interval_, [&] { return stopping_; });
    }
  }

  query_manager& manager_;
  std::FILE* out_;
  bool tty_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  std::shared_ptr<plain_lines> listener_;
};

}  // namespace sluice

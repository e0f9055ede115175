// Shared by the property tests of stateful operators: a query run through random batches with
// a checkpoint, stopped and started again at random as a new process would (the graph built
// anew, its state read from the checkpoint), and its output collected per batch.
#pragma once
#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

namespace sem {
namespace sl = sluice;

// Each batch's rows as strings; a batch that runs again replaces its earlier output.
struct batch_outputs {
  std::mutex m;
  std::map<std::int64_t, std::vector<std::string>> batches;

  template <class Row, class ToString>
  auto sink(ToString to_string) {
    return sl::foreach_batch([this, to_string](std::span<const Row> rows, std::int64_t id) {
      std::lock_guard lock(m);
      auto& b = batches[id];
      b.clear();
      for (const auto& r : rows) b.push_back(to_string(r));
    });
  }
  std::multiset<std::string> all() {
    std::lock_guard lock(m);
    std::multiset<std::string> out;
    for (auto& [id, rows] : batches) out.insert(rows.begin(), rows.end());
    return out;
  }
};

// The query's watermark as the references see it: a batch runs with the watermark of the
// batches before it; after a batch with rows it becomes max(event time) - delay (never lower),
// and a no-data batch runs with the new one.
struct reference_watermark {
  std::int64_t delay;
  std::int64_t value = 0;
  bool defined = false;  // false before the first batch has run

  // accept(row) for each row of a batch, evict() at its end and after the no-data batch.
  template <class Row, class Accept, class Evict>
  void batch(const std::vector<Row>& rows, Accept accept, Evict evict) {
    std::int64_t max_t = std::numeric_limits<std::int64_t>::min();
    for (const auto& r : rows) {
      max_t = std::max(max_t, r.timestamp.micros);
      accept(r);
    }
    if (defined) evict();
    if (!rows.empty()) {
      value = std::max(value, max_t - delay);
      defined = true;
      evict();
    }
  }
};

// Runs make() (a plan ending in a sink) in append mode over `batches` batches: next_batch(b)
// adds the rows of batch b to the source; after each, the query is restarted with probability
// 1 / restart_one_in.
template <class Make, class NextBatch>
void run_with_restarts(std::mt19937& rng, const std::string& name, int batches, unsigned restart_one_in, Make make,
                       NextBatch next_batch) {
  const auto dir = std::filesystem::temp_directory_path() / ("sluice-" + name + "-" + std::to_string(std::random_device{}()));
  std::filesystem::remove_all(dir);
  const sl::query_options opts{.checkpoint = (dir / "ck").string(), .state_snapshot_interval = 3};
  std::optional<sl::streaming_query> q;
  q.emplace(sl::start(make(), sl::output_mode::append, opts));
  for (int b = 0; b < batches; ++b) {
    next_batch(b);
    q->process_all_available();
    if (rng() % restart_one_in == 0) {
      q->stop();
      q.emplace(sl::start(make(), sl::output_mode::append, opts));
    }
  }
  q->process_all_available();
  q->stop();
  std::filesystem::remove_all(dir);
}
}  // namespace sem

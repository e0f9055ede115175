// Shared by tests/testing_test.cpp and tests/semantics_*.cpp: a small event type, helpers to
// build events at explicit event times, and the row types the usual pipelines produce.
#pragma once
#include <boost/describe.hpp>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <sluice/sluice.hpp>
#include <sluice/testing.hpp>

namespace sem {
namespace sl = sluice;
namespace st = sluice::testing;
using namespace std::chrono_literals;

struct Event {
  sl::timestamp timestamp;
  std::string key;
  std::int64_t value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (timestamp, key, value))

// An event at `t` seconds after the epoch (Spark's tests use timestamp_seconds(value)).
template <class Rep, class Period>
Event ev(std::chrono::duration<Rep, Period> t, std::string key = "a", std::int64_t value = 1) {
  return {st::ts(t), std::move(key), value};
}

using window_count = sl::row<sl::field<"window", sl::time_window>, sl::field<"count", std::int64_t>>;

// (window, count) with the window given in seconds since the epoch.
inline window_count wc(std::int64_t start_s, std::int64_t end_s, std::int64_t count) {
  return {{st::win(std::chrono::seconds(start_s), std::chrono::seconds(end_s))}, {count}};
}

// Each batch of the run so far as {input rows, output rows}, in batch order (the per-operator
// tests: rows read, then dropped or multiplied by a stage).
inline auto assert_batch_rows(std::vector<std::pair<std::int64_t, std::int64_t>> expected) {
  return st::assert_on_query([expected](sl::streaming_query& q) {
    std::vector<std::pair<std::int64_t, std::int64_t>> actual;
    for (const auto& p : q.recent_progress()) actual.emplace_back(p.num_input_rows, p.sink.num_output_rows);
    if (actual == expected) return;
    auto text = [](const auto& v) {
      std::string s;
      for (const auto& [in, out] : v) s += " {" + std::to_string(in) + ", " + std::to_string(out) + "}";
      return s;
    };
    throw std::runtime_error("batches {input rows, output rows}: expected" + text(expected) + ", got" + text(actual));
  }, "input and output rows of each batch");
}
}  // namespace sem

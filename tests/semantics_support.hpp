// Shared by tests/testing_test.cpp and tests/semantics_*.cpp: a small event type, helpers to
// build events at explicit event times, and the row types the usual pipelines produce.
#pragma once
#include <boost/describe.hpp>
#include <chrono>
#include <cstdint>
#include <string>

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
}  // namespace sem

// expect: sluice::group_by: at most one sl::session_window key
// Spark refuses more than one time window expression in a grouping.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto sessions = events | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::session_window(sl::col<"timestamp">, 5min), sl::session_window(sl::col<"timestamp">, 1min))
      | sl::aggregate(sl::count());
  auto query = sl::start(std::move(sessions) | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice rule \[session-window-update\]
// Spark: "Update output mode not supported for session window on streaming DataFrames/DataSets".
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto sessions = events | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::session_window(sl::col<"timestamp">, 5min), sl::col<"user_id">)
      | sl::aggregate(sl::count());
  auto query = sl::start(std::move(sessions) | sl::console(), sl::output_mode::update);
  query.stop();
}

// expect: sluice::session_window: the time column must be of type sluice::timestamp
// Spark: session_window's time column must be a timestamp.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto sessions = events | sl::group_by(sl::session_window(sl::col<"value">, 5min), sl::col<"user_id">)
      | sl::aggregate(sl::count());
  auto query = sl::start(std::move(sessions) | sl::console(), sl::output_mode::complete);
  query.stop();
}

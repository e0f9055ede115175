// expect: sluice::group_by: sl::window and sl::session_window cannot group the same aggregation
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto sessions = events | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::session_window(sl::col<"timestamp">, 5min), sl::window(sl::col<"timestamp">, 1h))
      | sl::aggregate(sl::count());
  auto query = sl::start(std::move(sessions) | sl::console(), sl::output_mode::complete);
  query.stop();
}

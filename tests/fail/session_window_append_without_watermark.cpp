// expect: sluice rule \[append-aggregation-needs-watermark\]
// A session is emitted in append mode when the watermark passes its end: it needs one.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto sessions = events
      | sl::group_by(sl::session_window(sl::col<"timestamp">, 5min), sl::col<"user_id">)
      | sl::aggregate(sl::count());
  auto query = sl::start(std::move(sessions) | sl::console(), sl::output_mode::append);
  query.stop();
}

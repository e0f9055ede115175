// expect: sluice rule \[append-aggregation-needs-watermark\]
// Append mode emits a window only once the watermark passes its end: without
// with_watermark the windows would never close (Spark rejects this at start).
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto stats = events
      | sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">)
      | sl::aggregate(sl::count().as<"event_count">(), sl::avg(sl::col<"value">).as<"avg_value">());
  auto query = sl::start(stats | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice rule \[chained-stateful-needs-append\]
// Aggregating an aggregation: Spark 3.4+ allows it in append mode only (in update mode the first
// aggregation emits rows that are late for the second; Spark's correctness check refuses it).
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto per_window = events | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">)
      | sl::aggregate(sl::count().as<"event_count">());
  auto per_type = std::move(per_window) | sl::group_by(sl::col<"event_type">)
      | sl::aggregate(sl::sum(sl::col<"event_count">));
  auto query = sl::start(std::move(per_type) | sl::console(), sl::output_mode::update);
  query.stop();
}

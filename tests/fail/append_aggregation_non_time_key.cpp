// expect: sluice rule \[append-aggregation-needs-watermark\]
// A watermark is declared, but the aggregation is grouped by a non-time column only:
// no group ever closes, so append mode cannot emit anything.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto stats = events
      | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::col<"event_type">)
      | sl::aggregate(sl::count().as<"event_count">());
  auto query = sl::start(stats | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice rule \[chained-stateful-needs-append\]
// A deduplication on event time after an aggregation in update mode: Spark's correctness check
// refuses it (the aggregation's updates are late for it). In append mode it is allowed.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto counts = events | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::col<"timestamp">) | sl::aggregate(sl::count());
  auto deduplicated = std::move(counts) | sl::drop_duplicates(sl::col<"timestamp">);
  auto query = sl::start(std::move(deduplicated) | sl::console(), sl::output_mode::update);
  query.stop();
}

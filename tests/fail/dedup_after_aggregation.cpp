// expect: sluice rule \[dedup-after-aggregation\]
// Spark refuses dropDuplicates after a streaming aggregation, in every output mode.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto counts = events | sl::group_by(sl::col<"event_type">) | sl::aggregate(sl::count());
  auto deduplicated = std::move(counts) | sl::drop_duplicates(sl::col<"event_type">);
  auto query = sl::start(std::move(deduplicated) | sl::console(), sl::output_mode::update);
  query.stop();
}

// expect: sluice rule \[dedup-within-watermark-needs-watermark\]
// drop_duplicates_within_watermark keeps a key for the watermark's delay: without a watermark
// there is none (Spark refuses it at start).
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto deduplicated = events | sl::drop_duplicates_within_watermark(sl::col<"event_id">);
  auto query = sl::start(std::move(deduplicated) | sl::console(), sl::output_mode::append);
  query.stop();
}

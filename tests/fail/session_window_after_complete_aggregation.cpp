// expect: sluice rule \[chained-stateful-needs-append\]
// A session window after an aggregation runs in append mode only: in complete mode the
// aggregation emits every group again, behind the watermark (Spark's correctness check).
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto sessions = events | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::col<"timestamp">, sl::col<"user_id">) | sl::aggregate(sl::count())
      | sl::group_by(sl::session_window(sl::col<"timestamp">, 10min), sl::col<"user_id">)
      | sl::aggregate(sl::sum(sl::col<"count">));
  auto query = sl::start(std::move(sessions) | sl::console(), sl::output_mode::complete);
  query.stop();
}

// expect: sluice rule \[sort-limit-needs-complete\]
// Sorting an aggregation result is only supported in complete mode.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto top = events
      | sl::group_by(sl::col<"event_type">)
      | sl::aggregate(sl::count().as<"n">())
      | sl::sort_by(sl::col<"n">, sl::sort_order::descending);
  auto query = sl::start(top | sl::console(), sl::output_mode::update);
  query.stop();
}

// expect: sluice rule \[sort-limit-on-stream\]
// Sorting an unbounded stream is not supported (only an aggregated result in complete mode).
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto sorted = events | sl::filter([](const Event& e) { return e.value > 0; })
                       | sl::sort_by(sl::col<"value">, sl::sort_order::descending);
  auto query = sl::start(sorted | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice rule \[complete-needs-aggregation\]
// Complete mode re-emits the whole result table every batch: only an aggregation has one.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto clicks = events | sl::filter([](const Event& e) { return e.event_type == "click"; });
  auto query = sl::start(clicks | sl::console(), sl::output_mode::complete);
  query.stop();
}

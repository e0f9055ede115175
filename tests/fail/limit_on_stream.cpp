// expect: sluice rule \[sort-limit-on-stream\]
// limit on an unbounded stream is not supported (only an aggregated result in complete mode).
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto first = events | sl::map([](const Event& e) { return e; }) | sl::limit(10);
  auto query = sl::start(first | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: cannot_resolve_column<sluice::fixed_string<15>\{"no_such_column"\}, Event, 
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto deduplicated = events | sl::drop_duplicates(sl::col<"event_id">, sl::col<"no_such_column">);
  auto query = sl::start(std::move(deduplicated) | sl::console(), sl::output_mode::append);
  query.stop();
}

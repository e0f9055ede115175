// expect: sluice::group_by: a member pointer key has no name
// Generated rows name their columns; a member pointer has no name to give the key column.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto stats = events
      | sl::group_by(&Event::event_type)
      | sl::aggregate(sl::count());
  auto query = sl::start(stats | sl::console(), sl::output_mode::update);
  query.stop();
}

// expect: sluice::aggregate: two output columns have the same name
// Both aggregates are called "total"; the generated row would have two columns of one name.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto stats = events
      | sl::group_by(sl::col<"event_type">)
      | sl::aggregate(sl::count().as<"total">(), sl::sum(sl::col<"value">).as<"total">());
  auto query = sl::start(stats | sl::console(), sl::output_mode::update);
  query.stop();
}

// expect: sluice::drop_duplicates: sl::col<"name">: the row type has no column of this name
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto deduplicated = events | sl::drop_duplicates(sl::col<"event_id">, sl::col<"no_such_column">);
  auto query = sl::start(std::move(deduplicated) | sl::console(), sl::output_mode::append);
  query.stop();
}

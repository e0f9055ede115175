// expect: sluice::drop_duplicates: name each key column with sl::col<"name">
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto deduplicated = events | sl::drop_duplicates(&Event::event_id);
  auto query = sl::start(std::move(deduplicated) | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice::memory_sink<T>
// The memory sink holds rows of type Event, but the pipeline produces generated rows.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto counts = events
      | sl::group_by(sl::col<"event_type">)
      | sl::aggregate(sl::count().as<"n">());
  sl::memory_sink<Event> sink;
  auto query = sl::start(counts | sink, sl::output_mode::update);
  query.stop();
}

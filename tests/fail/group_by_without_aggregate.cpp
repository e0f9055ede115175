// expect: sluice::group_by must be followed by sl::aggregate
// A grouped stream is not a stream: it needs an aggregate before any other stage.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto grouped = events
      | sl::group_by(sl::col<"event_type">)
      | sl::filter([](const Event& e) { return e.value > 0; });
  auto query = sl::start(grouped | sl::console(), sl::output_mode::update);
  query.stop();
}

// expect: sluice::start: the query has no sink
// sl::start needs a complete query: the pipeline must end in a sink.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto clicks = events | sl::filter([](const Event& e) { return e.event_type == "click"; });
  auto query = sl::start(clicks, sl::output_mode::append);
  query.stop();
}

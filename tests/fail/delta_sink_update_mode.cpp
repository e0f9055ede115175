// expect: sluice rule \[sink-output-mode\]
// Delta's streaming sink takes the append and complete output modes; update is refused, as in Delta.
#include "event.hpp"

#include <sluice/delta.hpp>

int main() {
  sl::memory_stream<Event> events;
  auto counts = events | sl::group_by(sl::col<"event_type">) | sl::aggregate(sl::count().as<"n">());
  auto query = sl::start(counts | sl::delta::sink("data/counts"), sl::output_mode::update);
  query.stop();
}

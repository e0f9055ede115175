// expect: sluice rule \[transform-with-state-event-time-needs-watermark\]
// Event-time timers fire by the watermark: transform_with_state in time_mode::event_time needs one.
#include "tws_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = events | sl::group_by_key(sl::col<"event_type">)
      | sl::transform_with_state(Seen{}, sl::time_mode::event_time, sl::output_mode::append);
  auto query = sl::start(std::move(q) | sl::console(), sl::output_mode::append);
  query.stop();
}

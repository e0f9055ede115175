// expect: sluice rule \[transform-with-state-output-mode\]
// Spark refuses transformWithState in complete output mode: the operator's mode is append or update.
#include "tws_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = events | sl::group_by_key(sl::col<"event_type">)
      | sl::transform_with_state(Seen{}, sl::time_mode::none, sl::output_mode::complete);
  auto query = sl::start(std::move(q) | sl::console(), sl::output_mode::append);
  query.stop();
}

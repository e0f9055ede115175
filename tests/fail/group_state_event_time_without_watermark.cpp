// expect: sluice rule \[group-state-event-time-needs-watermark\]
// Spark: Watermark must be specified ... for using event-time timeout in a [map|flatMap]GroupsWithState.
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = sl::start(events | sl::group_by_key(sl::col<"user_id">)
                         | sl::map_groups_with_state<Session>(count_events, sl::group_state_timeout::event_time)
                         | sl::console(),
                     sl::output_mode::update);
  q.stop();
}

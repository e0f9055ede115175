// expect: sluice rule \[flat-map-groups-with-state-output-mode\]
// Spark: flatMapGroupsWithState in update mode is not supported with Append output mode.
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = sl::start(events | sl::group_by_key(sl::col<"user_id">)
                         | sl::flat_map_groups_with_state<Session>(count_events_flat, sl::output_mode::update)
                         | sl::console(),
                     sl::output_mode::append);
  q.stop();
}

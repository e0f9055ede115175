// expect: sluice rule \[map-groups-with-state-output-mode\]
// Spark: mapGroupsWithState is not supported with Append output mode on a streaming Dataset.
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = sl::start(events | sl::group_by_key(sl::col<"user_id">) | sl::map_groups_with_state<Session>(count_events)
                         | sl::console(),
                     sl::output_mode::append);
  q.stop();
}

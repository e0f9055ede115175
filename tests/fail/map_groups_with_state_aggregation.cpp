// expect: sluice rule \[map-groups-with-state-aggregation\]
// Spark: mapGroupsWithState is not supported with aggregation on a streaming Dataset.
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = sl::start(events | sl::group_by_key(sl::col<"user_id">) | sl::map_groups_with_state<Session>(count_events)
                         | sl::group_by(sl::col<"user_id">) | sl::aggregate(sl::count()) | sl::console(),
                     sl::output_mode::update);
  q.stop();
}

// expect: sluice rule \[flat-map-groups-with-state-aggregation\]
// Spark: flatMapGroupsWithState in update mode is not supported with aggregation.
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = sl::start(events | sl::group_by_key(sl::col<"user_id">)
                         | sl::flat_map_groups_with_state<Session>(count_events_flat, sl::output_mode::update)
                         | sl::group_by(sl::col<"user_id">) | sl::aggregate(sl::count()) | sl::console(),
                     sl::output_mode::update);
  q.stop();
}

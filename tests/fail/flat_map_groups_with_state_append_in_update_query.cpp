// expect: sluice rule \[flat-map-groups-with-state-output-mode\]: flat_map_groups_with_state in append mode needs the query in output_mode::append
// Spark: flatMapGroupsWithState in append mode is not supported with Update output mode
// without an aggregation.
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = sl::start(events | sl::group_by_key(sl::col<"user_id">)
                         | sl::flat_map_groups_with_state<Session>(count_events_flat, sl::output_mode::append)
                         | sl::console(),
                     sl::output_mode::update);
  q.stop();
}

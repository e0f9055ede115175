// expect: sluice rule \[chained-stateful-after-event-time-group-state\]
// An aggregation after a flat_map_groups_with_state with an event-time timeout: its output has no
// watermark (Spark's correctness check refuses it).
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto sessions = events | sl::with_watermark(sl::col<"timestamp">, 10min) | sl::group_by_key(sl::col<"user_id">)
      | sl::flat_map_groups_with_state<Session>(count_events_flat, sl::output_mode::append,
                                                sl::group_state_timeout::event_time);
  auto totals = std::move(sessions) | sl::group_by(sl::col<"user_id">) | sl::aggregate(sl::count());
  auto query = sl::start(std::move(totals) | sl::console(), sl::output_mode::update);
  query.stop();
}

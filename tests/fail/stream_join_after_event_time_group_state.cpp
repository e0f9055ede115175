// expect: sluice rule \[chained-stateful-after-event-time-group-state\]
// A stream-stream join after a flat_map_groups_with_state with an event-time timeout: its
// output has no watermark (Spark's correctness check refuses it), while a join after an
// aggregation or another join is allowed in append mode.
#include "group_state_support.hpp"

struct Profile {
  std::int64_t profile_user;
};
BOOST_DESCRIBE_STRUCT(Profile, (), (profile_user))

int main() {
  sl::memory_stream<Event> events;
  sl::memory_stream<Profile> profiles;
  auto sessions = events | sl::with_watermark(sl::col<"timestamp">, 10min) | sl::group_by_key(sl::col<"user_id">)
      | sl::flat_map_groups_with_state<Session>(count_events_flat, sl::output_mode::append,
                                                sl::group_state_timeout::event_time);
  auto joined = std::move(sessions) | sl::join(profiles, sl::col<"user_id">, sl::col<"profile_user">);
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::append);
  query.stop();
}

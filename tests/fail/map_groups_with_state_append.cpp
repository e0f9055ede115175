// expect: sluice rule \[map-groups-with-state-output-mode\]
// Spark: mapGroupsWithState is not supported with Append output mode on a streaming Dataset.
#include "event.hpp"

#include <span>
#include <vector>

struct Session {
  std::int64_t events = 0;
};
BOOST_DESCRIBE_STRUCT(Session, (), (events))

struct Out {
  std::int64_t user_id;
  std::int64_t events;
};
BOOST_DESCRIBE_STRUCT(Out, (), (user_id, events))

inline Out count_events(const std::int64_t& user, std::span<const Event> values, sl::group_state<Session>& state) {
  state.update({state.get_option().value_or(Session{}).events + static_cast<std::int64_t>(values.size())});
  return {user, state.get().events};
}
inline std::vector<Out> count_events_flat(const std::int64_t& user, std::span<const Event> values,
                                          sl::group_state<Session>& state) {
  return {count_events(user, values, state)};
}

int main() {
  sl::memory_stream<Event> events;
  auto q = sl::start(events | sl::group_by_key(sl::col<"user_id">) | sl::map_groups_with_state<Session>(count_events)
                         | sl::console(),
                     sl::output_mode::append);
  q.stop();
}

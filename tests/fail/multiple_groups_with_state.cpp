// expect: sluice rule \[multiple-groups-with-state\]
// Spark: multiple mapGroupsWithStates are not supported on a streaming Dataset.
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto f = [](const std::int64_t& user, std::span<const Out> values, sl::group_state<Session>&) {
    return Out{user, static_cast<std::int64_t>(values.size())};
  };
  auto q = sl::start(events | sl::group_by_key(sl::col<"user_id">) | sl::map_groups_with_state<Session>(count_events)
                         | sl::group_by_key(sl::col<"user_id">) | sl::map_groups_with_state<Session>(f) | sl::console(),
                     sl::output_mode::update);
  q.stop();
}

// expect: sluice rule \[map-groups-with-state-output-mode\]
// The rules see a map_groups_with_state behind a union as well (Spark checks the whole plan).
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> a, b;
  auto counted = b | sl::group_by_key(sl::col<"user_id">) | sl::map_groups_with_state<Session>(count_events);
  auto plain = a | sl::map([](const Event& e) { return Out{e.user_id, 0}; });
  auto q = sl::start(sl::union_all(std::move(plain), std::move(counted)) | sl::console(), sl::output_mode::append);
  q.stop();
}

// expect: map_groups_with_state's f must return the output row
// mapGroupsWithState's function returns one row per call.
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = sl::start(events | sl::group_by_key(sl::col<"user_id">)
                         | sl::map_groups_with_state<Session>([](const std::int64_t&, std::span<const Event>,
                                                                 sl::group_state<Session>&) {})
                         | sl::console(),
                     sl::output_mode::update);
  q.stop();
}

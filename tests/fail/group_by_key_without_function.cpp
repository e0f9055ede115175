// expect: sluice::group_by_key must be followed by sl::map_groups_with_state
// A stream grouped by key is not a stream until a [flat_]map_groups_with_state consumes it.
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = events | sl::group_by_key(sl::col<"user_id">) | sl::console();
  (void)q;
}

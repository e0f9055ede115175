// expect: f must be callable as f\(const Key& key, std::span<const Row> values
// The function takes the key's type (here user_id's std::int64_t), the values and the state.
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto f = [](const std::string& user, std::span<const Event>, sl::group_state<Session>&) { return user; };
  auto q = events | sl::group_by_key(sl::col<"user_id">) | sl::map_groups_with_state<Session>(f);
  (void)q;
}

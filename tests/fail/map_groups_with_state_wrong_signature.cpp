// expect: f must be callable as f\(const Key& key, std::span<const Row> values
// The function takes the key's type (here user_id's std::int64_t), the values and the state.
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
  auto f = [](const std::string& user, std::span<const Event>, sl::group_state<Session>&) { return user; };
  auto q = events | sl::group_by_key(sl::col<"user_id">) | sl::map_groups_with_state<Session>(f);
  (void)q;
}

// What the group state compile-fail cases share: a state, an output row and the functions of
// map_groups_with_state and flat_map_groups_with_state over seed 004's event.
#pragma once
#include <span>
#include <vector>

#include "event.hpp"

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

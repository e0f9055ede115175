// expect: sluice::transform_with_state: the initial state is a range of \(key, state\) pairs
// Spark's initialState is a KeyValueGroupedDataset: each state with its key.
#include <vector>

#include "tws_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  const std::vector<int> initial{1, 2};
  auto q = events | sl::group_by_key(sl::col<"event_type">)
      | sl::transform_with_state(Seen{}, sl::time_mode::none, sl::output_mode::append, initial);
  auto query = sl::start(std::move(q) | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: with an initial state the processor needs handle_initial_state
// An initial state is given to the processor's handle_initial_state (Spark's
// StatefulProcessorWithInitialState): a processor without one is refused.
#include <string>
#include <utility>
#include <vector>

#include "tws_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  const std::vector<std::pair<std::string, int>> initial{{"click", 1}};
  auto q = events | sl::group_by_key(sl::col<"event_type">)
      | sl::transform_with_state(Seen{}, sl::time_mode::none, sl::output_mode::append, initial);
  auto query = sl::start(std::move(q) | sl::console(), sl::output_mode::append);
  query.stop();
}

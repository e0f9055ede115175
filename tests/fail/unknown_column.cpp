// expect: cannot_resolve_column<sluice::fixed_string<5>\{"nope"\}, Event, sluice::diagnostics::given_input_columns<
// Event has no column "nope".
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto stats = events
      | sl::group_by(sl::col<"event_type">)
      | sl::aggregate(sl::sum(sl::col<"nope">));
  auto query = sl::start(stats | sl::console(), sl::output_mode::update);
  query.stop();
}

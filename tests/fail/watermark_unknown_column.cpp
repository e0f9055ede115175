// expect: cannot_resolve_column<sluice::fixed_string<3>\{"ts"\}, Event, sluice::diagnostics::given_input_columns<.*"timestamp"
// A misspelt event-time column: one error naming it, nothing from the window that uses it.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto stats = events
      | sl::with_watermark("ts"_c, 10min)
      | sl::group_by(sl::window(sl::col<"ts">, 5min))
      | sl::aggregate(sl::count());
  auto query = sl::start(stats | sl::console(), sl::output_mode::append);
  query.stop();
}

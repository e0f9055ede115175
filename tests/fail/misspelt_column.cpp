// expect: cannot_resolve_column<sluice::fixed_string<10>{"evnt_type"}, Event, sluice::diagnostics::given_input_columns<.*"event_type"
// A misspelt column is one error naming the column, the row type and its columns (Spark:
// "cannot resolve 'evnt_type' given input columns [...]"), not a cascade.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto stats = events
      | sl::group_by(sl::col<"evnt_type">)
      | sl::aggregate(sl::count());
  auto query = sl::start(stats | sl::console(), sl::output_mode::update);
  query.stop();
}

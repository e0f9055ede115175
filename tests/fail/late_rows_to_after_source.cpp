// expect: sluice rule \[late-rows-to-after-stateful-operator\]
// A source drops no late rows: sl::late_rows_to right after it has none to send.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  sl::memory_sink<Event> late;
  auto rows = events | sl::late_rows_to(late);
  auto query = sl::start(std::move(rows) | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice rule \[late-rows-to-after-stateful-operator\]
// sl::late_rows_to takes the late rows of the operator right before it: after a map there is
// none (the aggregation's late rows would be the ones before the map's).
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  sl::memory_sink<Event> late;
  auto counts = events | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::window(sl::col<"timestamp">, 5min)) | sl::aggregate(sl::count())
      | sl::map([](const auto& r) { return r; })
      | sl::late_rows_to(late);
  auto query = sl::start(std::move(counts) | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice::files::csv_sink: CSV cannot hold struct columns such as window
// CSV has no struct type (Spark's CSV sink rejects struct columns): the window column must be
// flattened first.
#include "event.hpp"
#include <sluice/files.hpp>

int main() {
  sl::memory_stream<Event> events;
  auto counts = events
      | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::window(sl::col<"timestamp">, 5min))
      | sl::aggregate(sl::count().as<"n">());
  auto query = sl::start(counts | sl::files::csv_sink("out/counts"), sl::output_mode::append);
  query.stop();
}

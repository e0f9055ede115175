// expect: sluice rule \[append-aggregation-needs-watermark\]
// After an inner stream-stream join the watermark is carried by the left side's event-time
// column only (Spark lets either side's carry it; docs/semantics.md): a window over the right
// side's time never closes in append mode.
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto joined = impressions_joined_with_clicks(impressions, clicks);
  auto counts = std::move(joined) | sl::group_by(sl::window(sl::col<"click_time">, 1h)) | sl::aggregate(sl::count());
  auto query = sl::start(std::move(counts) | sl::console(), sl::output_mode::append);
  query.stop();
}

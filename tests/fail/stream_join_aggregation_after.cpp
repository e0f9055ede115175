// expect: sluice rule \[stateful-after-stream-join\]
// Spark 3.4 runs an aggregation after a stream-stream join with per-operator watermarks; sluice
// does not have those yet and refuses the query rather than drop rows the join emits late.
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto joined = (impressions | sl::with_watermark(sl::col<"impression_time">, 2h))
      | sl::join(clicks | sl::with_watermark(sl::col<"click_time">, 3h), sl::col<"ad_id">, sl::col<"click_ad_id">,
                 within_an_hour());
  auto counts = std::move(joined) | sl::group_by(sl::window(sl::col<"impression_time">, 1h)) | sl::aggregate(sl::count());
  auto query = sl::start(std::move(counts) | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice rule \[chained-stateful-needs-append\]
// A stream-stream join of window aggregations runs in append mode only: in update mode the
// aggregations emit windows the join would take as late (Spark's correctness check; Spark
// refuses the join itself in update mode too).
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto per_window = (impressions | sl::with_watermark(sl::col<"impression_time">, 2h)) |
                    sl::group_by(sl::window(sl::col<"impression_time">, 1h)) | sl::aggregate(sl::count().as<"shown">());
  auto clicked = (clicks | sl::with_watermark(sl::col<"click_time">, 3h)) |
                 sl::group_by(sl::window(sl::col<"click_time">, 1h)) | sl::aggregate(sl::count().as<"clicked">());
  auto joined = std::move(per_window) | sl::join(std::move(clicked), sl::col<"window">);
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::update);
  query.stop();
}

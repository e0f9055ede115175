// expect: sluice rule \[stateful-after-stream-join\]
// A time-range join emits rows older than the watermark; a deduplication after it would drop
// them as late until each operator has its own watermark (Spark 3.4).
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto joined = (impressions | sl::with_watermark(sl::col<"impression_time">, 2h))
      | sl::join(clicks | sl::with_watermark(sl::col<"click_time">, 3h), sl::col<"ad_id">, sl::col<"click_ad_id">,
                 within_an_hour());
  auto unique = std::move(joined) | sl::drop_duplicates(sl::col<"ad_id">, sl::col<"impression_time">);
  auto query = sl::start(std::move(unique) | sl::console(), sl::output_mode::append);
  query.stop();
}

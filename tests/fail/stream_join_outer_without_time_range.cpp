// expect: sluice rule \[stream-join-outer-needs-watermark\]
// Watermarks on both sides are not enough for an outer join: without a time range (or the
// watermarked column as the key) nothing bounds how long a row may still match.
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto joined = (impressions | sl::with_watermark(sl::col<"impression_time">, 2h))
      | sl::full_join(clicks | sl::with_watermark(sl::col<"click_time">, 3h), sl::col<"ad_id">, sl::col<"click_ad_id">);
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::append);
  query.stop();
}

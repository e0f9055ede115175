// expect: sluice rule \[stream-join-outer-needs-watermark\]
// Spark: "Stream-stream LeftOuter join ... is not supported without a watermark in the join keys,
// or a watermark on the nullable side and an appropriate range condition".
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto joined = impressions | sl::left_join(clicks, sl::col<"ad_id">, sl::col<"click_ad_id">, within_an_hour());
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::append);
  query.stop();
}

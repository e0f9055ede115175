// expect: sluice rule \[stream-join-outer-needs-watermark\]
// A left semi join keeps left rows until the right side's watermark says no match can come:
// Spark needs a watermark on the right side and a range condition, as for a left outer join.
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto joined = (impressions | sl::with_watermark(sl::col<"impression_time">, 2h))
      | sl::left_semi_join(clicks, sl::col<"ad_id">, sl::col<"click_ad_id">, within_an_hour());
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice rule \[stream-join-after-stateful\]
// A stream-stream join of an aggregated stream needs Spark 3.4's chained stateful operators.
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto per_ad = impressions | sl::group_by(sl::col<"ad_id">) | sl::aggregate(sl::count());
  auto joined = std::move(per_ad) | sl::join(clicks, sl::col<"ad_id">, sl::col<"click_ad_id">);
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::append);
  query.stop();
}

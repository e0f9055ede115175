// expect: sluice rule \[stream-join-append-only\]
// Spark: "Join between two streaming DataFrames/Datasets is not supported in Update output mode".
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto joined = impressions | sl::join(clicks, sl::col<"ad_id">, sl::col<"click_ad_id">);
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::update);
  query.stop();
}

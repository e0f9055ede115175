// expect: sluice rule \[stream-join-append-only\]
// An aggregation after a stream-stream join runs with the join's output watermark, in append
// mode only: Spark refuses the join in update mode ("Join between two streaming
// DataFrames/Datasets is not supported in Update output mode").
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto joined = impressions_joined_with_clicks(impressions, clicks);
  auto counts = std::move(joined) | sl::group_by(sl::window(sl::col<"impression_time">, 1h)) | sl::aggregate(sl::count());
  auto query = sl::start(std::move(counts) | sl::console(), sl::output_mode::update);
  query.stop();
}

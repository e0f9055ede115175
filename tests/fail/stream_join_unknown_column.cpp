// expect: sluice::join: sl::col<.name.>: the right stream has no column of this name
// The using-column form joins on a column both streams have.
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto joined = impressions | sl::join(clicks, sl::col<"ad_id">);
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::append);
  query.stop();
}

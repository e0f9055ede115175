// expect: sluice::time_range / sl::same_window: both columns must be of type sl::timestamp
// The time range compares event times: a number of seconds is not one.
#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto joined = impressions | sl::join(clicks, sl::col<"ad_id">, sl::col<"click_ad_id">,
                                       sl::time_range(sl::col<"click_ad_id">, sl::col<"impression_time">, 0h, 1h));
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::append);
  query.stop();
}

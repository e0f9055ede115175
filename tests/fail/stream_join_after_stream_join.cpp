// expect: sluice rule \[stream-join-after-stateful\]
// A stream-stream join of a joined stream: its input watermark would be the first join's
// output watermark, which the second join's state watermarks do not take yet; join in one step
// per query.
#include "stream_join_support.hpp"

struct Ad {
  std::int64_t ad;
};
BOOST_DESCRIBE_STRUCT(Ad, (), (ad))

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  sl::memory_stream<Ad> ads;
  auto joined = impressions_joined_with_clicks(impressions, clicks);
  auto again = std::move(joined) | sl::join(ads, sl::col<"ad_id">, sl::col<"ad">);
  auto query = sl::start(std::move(again) | sl::console(), sl::output_mode::append);
  query.stop();
}

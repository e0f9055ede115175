// expect: sluice::join: both streams have a column of this name \(other than the join column\)
// Spark would make the column ambiguous; every output column needs its own name.
#include "stream_join_support.hpp"

struct OtherImpression {
  std::int64_t other_ad_id;
  sl::timestamp impression_time;
};
BOOST_DESCRIBE_STRUCT(OtherImpression, (), (other_ad_id, impression_time))

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<OtherImpression> others;
  auto joined = impressions | sl::join(others, sl::col<"ad_id">, sl::col<"other_ad_id">);
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::append);
  query.stop();
}

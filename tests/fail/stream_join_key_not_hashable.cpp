// expect: sluice::join: the join key type needs std::hash and ==
// The join's state is a hash table by key.
#include <vector>

#include "stream_join_support.hpp"

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Click> clicks;
  auto joined = impressions | sl::join(clicks, [](const Impression& i) { return std::vector<std::int64_t>{i.ad_id}; },
                                       [](const Click& c) { return std::vector<std::int64_t>{c.click_ad_id}; });
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::append);
  query.stop();
}

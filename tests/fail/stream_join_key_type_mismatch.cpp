// expect: sluice::join: the join keys of the two streams have different types
// Spark would insert a cast; sluice asks for keys of one type.
#include <string>

#include "stream_join_support.hpp"

struct Tagged {
  std::string tag;
  sl::timestamp tag_time;
};
BOOST_DESCRIBE_STRUCT(Tagged, (), (tag, tag_time))

int main() {
  sl::memory_stream<Impression> impressions;
  sl::memory_stream<Tagged> tags;
  auto joined = impressions | sl::join(tags, sl::col<"ad_id">, sl::col<"tag">);
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::append);
  query.stop();
}

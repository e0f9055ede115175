// The two streams the stream-stream join compile-fail cases join (Spark's ad impressions and
// clicks).
#pragma once
#include <sluice/sluice.hpp>

#include <cstdint>

using namespace std::chrono_literals;
namespace sl = sluice;

struct Impression {
  std::int64_t ad_id;
  sl::timestamp impression_time;
};
BOOST_DESCRIBE_STRUCT(Impression, (), (ad_id, impression_time))
struct Click {
  std::int64_t click_ad_id;
  sl::timestamp click_time;
};
BOOST_DESCRIBE_STRUCT(Click, (), (click_ad_id, click_time))

inline auto within_an_hour() {
  return sl::time_range(sl::col<"click_time">, sl::col<"impression_time">, 0h, 1h);
}

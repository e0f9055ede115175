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

// Impressions joined with the clicks of the hour after them, both watermarked.
inline auto impressions_joined_with_clicks(sl::memory_stream<Impression>& impressions, sl::memory_stream<Click>& clicks) {
  return (impressions | sl::with_watermark(sl::col<"impression_time">, 2h))
      | sl::join(clicks | sl::with_watermark(sl::col<"click_time">, 3h), sl::col<"ad_id">, sl::col<"click_ad_id">,
                 within_an_hour());
}

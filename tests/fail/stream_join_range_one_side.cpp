// expect: sluice::time_range / sl::same_window: name a column of the left stream and a column of the right stream
// The time condition is between the two sides' times.
#include "stream_join_support.hpp"

struct Shown {
  std::int64_t ad_id;
  sl::timestamp impression_time;
  sl::timestamp shown_time;
};
BOOST_DESCRIBE_STRUCT(Shown, (), (ad_id, impression_time, shown_time))

int main() {
  sl::memory_stream<Shown> shown;
  sl::memory_stream<Click> clicks;
  auto joined = shown | sl::join(clicks, sl::col<"ad_id">, sl::col<"click_ad_id">,
                                 sl::time_range(sl::col<"shown_time">, sl::col<"impression_time">, 0h, 1h));
  auto query = sl::start(std::move(joined) | sl::console(), sl::output_mode::append);
  query.stop();
}

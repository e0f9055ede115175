// expect: sluice rule \[chained-stateful-needs-append\]
// In update mode an aggregation emits rows that are late for the operator after it (Spark's
// correctness check, checkStreamingQueryGlobalWatermarkLimit): transform_with_state too.
#include <cstdint>
#include <span>
#include <vector>

#include "event.hpp"

struct Passed {
  void init(sl::processor_handle&) {}
  template <class Row>
  std::vector<Row> handle_input_rows(const std::int64_t&, std::span<const Row> rows, const sl::timer_values&) {
    return {rows.begin(), rows.end()};
  }
};

int main() {
  sl::memory_stream<Event> events;
  auto q = events | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"user_id">) | sl::aggregate(sl::count())
      | sl::group_by_key(sl::col<"user_id">)
      | sl::transform_with_state(Passed{}, sl::time_mode::none, sl::output_mode::update);
  auto query = sl::start(std::move(q) | sl::console(), sl::output_mode::update);
  query.stop();
}

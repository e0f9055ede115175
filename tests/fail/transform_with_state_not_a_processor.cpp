// expect: sluice::transform_with_state: the processor needs init\(sl::processor_handle&\) and handle_input_rows
// A processor is Spark's StatefulProcessor: init and handleInputRows at least.
#include <span>
#include <string>
#include <vector>

#include "event.hpp"

struct NoInit {
  std::vector<Event> handle_input_rows(const std::string&, std::span<const Event> rows, const sl::timer_values&) {
    return {rows.begin(), rows.end()};
  }
};

int main() {
  sl::memory_stream<Event> events;
  auto q = events | sl::group_by_key(sl::col<"event_type">)
      | sl::transform_with_state(NoInit{}, sl::time_mode::none, sl::output_mode::append);
  auto query = sl::start(std::move(q) | sl::console(), sl::output_mode::append);
  query.stop();
}

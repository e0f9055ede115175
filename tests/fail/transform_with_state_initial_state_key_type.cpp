// expect: sluice::transform_with_state: the initial state's keys must convert to the grouping key's type
// The initial state's keys are the query's grouping keys (Spark: the same key type).
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "event.hpp"

struct FromSaved {
  void init(sl::processor_handle&) {}
  std::vector<Event> handle_input_rows(const std::string&, std::span<const Event> rows, const sl::timer_values&) {
    return {rows.begin(), rows.end()};
  }
  void handle_initial_state(const std::string&, const std::int64_t&, const sl::timer_values&) {}
};

int main() {
  sl::memory_stream<Event> events;
  const std::vector<std::pair<double, std::int64_t>> initial{{1.5, 1}};
  auto q = events | sl::group_by_key(sl::col<"event_type">)
      | sl::transform_with_state(FromSaved{}, sl::time_mode::none, sl::output_mode::append, initial);
  auto query = sl::start(std::move(q) | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice::session_window: the gap must be a duration or a function of the row
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto sessions = events | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::session_window(sl::col<"timestamp">, [](const Event& e) { return e.user_id; }))
      | sl::aggregate(sl::count());
  auto query = sl::start(std::move(sessions) | sl::console(), sl::output_mode::complete);
  query.stop();
}

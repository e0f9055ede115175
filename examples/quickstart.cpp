// The smallest complete sluice program (the README's usage example): events from an
// in-memory stream, a 5-minute tumbling window per event type with a 10-minute watermark,
// count and average value, printed by the console sink. The query runs with the
// available-now trigger: it processes what is there, then stops by itself.
#include <sluice/sluice.hpp>

#include <iostream>

using namespace std::chrono_literals;
namespace sl = sluice;

struct Event {
  std::string event_id;
  sl::timestamp timestamp;  // microseconds since the epoch, UTC
  std::int64_t user_id;
  std::string event_type;
  double value;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_id, timestamp, user_id, event_type, value))

int main() {
  sl::memory_stream<Event> events;
  auto at = [](const char* text) { return *sl::parse_timestamp(text); };
  events.add_data({{"e1", at("2024-01-15T10:01:00"), 7, "click", 12.5},
                   {"e2", at("2024-01-15T10:03:30"), 9, "view", 40.0},
                   {"e3", at("2024-01-15T10:04:10"), 7, "click", 27.5},
                   {"e4", at("2024-01-15T10:06:00"), 3, "purchase", 310.0}});

  auto stats = events
      | sl::with_watermark(&Event::timestamp, 10min)
      | sl::group_by(sl::window(&Event::timestamp, 5min), sl::col<&Event::event_type>)
      | sl::aggregate(sl::count().as<"event_count">(), sl::avg(&Event::value).as<"avg_value">());
  // stats' row type is generated: window, event_type, event_count, avg_value.

  auto query = sl::start(stats | sl::console({.truncate = false}), sl::output_mode::update,
                         {.name = "quickstart", .trigger = sl::trigger::available_now()});
  query.await_termination();  // throws sl::streaming_query_error if the query failed

  std::cout << "last progress: " << query.last_progress()->json() << "\n";
}

// expect: as_target_field_not_in_row_or_not_convertible<EventCount, sluice::fixed_string<7>\{"region"\}, 
// EventCount has a field "region" the aggregated rows do not have.
#include "event.hpp"

struct EventCount {
  std::string event_type;
  std::int64_t n;
  std::string region;
};
BOOST_DESCRIBE_STRUCT(EventCount, (), (event_type, n, region))

int main() {
  sl::memory_stream<Event> events;
  auto counts = events
      | sl::group_by(sl::col<"event_type">)
      | sl::aggregate(sl::count().as<"n">())
      | sl::as<EventCount>();
  sl::memory_sink<EventCount> sink;
  auto query = sl::start(counts | sink, sl::output_mode::update);
  query.stop();
}

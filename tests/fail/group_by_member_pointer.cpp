// expect: member_pointer_column_is_ambiguous_write_sl_col_of_the_member_pointer<Event, std::.*candidates<sluice::fixed_string<9>\{"event_id"\}, sluice::fixed_string<11>\{"event_type"\}>
// A member pointer passed as a function argument carries only its type, and Event has two
// described std::string members: the error names both and the fix (sl::col<&Event::event_type>).
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto stats = events
      | sl::group_by(&Event::event_type)
      | sl::aggregate(sl::count());
  auto query = sl::start(stats | sl::console(), sl::output_mode::update);
  query.stop();
}

// expect: member_pointer_column_is_ambiguous_write_sl_col_of_the_member_pointer<Event, std::
// The same in drop_duplicates: one error, nothing after it.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto deduplicated = events | sl::drop_duplicates(&Event::event_id);
  auto query = sl::start(std::move(deduplicated) | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice::group_by_key: give at least one key
// Spark's groupByKey takes a function of the row: there is always a key.
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = sl::start(events | sl::group_by_key()
                         | sl::map_groups_with_state<Session>(count_events) | sl::console(),
                     sl::output_mode::update);
  q.stop();
}

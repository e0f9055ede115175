// expect: the operator's output mode is output_mode::append or output_mode::update
// Spark: the output mode of flatMapGroupsWithState's function is append or update.
#include "group_state_support.hpp"

int main() {
  auto d = sl::flat_map_groups_with_state<Session>(count_events_flat, sl::output_mode::complete);
  (void)d;
}

// expect: sluice rule \[flat-map-groups-with-state-aggregation\]
// Spark: flatMapGroupsWithState in append mode is not supported after aggregation.
#include "group_state_support.hpp"

using Counted = sl::row<sl::field<"user_id", std::int64_t>, sl::field<"count", std::int64_t>>;
int main() {
  sl::memory_stream<Event> events;
  auto f = [](const std::int64_t& user, std::span<const Counted> values, sl::group_state<Session>&) {
    return std::vector<Out>{{user, static_cast<std::int64_t>(values.size())}};
  };
  auto q = sl::start(events | sl::group_by(sl::col<"user_id">) | sl::aggregate(sl::count())
                         | sl::group_by_key(sl::col<"user_id">)
                         | sl::flat_map_groups_with_state<Session>(f, sl::output_mode::append) | sl::console(),
                     sl::output_mode::complete);
  q.stop();
}

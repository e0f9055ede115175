// expect: sluice::flat_map_groups_with_state<State, Out>: f must be callable as f\(const Key&, std::span<const Row> values, sl::group_state<State>&, emit\)
// The emit form's f takes a fifth argument, emit, and calls emit(Out).
#include "group_state_support.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto q = sl::start(events | sl::group_by_key(sl::col<"user_id">)
                         | sl::flat_map_groups_with_state<Session, Out>(count_events_flat, sl::output_mode::update)
                         | sl::console(),
                     sl::output_mode::update);
  q.stop();
}

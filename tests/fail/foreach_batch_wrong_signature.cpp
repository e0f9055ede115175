// expect: sluice::foreach_batch: f must be callable
// foreach_batch passes (std::span<const Row>, std::int64_t batch_id); this function takes a
// vector of another row type.
#include "event.hpp"

#include <vector>
struct Other {
  int x;
};

int main() {
  sl::memory_stream<Event> events;
  auto query = sl::start(events | sl::foreach_batch([](const std::vector<Other>& rows, std::int64_t) {
                           (void)rows;
                         }),
                         sl::output_mode::append);
  query.stop();
}

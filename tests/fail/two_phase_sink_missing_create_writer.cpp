// expect: sluice two_phase sink: missing `writer create_writer\(std::int64_t batch_id, std::int64_t partition_id\)`
// A sink that writes rows itself instead of through writers: create_writer is missing (wrong
// name), and the first error names it.
#include "event.hpp"

#include <sluice/sinks/two_phase.hpp>

#include <vector>

struct event_writer {
  void write(const Event&) {}
  int commit() { return 0; }
  void abort() {}
};

struct event_store {
  event_writer writer(std::int64_t, std::int64_t) { return {}; }
  void commit(std::int64_t, std::vector<int>) {}
  void abort(std::int64_t, std::vector<int>) {}
};

int main() {
  sl::memory_stream<Event> events;
  auto query = sl::start(events | sl::two_phase(event_store{}), sl::output_mode::append);
  query.stop();
}

// expect: sluice two_phase writer: missing `commit_message commit\(\)`
// The writer's commit returns nothing: the sink's commit would get no message from it.
#include "event.hpp"

#include <sluice/sinks/two_phase.hpp>

#include <vector>

struct event_writer {
  void write(const Event&) {}
  void commit() {}
  void abort() {}
};

struct event_store {
  event_writer create_writer(std::int64_t, std::int64_t) { return {}; }
  void commit(std::int64_t, std::vector<int>) {}
  void abort(std::int64_t, std::vector<int>) {}
};

int main() {
  sl::memory_stream<Event> events;
  auto query = sl::start(events | sl::two_phase(event_store{}), sl::output_mode::append);
  query.stop();
}

// expect: sluice two_phase sink: missing `void commit\(std::int64_t batch_id, std::vector<commit_message> messages\)`
// A two-phase sink whose writers return commit messages, but which cannot commit a batch:
// the first error names the sink's missing commit and its signature.
#include "event.hpp"

#include <sluice/sinks/two_phase.hpp>

#include <vector>

struct written {
  std::size_t rows = 0;
};

struct event_writer {
  std::size_t n = 0;
  void write(const Event&) { ++n; }
  written commit() { return {n}; }
  void abort() {}
};

struct event_store {
  event_writer create_writer(std::int64_t, std::int64_t) { return {}; }
  // missing: void commit(std::int64_t batch_id, std::vector<written> messages);
  void abort(std::int64_t, std::vector<written>) {}
};

int main() {
  sl::memory_stream<Event> events;
  auto query = sl::start(events | sl::two_phase(event_store{}), sl::output_mode::append);
  query.stop();
}

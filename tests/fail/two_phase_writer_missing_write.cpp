// expect: sluice two_phase writer: missing `void write\(const Row& row\)` for the pipeline's row type
// The writer writes another row type than the pipeline's (Event): for the pipeline it has no
// write(const Event&), and the first error says so.
#include "event.hpp"

#include <sluice/sinks/two_phase.hpp>

#include <vector>

struct Reading {
  double celsius = 0;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (celsius))

struct reading_writer {
  void write(const Reading&) {}
  int commit() { return 0; }
  void abort() {}
};

struct reading_store {
  reading_writer create_writer(std::int64_t, std::int64_t) { return {}; }
  void commit(std::int64_t, std::vector<int>) {}
  void abort(std::int64_t, std::vector<int>) {}
};

int main() {
  sl::memory_stream<Event> events;
  auto query = sl::start(events | sl::two_phase(reading_store{}), sl::output_mode::append);
  query.stop();
}

// expect: sluice::delta::sink: unsupported column type
// Delta has no unsigned 64-bit integer type: a uint64_t column is refused at the `|`.
#include "event.hpp"

#include <sluice/delta.hpp>

struct Counter {
  std::string name;
  std::uint64_t hits;
};
BOOST_DESCRIBE_STRUCT(Counter, (), (name, hits))

int main() {
  sl::memory_stream<Counter> counters;
  auto query = sl::start(counters | sl::delta::sink("data/counters"), sl::output_mode::append);
  query.stop();
}

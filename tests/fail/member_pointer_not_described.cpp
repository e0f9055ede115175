// expect: member_pointer_column_needs_a_struct_described_with_BOOST_DESCRIBE_STRUCT<Reading, double>
// A member pointer names its column through Boost.Describe: Reading is not described.
#include "event.hpp"

struct Reading {
  sl::timestamp at;
  double level;
};

int main() {
  sl::memory_stream<Reading> readings;
  auto stats = readings | sl::aggregate(sl::avg(&Reading::level));
  auto query = sl::start(stats | sl::console(), sl::output_mode::complete);
  query.stop();
}

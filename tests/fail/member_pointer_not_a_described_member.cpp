// expect: member_pointer_column_is_not_among_the_described_members<Reading, double>
// sl::col<&Reading::level>: level is not listed in BOOST_DESCRIBE_STRUCT, so it has no column
// (it is never taken for `peak`, the described member of the same type).
#include "event.hpp"

struct Reading {
  sl::timestamp at;
  double peak;
  double level;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (at, peak))

int main() {
  sl::memory_stream<Reading> readings;
  auto stats = readings | sl::aggregate(sl::avg(sl::col<&Reading::level>));
  auto query = sl::start(stats | sl::console(), sl::output_mode::complete);
  query.stop();
}

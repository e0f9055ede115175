// expect: sluice::union_all: every input must have the same row type
// union_all needs inputs with one row type; convert one side first (sl::map or sl::as<T>).
#include "event.hpp"

struct Click {
  std::string url;
  sl::timestamp timestamp;
};
BOOST_DESCRIBE_STRUCT(Click, (), (url, timestamp))

int main() {
  sl::memory_stream<Event> events;
  sl::memory_stream<Click> clicks;
  auto both = sl::union_all(events, clicks);
  auto query = sl::start(both | sl::console(), sl::output_mode::append);
  query.stop();
}

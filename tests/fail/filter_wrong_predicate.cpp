// expect: sluice::filter: the predicate must be callable with the incoming row type
// The predicate takes another row type than the stream carries.
#include "event.hpp"

struct Click {
  std::string url;
};
BOOST_DESCRIBE_STRUCT(Click, (), (url))

int main() {
  sl::memory_stream<Event> events;
  auto clicks = events | sl::filter([](const Click& c) { return !c.url.empty(); });
  auto query = sl::start(clicks | sl::console(), sl::output_mode::append);
  query.stop();
}

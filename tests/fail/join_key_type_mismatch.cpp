// expect: sluice::join: the join keys of the stream and the table have different types
// The stream's user_id is std::int64_t, the table's a std::string: no implicit conversion.
#include "event.hpp"

struct User {
  std::string user_id;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(User, (), (user_id, name))

int main() {
  sl::memory_stream<Event> events;
  const sl::static_table<User> users({{"1", "ann"}});
  auto enriched = events | sl::left_join(users, sl::col<"user_id">);
  auto query = sl::start(enriched | sl::console(), sl::output_mode::append);
  query.stop();
}

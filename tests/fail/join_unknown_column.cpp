// expect: sluice::join: sl::col<.name.>: the table's row type has no column of this name
// The join column must exist on both sides (Spark: "USING column `user_id` cannot be resolved").
#include "event.hpp"

struct User {
  std::int64_t id;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(User, (), (id, name))

int main() {
  sl::memory_stream<Event> events;
  const sl::static_table<User> users({{1, "ann"}});
  auto enriched = events | sl::join(users, sl::col<"user_id">);
  auto query = sl::start(enriched | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice::join: the stream and the table both have a column of this name
// The table has an event_type column besides the join column user_id, and so has the stream:
// Spark would make the output's event_type ambiguous; sluice refuses it (rename with sl::select).
#include "event.hpp"

struct UserType {
  std::int64_t user_id;
  std::string event_type;
};
BOOST_DESCRIBE_STRUCT(UserType, (), (user_id, event_type))

int main() {
  sl::memory_stream<Event> events;
  const sl::static_table<UserType> table({{1, "click"}});
  auto enriched = events | sl::join(table, sl::col<"user_id">);
  auto query = sl::start(enriched | sl::console(), sl::output_mode::append);
  query.stop();
}

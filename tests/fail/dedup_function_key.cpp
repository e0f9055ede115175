// expect: sluice::drop_duplicates: name each key column with sl::col<.name.> or a member pointer
// Spark's dropDuplicates takes column names: a key is a column of the row.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto deduplicated = events | sl::drop_duplicates([](const Event& e) { return e.user_id; });
  auto query = sl::start(std::move(deduplicated) | sl::console(), sl::output_mode::append);
  query.stop();
}

// expect: sluice::map: the function must return the new row
// A map whose function returns nothing: one error, the stages after it add none.
#include "event.hpp"

int main() {
  sl::memory_stream<Event> events;
  auto mapped = events | sl::map([](const Event& e) { (void)e; });
  auto query = sl::start(mapped | sl::console(), sl::output_mode::append);
  query.stop();
}

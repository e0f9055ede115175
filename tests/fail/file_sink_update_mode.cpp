// expect: sluice rule \[sink-output-mode\]
// Spark's file sink supports the append output mode only: update (and complete) are refused.
#include "event.hpp"
#include <sluice/files.hpp>

int main() {
  sl::memory_stream<Event> events;
  auto clicks = events | sl::filter([](const Event& e) { return e.event_type == "click"; });
  auto query = sl::start(clicks | sl::files::json_lines_sink("out/clicks"), sl::output_mode::update);
  query.stop();
}

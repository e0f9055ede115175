// Watermarks and late data (seed 004, example 3's rule on a tumbling window):
// a 5-minute window count per event type with a 10-minute watermark, in append mode.
//
//  * After each batch the watermark becomes max(event time seen) - 10 minutes; the next
//    batch uses it.
//  * A row whose window end is <= the watermark the previous batch ran with is late (here
//    that of the no-data batch between the steps, 10:14): the aggregation drops it and
//    counts it in progress (stateOperators[0].numRowsDroppedByWatermark).
//  * Append mode emits a window once, when its end is <= the watermark. The no-data batch
//    the engine runs after the watermark moves is what emits it without waiting for input.
//
// Data is added in two steps, each followed by process_all_available(), so the batches are
// deterministic. Exits 1 if the dropped-row count is not the expected one.
#include <sluice/sluice.hpp>

#include "common/event.hpp"  // Event (seed 004's schema)

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace sl = sluice;

namespace {
sl::timestamp at(const char* hh_mm) { return *sl::parse_timestamp(std::string("2024-01-15T") + hh_mm + ":00"); }
std::string hm(sl::timestamp t) { return t.micros == 0 ? "-" : sl::format_timestamp(t, true).substr(11, 5); }
}  // namespace

int main() {
  sl::memory_stream<Event> events;

  auto counts = events
      | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">)
      | sl::aggregate(sl::count().as<"event_count">());

  auto query = sl::start(counts | sl::console({.truncate = false}), sl::output_mode::append, {.name = "late_data"});

  try {
    std::cout << "== step 1: events at 10:00 10:02 10:07 10:11 10:24 (max 10:24 -> watermark 10:14)\n";
    events.add_data({{"a1", at("10:00"), 1, "click", 10},
                     {"a2", at("10:02"), 2, "click", 20},
                     {"a3", at("10:07"), 3, "click", 30},
                     {"a4", at("10:11"), 4, "click", 40},
                     {"a5", at("10:24"), 5, "click", 50}});
    query.process_all_available();

    std::cout << "== step 2: 10:03 and 10:08 are late (their windows end at 10:05 and 10:10, <= 10:14);\n"
                 "   10:13 is older than the watermark but its window ends at 10:15, so it counts; 10:26 moves\n"
                 "   the watermark to 10:16, which closes [10:10, 10:15)\n";
    events.add_data({{"b1", at("10:03"), 6, "click", 60},
                     {"b2", at("10:08"), 7, "click", 70},
                     {"b3", at("10:13"), 8, "click", 80},
                     {"b4", at("10:26"), 9, "click", 90}});
    query.process_all_available();
    query.stop();
  } catch (const sl::streaming_query_error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }

  std::cout << "batch  input  watermark  dropped-by-watermark  output  state-rows\n";
  std::int64_t dropped = 0;
  for (const auto& p : query.recent_progress()) {
    const auto& op = p.state_operators.at(0);
    dropped += op.num_rows_dropped_by_watermark;
    std::printf("%5lld  %5lld  %9s  %20lld  %6lld  %10lld\n", static_cast<long long>(p.batch_id),
                static_cast<long long>(p.num_input_rows), hm(*p.event_time.watermark).c_str(),
                static_cast<long long>(op.num_rows_dropped_by_watermark),
                static_cast<long long>(p.sink.num_output_rows), static_cast<long long>(op.num_rows_total));
  }
  std::cout << "rows dropped by the watermark: " << dropped << " (expected 2)\n"
            << "windows [10:20, 10:25) and [10:25, 10:30) are still open: append mode emits them once the\n"
            << "watermark passes their end.\n";
  return dropped == 2 ? 0 : 1;
}

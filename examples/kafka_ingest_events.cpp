// Seed 001's `ingest_events` node: JSON events from a Kafka topic -> a 10-minute watermark ->
// 5-minute windows per event type (count, average value) -> a Delta table, exactly once with
// a checkpoint. It first writes a day's worth of sample events into the topic with
// sl::kafka::sink, then runs the ingest query to the end of the topic (trigger available-now),
// and reads the table back. Run it again: it adds events and resumes from its checkpoint.
//
//   scripts/kafka.sh start                      # prints the bootstrap address
//   example_kafka_ingest_events [--clean] 127.0.0.1:PORT  # or --broker-dir DIR (reads DIR/bootstrap)
#include <sluice/delta.hpp>
#include <sluice/kafka.hpp>
#include <sluice/sluice.hpp>

#include "common/event.hpp"  // Event (seed 004's schema)

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

namespace sl = sluice;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  std::string bootstrap;
  if (argc > 1 && std::string(argv[1]) == "--clean") {  // start over (a new broker: its offsets are new)
    for (const char* p : {"runs", "data", "checkpoints"}) std::filesystem::remove_all(p);
    --argc;
    ++argv;
  }
  if (argc == 3 && std::string(argv[1]) == "--broker-dir") {
    std::ifstream in(std::string(argv[2]) + "/bootstrap");
    std::getline(in, bootstrap);
  } else if (argc == 2) {
    bootstrap = argv[1];
  }
  if (bootstrap.empty()) {
    std::fprintf(stderr, "usage: %s HOST:PORT | --broker-dir DIR  (start a broker with scripts/kafka.sh start)\n", argv[0]);
    return 2;
  }
  const sl::kafka::properties kafka{{"bootstrap.servers", bootstrap}};
  const std::string topic = "events";

  // 1. Sample events: 2,000 per run, one a minute of event time per user, a few out of order.
  std::int64_t run = 0;
  {
    std::ifstream in("runs");
    in >> run;
  }
  std::ofstream("runs") << run + 1;
  sl::memory_stream<Event> generated;
  std::vector<Event> batch;
  const std::int64_t base = 1700000000LL * 1000000 + run * 2000 * 60 * 1000000LL / 10;
  const char* types[] = {"click", "view", "purchase"};
  for (int i = 0; i < 2000; ++i) {
    const std::int64_t skew = (i % 17 == 0) ? -3 * 60 * 1000000LL : 0;  // a few out of order
    batch.push_back({std::to_string(run) + "-" + std::to_string(i), sl::timestamp{base + i * 6000000LL + skew}, i % 50,
                     types[i % 3], static_cast<double>(i % 100)});
  }
  generated.add_data(batch);
  {
    auto q = sl::start(generated | sl::kafka::sink({.topic = topic, .kafka = kafka}), sl::output_mode::append);
    q.process_all_available();
    q.stop();
  }

  // 2. The ingest query.
  auto events = sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .max_offsets_per_trigger = 1000,
                                   .kafka = kafka});
  auto windows = events | sl::kafka::decode_json<Event>() | sl::with_watermark(sl::col<"timestamp">, 10min) |
                 sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">) |
                 sl::aggregate(sl::count().as<"event_count">(), sl::avg(sl::col<"value">).as<"avg_value">());
  using window_row = decltype(windows)::row_type;
  auto q = sl::start(windows | sl::delta::sink("data/event_windows"), sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(), .checkpoint = "checkpoints/ingest_events"});
  q.await_termination();
  for (const auto& p : q.recent_progress())
    std::printf("batch %lld: %lld input rows, sources %s\n", static_cast<long long>(p.batch_id),
                static_cast<long long>(p.num_input_rows), boost::json::serialize(p.to_json().at("sources")).c_str());

  // 3. The table: windows closed by the watermark, each written once.
  const auto rows = sl::delta::read<window_row>("data/event_windows");
  std::int64_t counted = 0;
  for (const auto& r : rows) counted += sl::get<"event_count">(r);
  std::printf("data/event_windows: %zu closed windows holding %lld events\n", rows.size(), static_cast<long long>(counted));
  return rows.empty() ? 1 : 0;
}

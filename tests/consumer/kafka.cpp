// The kafka component from an installed sluice: find_package(sluice COMPONENTS kafka) and
// sluice::kafka compile and link a query from a Kafka source to a Kafka sink (librdkafka);
// nothing is run against a broker here (tests/kafka does that). Linked to sluice::kafka alone,
// it gets the compiled engine with it (sluice::sluice): a memory query runs to show it links.
#include <sluice/kafka.hpp>
#include <sluice/sluice.hpp>

#include <cstdio>

#if !defined(SLUICE_SEPARATE_COMPILATION)
#error "sluice::kafka did not bring sluice::sluice's SLUICE_SEPARATE_COMPILATION"
#endif

namespace sl = sluice;

int main() {
  const auto options = sl::kafka::source_options_from_json(boost::json::parse(
      R"({"subscribe": "events", "startingOffsets": "earliest", "kafka.bootstrap.servers": "127.0.0.1:9"})").as_object());
  sl::kafka::source events(options);
  auto plan = events | sl::kafka::sink({.topic = "copy", .kafka = options.kafka});
  (void)plan;
  if (events.description() != "KafkaV2[subscribe=events]") {
    std::printf("unexpected description %s\n", events.description().c_str());
    return 1;
  }
  sl::memory_stream<sl::rate_row> in;
  sl::memory_sink<sl::rate_row> out;
  in.add_data({{sl::timestamp{0}, 1}});
  auto copy = sl::start(in | out, sl::output_mode::append, {.name = "consumer-kafka", .trigger = sl::trigger::available_now()});
  copy.await_termination();
  if (out.rows().size() != 1) {
    std::printf("the memory query wrote %zu rows, expected 1\n", out.rows().size());
    return 1;
  }
  std::printf("sluice::kafka consumer: %s, librdkafka %s\n", events.description().c_str(), rd_kafka_version_str());
  return 0;
}

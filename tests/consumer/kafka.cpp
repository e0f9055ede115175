// The kafka component from an installed sluice: find_package(sluice COMPONENTS kafka) and
// sluice::kafka compile and link a query from a Kafka source to a Kafka sink (librdkafka);
// nothing is run against a broker here (tests/kafka does that).
#include <sluice/kafka.hpp>
#include <sluice/sluice.hpp>

#include <cstdio>

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
  std::printf("sluice::kafka consumer: %s, librdkafka %s\n", events.description().c_str(), rd_kafka_version_str());
  return 0;
}

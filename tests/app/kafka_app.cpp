// An application for app_kafka_test.py: pipelines whose connections are Kafka and Event Hubs,
// bound by a YAML file at run time, against a real broker's SASL_SSL listener (the Event Hubs
// connection logs in as Event Hubs' "$ConnectionString" user with its connection string).
//   publish: JSON-lines readings -> Kafka sink (each row's JSON as the value) on write.table
//   relay:   Kafka source (read.options.subscribe, startingOffsets) -> JSON-lines files of
//            each record's topic, partition, offset and value
#include <sluice/app.hpp>
#include <sluice/files.hpp>
#include <sluice/kafka.hpp>

namespace sl = sluice;

struct Reading {
  std::int64_t id = 0;
  double value = 0;
  sl::timestamp ts;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (id, value, ts))

struct Relayed {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string value;
};
BOOST_DESCRIBE_STRUCT(Relayed, (), (topic, partition, offset, value))

int main(int argc, char** argv) {
  sl::app app("kafka_app");
  app.pipeline("publish", {.reads = {"json"}, .writes = {"kafka"}, .output_modes = {"append"}}, [](sl::node& n) {
    const auto in = n.read();
    const auto out = n.write();
    auto plan = sl::files::json_lines<Reading>(in.location(), {.glob = in.option("glob", "*.jsonl")}) |
                sl::kafka::sink({.topic = out.table(), .kafka = out.kafka_properties()});
    return n.start(std::move(plan), sl::output_mode::append);
  });
  app.pipeline("relay", {.reads = {"kafka"}, .writes = {"json"}, .output_modes = {"append"}}, [](sl::node& n) {
    const auto in = n.read();
    auto plan = sl::kafka::source({.subscribe = {in.option("subscribe", "")},
                                   .starting_offsets = in.option("startingOffsets", "latest"),
                                   .poll_timeout = std::chrono::milliseconds(in.int_option("pollTimeoutMs", 120000)),
                                   .kafka = in.kafka_properties()}) |
                sl::map([](const sl::kafka::record& r) {
                  return Relayed{r.topic, r.partition, r.offset, r.value.value_or("")};
                }) |
                sl::files::json_lines_sink(n.write().location());
    return n.start(std::move(plan), sl::output_mode::append);
  });
  return app.main(argc, argv);
}

// The query tests/kafka/crash/kafka_crash_test.py kills and restarts:
//
//   kafka::source(input topic, max 1000 offsets per batch) | kafka::decode_json<Event>
//     | with_watermark(timestamp, 10s) | group_by(window(timestamp, 10s), key)
//     | aggregate(count() as n, sum(value) as total)
//     | kafka::sink(output topic, exactly once)   (--sink kafka)
//     | delta::sink(output dir)                   (--sink delta)
//
// append mode, a checkpoint, trigger available-now (the topic up to its end at start, then the
// no-data batch that closes the windows). Other commands:
//   produce --bootstrap B --topic T --from I --to J   events I..J-1 (the test's input; one partition)
//   dump-delta --output DIR                           the Delta table's rows as JSON lines
#include <sluice/delta.hpp>
#include <sluice/kafka.hpp>
#include <sluice/sluice.hpp>

#include "crash_event.hpp"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace {
using kafka_crash::keys;
using kafka_crash::t0;

auto pipeline(const std::string& bootstrap, const std::string& input) {
  return sl::kafka::source({.subscribe = {input}, .starting_offsets = "earliest", .max_offsets_per_trigger = 1000,
                            .kafka = {{"bootstrap.servers", bootstrap}}}) |
         sl::kafka::decode_json<Event>() | sl::with_watermark(sl::col<"timestamp">, 10s) |
         sl::group_by(sl::window(sl::col<"timestamp">, 10s), sl::col<"key">) |
         sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"value">).as<"total">());
}
using out_row = decltype(pipeline("", ""))::row_type;

int produce(const std::string& bootstrap, const std::string& topic, std::int64_t from, std::int64_t to) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) return std::fprintf(stderr, "%s\n", err), 1;
  for (std::int64_t i = from; i < to; ++i) {
    Event e{i, sl::timestamp{t0 + i * 10000}, keys[i % 8], i % 100};
    std::string v = sl::to_json_string(e);
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(v.data(), v.size()),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 10);
  }
  const bool ok = rd_kafka_flush(rk, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR;
  rd_kafka_destroy(rk);
  return ok ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  if (argc < 2) return 2;
  const std::string command = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) a[std::string(argv[i]).substr(2)] = argv[i + 1];
  try {
    if (command == "produce") return produce(a.at("bootstrap"), a.at("topic"), std::stoll(a.at("from")), std::stoll(a.at("to")));
    if (command == "dump-delta") {
      for (const auto& r : sl::delta::read<out_row>(a.at("output"))) std::cout << sl::to_json_string(r) << "\n";
      return 0;
    }
    if (command != "run") return 2;
    const sl::query_options options{.trigger = sl::trigger::available_now(), .checkpoint = a.at("checkpoint")};
    auto stream = pipeline(a.at("bootstrap"), a.at("input"));
    std::int64_t batches = 0;
    auto finish = [&](sl::streaming_query q) {
      q.await_termination();
      batches = static_cast<std::int64_t>(q.recent_progress().size());
    };
    if (a.at("sink") == "kafka")
      finish(sl::start(stream | sl::kafka::sink({.topic = a.at("output"), .guarantee = sl::kafka::delivery::exactly_once,
                                                 .kafka = {{"bootstrap.servers", a.at("bootstrap")}}}),
                       sl::output_mode::append, options));
    else
      finish(sl::start(stream | sl::delta::sink(a.at("output")), sl::output_mode::append, options));
    std::printf("{\"batches\": %lld}\n", static_cast<long long>(batches));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka_crash_worker: %s\n", e.what());
    return 1;
  }
}

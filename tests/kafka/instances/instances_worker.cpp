// The query tests/kafka/instances/instances_test.py runs as several instances (processes) over
// one 6-partition topic, killing one of them again and again:
//
//   kafka::source(input topic, instance {index, count}, max 1000 offsets per batch)
//     | kafka::decode_json<Event> | with_watermark(timestamp, 10s)
//     | group_by(window(timestamp, 10s), key) | aggregate(count() as n, sum(value) as total)
//     | kafka::sink(output topic, exactly once)
//
// append mode, a checkpoint per instance, trigger available-now. Every event of a key is in
// one partition (the key's index % partitions), so keys are partition-local and each instance
// computes its keys' windows alone.
//
// run-group (tests/kafka/instances/group_kill_test.py): the stateless query
//
//   kafka::source(input topic, consumer group --group, max 600 offsets per batch)
//     | kafka::decode_json<Event> | kafka::sink(output topic, exactly once)
//
// every 100 ms, until the file --stop exists (then it stops the query and exits 0); it says on
// stderr when its batches were fenced (numBatchesFenced). Other commands:
//   create-topic --bootstrap B --topic T --partitions N
//   produce --bootstrap B --topic T --partitions N --from I --to J [--round-robin 1]
//        events I..J-1, by key (or event i to partition i % N)
//   seal --bootstrap B --topic T --partitions N --at I   one event per partition far after event
//        I's time, so every instance's watermark closes every window of the events before it
#include <sluice/kafka.hpp>
#include <sluice/sluice.hpp>

#include "../crash/crash_event.hpp"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace {
using kafka_crash::keys;
using kafka_crash::t0;

struct producer {
  rd_kafka_t* rk = nullptr;
  explicit producer(const std::string& bootstrap) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) throw std::runtime_error(err);
  }
  ~producer() { rd_kafka_destroy(rk); }
  void send(const std::string& topic, int partition, const Event& e) {
    const std::string v = sl::to_json_string(e);
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(const_cast<char*>(v.data()), v.size()),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 10);
  }
  bool flush() { return rd_kafka_flush(rk, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR; }
};

int create_topic(const std::string& bootstrap, const std::string& topic, int partitions) {
  producer p(bootstrap);
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");  // 2024 timestamps: no time retention
  rd_kafka_queue_t* q = rd_kafka_queue_new(p.rk);
  rd_kafka_CreateTopics(p.rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  int rc = 1;
  if (ev) {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** rs = res ? rd_kafka_CreateTopics_result_topics(res, &n) : nullptr;
    rc = (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR && n == 1 &&
          rd_kafka_topic_result_error(rs[0]) == RD_KAFKA_RESP_ERR_NO_ERROR) ? 0 : 1;
    if (rc) std::fprintf(stderr, "create-topic %s failed\n", topic.c_str());
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  return rc;
}

auto pipeline(const std::string& bootstrap, const std::string& input, sl::kafka::instance_spec instance) {
  return sl::kafka::source({.subscribe = {input}, .starting_offsets = "earliest", .max_offsets_per_trigger = 1000,
                            .kafka = {{"bootstrap.servers", bootstrap}}, .instance = instance}) |
         sl::kafka::decode_json<Event>() | sl::with_watermark(sl::col<"timestamp">, 10s) |
         sl::group_by(sl::window(sl::col<"timestamp">, 10s), sl::col<"key">) |
         sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"value">).as<"total">());
}
}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  if (argc < 2) return 2;
  const std::string command = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) a[std::string(argv[i]).substr(2)] = argv[i + 1];
  try {
    const std::string bootstrap = a.at("bootstrap");
    if (command == "create-topic") return create_topic(bootstrap, a.at("topic"), std::stoi(a.at("partitions")));
    if (command == "produce" || command == "seal") {
      producer p(bootstrap);
      const int partitions = std::stoi(a.at("partitions"));
      if (command == "seal") {
        const std::int64_t at = std::stoll(a.at("at"));
        for (int part = 0; part < partitions; ++part)
          p.send(a.at("topic"), part, Event{-1, sl::timestamp{t0 + at * 10000 + 3600LL * 1000000}, "seal", 0});
      } else {
        for (std::int64_t i = std::stoll(a.at("from")); i < std::stoll(a.at("to")); ++i)
          p.send(a.at("topic"), a.count("round-robin") ? static_cast<int>(i % partitions) : static_cast<int>(i % 8) % partitions,
                 Event{i, sl::timestamp{t0 + i * 10000}, keys[i % 8], i % 100});
      }
      return p.flush() ? 0 : 1;
    }
    if (command == "run-group") {
      // A short session: a member killed is out of the group, its partitions moved, in seconds.
      const sl::kafka::properties group{{"bootstrap.servers", bootstrap},
                                        {"group.id", a.at("group")},
                                        {"session.timeout.ms", "6000"},
                                        {"heartbeat.interval.ms", "500"}};
      auto q = sl::start(sl::kafka::source({.subscribe = {a.at("input")}, .starting_offsets = "earliest",
                                            .max_offsets_per_trigger = 600, .kafka = group, .consumer_group = true}) |
                             sl::kafka::decode_json<Event>() |
                             sl::kafka::sink({.topic = a.at("output"), .guarantee = sl::kafka::delivery::exactly_once,
                                              .kafka = {{"bootstrap.servers", bootstrap}}}),
                         sl::output_mode::append,
                         {.trigger = sl::trigger::processing_time(100ms), .checkpoint = a.at("checkpoint")});
      const std::string stop = a.at("stop");
      std::string fenced = "0";  // batches refused as fenced and run again (group_fence_test.py)
      while (q.is_active() && !std::filesystem::exists(stop)) {
        if (const auto p = q.last_progress(); p && !p->sources.empty() && p->sources[0].metrics.count("numBatchesFenced"))
          if (p->sources[0].metrics.at("numBatchesFenced") != fenced) {
            fenced = p->sources[0].metrics.at("numBatchesFenced");
            std::fprintf(stderr, "instances_worker: batches fenced: %s\n", fenced.c_str());
          }
        std::this_thread::sleep_for(100ms);
      }
      q.stop();
      if (q.exception()) throw std::runtime_error(q.exception()->what());
      std::printf("{\"batches\": %zu, \"fenced\": %s}\n", q.recent_progress().size(), fenced.c_str());
      return 0;
    }
    if (command != "run") return 2;
    const sl::kafka::instance_spec instance{std::stoi(a.at("index")), std::stoi(a.at("count"))};
    auto q = sl::start(pipeline(bootstrap, a.at("input"), instance) |
                           sl::kafka::sink({.topic = a.at("output"), .guarantee = sl::kafka::delivery::exactly_once,
                                            .kafka = {{"bootstrap.servers", bootstrap}}}),
                       sl::output_mode::append,
                       {.trigger = sl::trigger::available_now(), .checkpoint = a.at("checkpoint")});
    q.await_termination();
    std::printf("{\"batches\": %zu}\n", q.recent_progress().size());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "instances_worker: %s\n", e.what());
    return 1;
  }
}

// Shared by the sluice::kafka tests: the broker started by scripts/kafka.sh (CTest's
// kafka.broker fixture; its directory is SLUICE_KAFKA_DIR), and an independent client made of
// librdkafka calls only (no sluice::kafka code) to create, fill, read and damage topics.
#pragma once
#include <catch2/catch.hpp>

#include <librdkafka/rdkafka.h>

#include <sluice/kafka.hpp>
#include <sluice/sluice.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace kafka_test {

namespace sl = sluice;
namespace fs = std::filesystem;

inline std::string broker_dir() {
  const char* d = std::getenv("SLUICE_KAFKA_DIR");
  if (!d || !*d) FAIL("SLUICE_KAFKA_DIR is not set: run the Kafka tests through ctest (-L kafka), which starts the broker");
  return d;
}

inline std::string read_line(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  if (s.empty()) FAIL("cannot read " + p.string() + ": is the broker running (scripts/kafka.sh start)?");
  return s;
}

inline std::string bootstrap() { return read_line(fs::path(broker_dir()) / "bootstrap"); }

// The broker script, for restart tests: "stop", "start", "kill".
inline void broker(const std::string& command) {
  const std::string cmd = "bash \"" SLUICE_KAFKA_SCRIPT "\" " + command + " --dir \"" + broker_dir() + "\" > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

// A fresh directory under the test binary's tree.
inline fs::path scratch(const std::string& name) {
  const fs::path p = fs::path(SLUICE_KAFKA_TESTS_BINARY_DIR) / "work" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// Unique per call: topics outlive a test (and a Catch2 section's run) in the shared broker.
inline std::string unique(const std::string& name) {
  static const auto run = std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000000);
  static int n = 0;
  return name + "-" + run + "-" + std::to_string(++n);
}

struct handle {
  rd_kafka_t* rk = nullptr;
  ~handle() {
    if (rk) rd_kafka_destroy(rk);
  }
};

inline rd_kafka_t* make(rd_kafka_type_t type, const std::map<std::string, std::string>& extra = {}) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  std::map<std::string, std::string> props{{"bootstrap.servers", bootstrap()}};
  for (const auto& [k, v] : extra) props[k] = v;
  for (const auto& [k, v] : props) REQUIRE(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) FAIL(err);
  return rk;
}

// Admin requests through a producer handle, waiting for the result event.
inline rd_kafka_event_t* admin_wait(rd_kafka_t* rk, rd_kafka_queue_t* q) {
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  REQUIRE(ev != nullptr);
  if (rd_kafka_event_error(ev)) FAIL(rd_kafka_event_error_string(ev));
  (void)rk;
  return ev;
}

inline void create_topic(const std::string& topic, int partitions, const std::map<std::string, std::string>& config = {}) {
  handle h{make(RD_KAFKA_PRODUCER)};
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  for (const auto& [k, v] : config) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(h.rk);
  rd_kafka_CreateTopics(h.rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = admin_wait(h.rk, q);
  std::size_t n = 0;
  const auto* res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
  REQUIRE(n == 1);
  if (rd_kafka_topic_result_error(res[0])) FAIL(rd_kafka_topic_result_error_string(res[0]));
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
}

// Replaces the topic's configuration (AlterConfigs, not incremental: give every key that
// should differ from the broker's default).
inline void set_topic_config(const std::string& topic, const std::map<std::string, std::string>& config) {
  handle h{make(RD_KAFKA_PRODUCER)};
  rd_kafka_ConfigResource_t* res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  for (const auto& [k, v] : config) REQUIRE(rd_kafka_ConfigResource_set_config(res, k.c_str(), v.c_str()) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_queue_t* q = rd_kafka_queue_new(h.rk);
  rd_kafka_AlterConfigs(h.rk, &res, 1, nullptr, q);
  rd_kafka_event_t* ev = admin_wait(h.rk, q);
  std::size_t n = 0;
  const auto* out = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
  REQUIRE(n == 1);
  if (rd_kafka_ConfigResource_error(out[0])) FAIL(rd_kafka_ConfigResource_error_string(out[0]));
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_ConfigResource_destroy(res);
}

inline void delete_topic(const std::string& topic) {
  handle h{make(RD_KAFKA_PRODUCER)};
  rd_kafka_DeleteTopic_t* dt = rd_kafka_DeleteTopic_new(topic.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(h.rk);
  rd_kafka_DeleteTopics(h.rk, &dt, 1, nullptr, q);
  rd_kafka_event_t* ev = admin_wait(h.rk, q);
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_DeleteTopic_destroy(dt);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // metadata catches up
}

inline void add_partitions(const std::string& topic, int total) {
  handle h{make(RD_KAFKA_PRODUCER)};
  char err[512];
  rd_kafka_NewPartitions_t* np = rd_kafka_NewPartitions_new(topic.c_str(), total, err, sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(h.rk);
  rd_kafka_CreatePartitions(h.rk, &np, 1, nullptr, q);
  rd_kafka_event_t* ev = admin_wait(h.rk, q);
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewPartitions_destroy(np);
  std::this_thread::sleep_for(std::chrono::seconds(1));
}

// What retention does: the partition's log now starts at `before`.
inline void delete_records(const std::string& topic, int partition, std::int64_t before) {
  handle h{make(RD_KAFKA_PRODUCER)};
  rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic.c_str(), partition)->offset = before;
  rd_kafka_DeleteRecords_t* dr = rd_kafka_DeleteRecords_new(l);
  rd_kafka_queue_t* q = rd_kafka_queue_new(h.rk);
  rd_kafka_DeleteRecords(h.rk, &dr, 1, nullptr, q);
  rd_kafka_event_t* ev = admin_wait(h.rk, q);
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_DeleteRecords_destroy(dr);
  rd_kafka_topic_partition_list_destroy(l);
}

struct message {
  std::string key, value;
  int partition = -1;  // -1: librdkafka's partitioner
  std::vector<std::pair<std::string, std::string>> headers{};
  std::int64_t timestamp_ms = 0;  // 0: now
};

inline void produce(const std::string& topic, const std::vector<message>& messages) {
  // Idempotent: a retried request (a leader not yet settled on a new topic) must neither
  // duplicate a record nor move it behind later ones, or offsets stop following the order here.
  handle h{make(RD_KAFKA_PRODUCER, {{"enable.idempotence", "true"}})};
  for (const auto& m : messages) {
    rd_kafka_headers_t* hs = rd_kafka_headers_new(m.headers.size() + 1);
    for (const auto& [k, v] : m.headers) rd_kafka_header_add(hs, k.data(), -1, v.data(), static_cast<ssize_t>(v.size()));
    void* value = const_cast<char*>(m.value.data());
    const void* key = m.key.empty() ? nullptr : m.key.data();
    REQUIRE(rd_kafka_producev(h.rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(m.partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(value, m.value.size()),
                              RD_KAFKA_V_KEY(key, m.key.size()), RD_KAFKA_V_HEADERS(hs),
                              RD_KAFKA_V_TIMESTAMP(m.timestamp_ms), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  REQUIRE(rd_kafka_flush(h.rk, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR);
}

inline void produce_values(const std::string& topic, const std::vector<std::string>& values, int partition = 0) {
  std::vector<message> ms;
  for (const auto& v : values) ms.push_back({"", v, partition});
  produce(topic, ms);
}

struct consumed {
  std::string key, value;
  int partition = 0;
  std::int64_t offset = 0;
};

// Every record of the topic now (read_committed or not), partition by partition.
inline std::vector<consumed> consume_all(const std::string& topic, bool read_committed = true) {
  handle h{make(RD_KAFKA_CONSUMER, {{"group.id", "test-reader"},
                                    {"enable.auto.commit", "false"},
                                    {"enable.partition.eof", "true"},
                                    {"isolation.level", read_committed ? "read_committed" : "read_uncommitted"}})};
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* t = rd_kafka_topic_new(h.rk, topic.c_str(), nullptr);
  REQUIRE(rd_kafka_metadata(h.rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  const int partitions = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  std::vector<consumed> out;
  rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(l, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  REQUIRE(rd_kafka_assign(h.rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(l);
  int eofs = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (eofs < partitions && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(h.rk, 200);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) ++eofs;
    else if (!m->err)
      out.push_back({m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : "",
                     std::string(static_cast<const char*>(m->payload), m->len), m->partition, m->offset});
    rd_kafka_message_destroy(m);
  }
  REQUIRE(eofs == partitions);
  rd_kafka_consumer_close(h.rk);
  return out;
}

inline sl::kafka::properties props(std::map<std::string, std::string> extra = {}) {
  extra["bootstrap.servers"] = bootstrap();
  return extra;
}

}  // namespace kafka_test

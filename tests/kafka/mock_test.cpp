// Request-level faults from librdkafka's mock cluster (rdkafka_mock.h), beside the real-broker
// tests (faults_test.cpp), not instead of them: errors and delays injected into single Fetch,
// ListOffsets and transaction requests, a broker refusing connections for a while, and a
// partition's leader moving between brokers. These need no broker: ctest runs them as
// kafka.mock, outside the broker fixture.
#include "kafka_test_support.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <atomic>
#include <set>

namespace {

namespace sl = sluice;

// Kafka protocol request types (ApiKey).
constexpr std::int16_t produce_request = 0, fetch_request = 1, list_offsets_request = 2, end_txn_request = 26,
                       add_partitions_to_txn_request = 24, txn_offset_commit_request = 28;

// A mock cluster of `brokers` brokers on loopback, owned by a handle of its own.
struct mock_cluster {
  rd_kafka_t* owner = nullptr;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstrap;

  explicit mock_cluster(int brokers) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    REQUIRE(rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err) == RD_KAFKA_CONF_OK);
    owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    REQUIRE(owner != nullptr);
    cluster = rd_kafka_mock_cluster_new(owner, brokers);
    REQUIRE(cluster != nullptr);
    bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  }
  ~mock_cluster() {
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(owner);
  }
  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;

  // Client properties for this cluster (quiet: the injected errors would fill the log).
  sl::kafka::properties props(std::map<std::string, std::string> extra = {}) const {
    extra["bootstrap.servers"] = bootstrap;
    extra.try_emplace("log_level", "0");
    return extra;
  }

  void create_topic(const std::string& topic, int partitions, int replication = 1) const {
    REQUIRE(rd_kafka_mock_topic_create(cluster, topic.c_str(), partitions, replication) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  // The next `count` requests of this type fail with `err` (RD_KAFKA_RESP_ERR__TRANSPORT: the
  // broker drops the connection).
  void fail_requests(std::int16_t api, std::size_t count, rd_kafka_resp_err_t err) const {
    std::vector<rd_kafka_resp_err_t> errors(count, err);
    rd_kafka_mock_push_request_errors_array(cluster, api, errors.size(), errors.data());
  }

  void produce(const std::string& topic, int from, int to, int partition = 0) const {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (const auto& [k, v] : props()) REQUIRE(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK);
    kafka_test::handle h{rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err)};
    REQUIRE(h.rk != nullptr);
    for (int i = from; i < to; ++i) {
      const std::string v = std::to_string(i);
      REQUIRE(rd_kafka_producev(h.rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_VALUE(const_cast<char*>(v.data()), v.size()),
                                RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    REQUIRE(rd_kafka_flush(h.rk, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
};

std::vector<int> range_of(int from, int to) {
  std::vector<int> v;
  for (int i = from; i < to; ++i) v.push_back(i);
  return v;
}

// The values read, in the order read (every record once: no sort, no dedup).
std::vector<int> values_of(const std::vector<sl::kafka::record>& rows) {
  std::vector<int> out;
  for (const auto& r : rows) out.push_back(std::stoi(*r.value));
  return out;
}

std::filesystem::path scratch_dir(const std::string& name) { return kafka_test::scratch("mock-" + name); }

}  // namespace

TEST_CASE("kafka mock: failed and dropped fetches are retried and every record is read once", "[mock]") {
  mock_cluster mock(1);
  const std::string topic = "fetch-errors";
  mock.create_topic(topic, 1);
  mock.produce(topic, 0, 2000);
  // Errors librdkafka retries (a leader moving, a busy broker) and connections dropped mid-fetch.
  mock.fail_requests(fetch_request, 3, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  mock.fail_requests(fetch_request, 3, RD_KAFKA_RESP_ERR__TRANSPORT);
  mock.fail_requests(fetch_request, 3, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  auto mem = sl::memory_sink<sl::kafka::record>();
  sl::kafka::source src(
      {.subscribe = {topic}, .starting_offsets = "earliest", .max_offsets_per_trigger = 500, .kafka = mock.props()});
  auto q = sl::start(src | mem, sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(), .checkpoint = scratch_dir("fetch").string()});
  q.await_termination(std::chrono::seconds(120));
  CHECK(values_of(mem.rows()) == range_of(0, 2000));
  CHECK(src.metrics().offsets_lost == 0);
}

TEST_CASE("kafka mock: a fetch answered 'unknown topic' while the topic exists is not data loss", "[mock]") {
  // A broker that lost the partition's leadership for a moment answers UNKNOWN_TOPIC_OR_PART;
  // only a partition that is really gone (faults_test.cpp deletes a topic) is lost.
  mock_cluster mock(1);
  const std::string topic = "unknown-for-a-moment";
  mock.create_topic(topic, 1);
  mock.produce(topic, 0, 300);
  mock.fail_requests(fetch_request, 3, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  auto mem = sl::memory_sink<sl::kafka::record>();
  sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = mock.props()});
  auto q = sl::start(src | mem, sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(), .checkpoint = scratch_dir("unknown").string()});
  q.await_termination(std::chrono::seconds(120));
  CHECK(values_of(mem.rows()) == range_of(0, 300));
  CHECK(src.metrics().data_loss_events == 0);
}

TEST_CASE("kafka mock: offset look-ups that fail for a while are retried", "[mock]") {
  mock_cluster mock(1);
  const std::string topic = "list-offsets-errors";
  mock.create_topic(topic, 1);
  mock.produce(topic, 0, 100);
  mock.fail_requests(list_offsets_request, 2, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  mock.fail_requests(list_offsets_request, 2, RD_KAFKA_RESP_ERR__TRANSPORT);
  auto mem = sl::memory_sink<sl::kafka::record>();
  sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = mock.props()});
  auto q = sl::start(src | mem, sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(), .checkpoint = scratch_dir("list").string()});
  q.await_termination(std::chrono::seconds(120));
  CHECK(values_of(mem.rows()) == range_of(0, 100));
}

TEST_CASE("kafka mock: brokers refusing connections for a few seconds, and a leader moving, mid-stream", "[mock]") {
  mock_cluster mock(3);
  const std::string topic = "bounce";
  mock.create_topic(topic, 2, 3);
  REQUIRE(rd_kafka_mock_partition_set_leader(mock.cluster, topic.c_str(), 0, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(rd_kafka_mock_partition_set_leader(mock.cluster, topic.c_str(), 1, 2) == RD_KAFKA_RESP_ERR_NO_ERROR);
  mock.produce(topic, 0, 100, 0);
  auto mem = sl::memory_sink<sl::kafka::record>();
  sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = mock.props()});
  auto q = sl::start(src | mem, sl::output_mode::append, {.checkpoint = scratch_dir("bounce").string()});
  q.process_all_available();
  REQUIRE(mem.rows().size() == 100);

  SECTION("every broker down, then up") {
    REQUIRE(rd_kafka_mock_broker_set_down(mock.cluster, -1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    std::this_thread::sleep_for(std::chrono::seconds(3));
    REQUIRE(rd_kafka_mock_broker_set_up(mock.cluster, -1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  SECTION("the leader of partition 0 down; the leadership moves to broker 3") {
    REQUIRE(rd_kafka_mock_broker_set_down(mock.cluster, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    REQUIRE(rd_kafka_mock_partition_set_leader(mock.cluster, topic.c_str(), 0, 3) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  mock.produce(topic, 100, 200, 0);
  mock.produce(topic, 200, 300, 1);
  for (int i = 0; i < 600 && mem.rows().size() < 300; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(q.is_active());
  q.stop();
  auto got = values_of(mem.rows());
  std::sort(got.begin(), got.end());
  CHECK(got == range_of(0, 300));
}

TEST_CASE("kafka mock: fetches that keep failing end the query naming the topic, partition and offsets", "[mock]") {
  mock_cluster mock(1);
  const std::string topic = "never-fetched";
  mock.create_topic(topic, 1);
  mock.produce(topic, 0, 50);
  // Every fetch dropped from now on: the planned range can never be read.
  mock.fail_requests(fetch_request, 100000, RD_KAFKA_RESP_ERR__TRANSPORT);
  auto mem = sl::memory_sink<sl::kafka::record>();
  sl::kafka::source src({.subscribe = {topic},
                         .starting_offsets = "earliest",
                         .poll_timeout = std::chrono::seconds(3),
                         .kafka = mock.props()});
  auto q = sl::start(src | mem, sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(), .checkpoint = scratch_dir("never").string()});
  CHECK_THROWS_WITH(q.await_termination(std::chrono::seconds(60)),
                    Catch::Contains("timed out reading " + topic + "-0 offsets [0, 50)") &&
                        Catch::Contains("pollTimeoutMs 3000"));
  CHECK(mem.rows().empty());
  rd_kafka_mock_clear_request_errors(mock.cluster, fetch_request);
}

TEST_CASE("kafka mock: the exactly-once sink retries transaction requests that fail for a while", "[mock]") {
  mock_cluster mock(3);
  const std::string in = "txn-in", out = "txn-out";
  mock.create_topic(in, 1);
  mock.create_topic(out, 1);  // the mock has no CreateTopics: the sink must find the topic there
  mock.produce(in, 0, 300);
  // Transient errors of the transaction's requests, and of the produce requests inside it.
  mock.fail_requests(add_partitions_to_txn_request, 2, RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS);
  mock.fail_requests(produce_request, 2, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  mock.fail_requests(txn_offset_commit_request, 2, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
  mock.fail_requests(end_txn_request, 2, RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
  const auto ck = scratch_dir("txn").string();
  auto rows = sl::kafka::source({.subscribe = {in}, .starting_offsets = "earliest", .max_offsets_per_trigger = 100,
                                 .kafka = mock.props()});  // records as they are: Spark's Kafka rows into the sink
  auto q0 = sl::start(rows | sl::kafka::sink({.topic = out, .guarantee = sl::kafka::delivery::exactly_once,
                                              .kafka = mock.props()}),
                      sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = ck});
  q0.await_termination(std::chrono::seconds(180));
  CHECK(std::filesystem::exists(std::filesystem::path(ck) / "commits" / "2"));
  // A batch replayed after a crash between the Kafka commit and commits/N is the real broker's
  // part (sink_test.cpp, the crash test): the mock's TxnOffsetCommit does not keep the offsets
  // the sink's batch marker is made of, and its EndTxn writes no commit markers.
  auto reader = sl::kafka::source({.subscribe = {out}, .starting_offsets = "earliest",
                                   .kafka = mock.props({{"isolation.level", "read_committed"}})});
  auto mem = sl::memory_sink<sl::kafka::record>();
  auto q = sl::start(reader | mem, sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  q.await_termination(std::chrono::seconds(60));
  CHECK(values_of(mem.rows()) == range_of(0, 300));  // once each: no transaction aborted and written again
}

TEST_CASE("kafka mock: a fenced transaction fails the batch with the sink's error", "[mock]") {
  mock_cluster mock(1);
  const std::string in = "fenced-in", out = "fenced-out";
  mock.create_topic(in, 1);
  mock.create_topic(out, 1);
  mock.produce(in, 0, 10);
  auto rows = sl::kafka::source({.subscribe = {in}, .starting_offsets = "earliest", .kafka = mock.props()});
  mock.fail_requests(end_txn_request, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
  auto q = sl::start(rows | sl::kafka::sink({.topic = out, .guarantee = sl::kafka::delivery::exactly_once,
                                             .flush_timeout = std::chrono::seconds(20), .kafka = mock.props()}),
                     sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = scratch_dir("fenced").string()});
  CHECK_THROWS_WITH(q.await_termination(std::chrono::seconds(60)),
                    Catch::Contains("KafkaSink[topic=" + out) && Catch::Contains("commit_transaction of batch 0"));
  // What a read_committed reader sees of the failed transaction is the real broker's part
  // (sink_test.cpp, the crash test): the mock keeps no transaction state in its logs.
}

// sl::kafka::source and decode_json against the real broker: Spark's row schema and options,
// the offset log's JSON, restarts, and the bad-record policies.
#include "kafka_test_support.hpp"

#include <algorithm>
#include <set>

using namespace kafka_test;

namespace {
struct Event {
  std::int64_t id = 0;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Event, (), (id, name))

std::vector<std::string> events(int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i < to; ++i) v.push_back("{\"id\":" + std::to_string(i) + ",\"name\":\"e" + std::to_string(i) + "\"}");
  return v;
}

std::vector<std::int64_t> ids(const std::vector<Event>& rows) {
  std::vector<std::int64_t> out;
  for (const auto& r : rows) out.push_back(r.id);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::int64_t> range(int from, int to) {
  std::vector<std::int64_t> v;
  for (int i = from; i < to; ++i) v.push_back(i);
  return v;
}

// Runs the source with trigger available-now to its end; returns the decoded rows.
std::vector<Event> run_available_now(sl::kafka::source src, const std::string& checkpoint) {
  auto mem = sl::memory_sink<Event>();
  auto q = sl::start(src | sl::kafka::decode_json<Event>() | mem, sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(), .checkpoint = checkpoint});
  q.await_termination();
  return mem.rows();
}
}  // namespace

TEST_CASE("kafka source: Spark's row schema, headers and keys", "[source]") {
  const auto topic = unique("schema");
  create_topic(topic, 1, {{"retention.ms", "-1"}});  // old timestamps: no retention (see below)
  produce(topic, {{"k1", "v1", 0, {{"h", "x"}}, 1700000000123}, {"", "v2", 0, {}, 1700000001000}});
  auto mem = sl::memory_sink<sl::kafka::record>();
  auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .include_headers = true,
                                        .kafka = props()}) |
                         mem,
                     sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  q.await_termination();
  const auto rows = mem.rows();
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].key == std::optional<std::string>("k1"));
  CHECK(rows[0].value == std::optional<std::string>("v1"));
  CHECK(rows[0].topic == topic);
  CHECK(rows[0].partition == 0);
  CHECK(rows[0].offset == 0);
  CHECK(rows[0].timestamp.micros == 1700000000123000);
  CHECK(rows[0].timestamp_type == 0);
  REQUIRE(rows[0].headers.has_value());
  CHECK(*rows[0].headers == std::vector<sl::kafka::header>{{"h", std::string("x")}});
  CHECK_FALSE(rows[1].key.has_value());
  CHECK(rows[1].offset == 1);
  // The row type is Spark's Kafka schema.
  const auto schema = boost::json::serialize(sl::spark_struct_type<sl::kafka::record>());
  CHECK(schema.find("\"name\":\"value\"") != std::string::npos);
}

TEST_CASE("kafka source: the offset log holds Spark's JSON and a restart resumes after it", "[source]") {
  const auto topic = unique("restart");
  create_topic(topic, 2);
  produce_values(topic, events(0, 10), 0);
  produce_values(topic, events(10, 15), 1);
  const auto ck = scratch("restart").string();
  sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = props()});
  CHECK(ids(run_available_now(src, ck)) == range(0, 15));
  CHECK(sl::read_whole_file(fs::path(ck) / "sources/0/initial") == "v1\n{\"" + topic + "\":{\"0\":0,\"1\":0}}");
  const auto log = sl::read_whole_file(fs::path(ck) / "offsets/0");
  CHECK(log.find("{\"" + topic + "\":{\"0\":10,\"1\":5}}") != std::string::npos);
  produce_values(topic, events(15, 20), 1);
  CHECK(ids(run_available_now(src, ck)) == range(15, 20));  // only the new records
  CHECK(ids(run_available_now(src, ck)).empty());
}

TEST_CASE("kafka source: starting offsets latest, JSON with -2/-1, by timestamp; ending offsets", "[source]") {
  const auto topic = unique("starting");
  // The records carry fixed timestamps, long past: without retention.ms = -1 the broker's
  // retention (7 days by default, checked every second) deletes them under the test.
  create_topic(topic, 2, {{"retention.ms", "-1"}});
  std::vector<message> ms;
  for (int i = 0; i < 10; ++i) ms.push_back({"", events(i, i + 1)[0], i % 2, {}, 1700000000000 + i * 1000});
  produce(topic, ms);  // partition 0: ids 0,2,4,6,8; partition 1: 1,3,5,7,9
  SECTION("latest: only what arrives after the query starts") {
    auto mem = sl::memory_sink<Event>();
    auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .kafka = props()}) | sl::kafka::decode_json<Event>() | mem,
                       sl::output_mode::append, {.checkpoint = scratch("latest").string()});
    q.process_all_available();
    CHECK(mem.rows().empty());
    produce_values(topic, events(100, 103), 0);
    q.process_all_available();
    q.stop();
    CHECK(ids(mem.rows()) == std::vector<std::int64_t>{100, 101, 102});
  }
  SECTION("JSON: a specific offset, earliest (-2) and latest (-1)") {
    const auto rows = run_available_now(
        sl::kafka::source({.subscribe = {topic}, .starting_offsets = "{\"" + topic + "\":{\"0\":3,\"1\":-1}}", .kafka = props()}),
        scratch("json").string());
    CHECK(ids(rows) == std::vector<std::int64_t>{6, 8});
    const auto rows2 = run_available_now(
        sl::kafka::source({.subscribe = {topic}, .starting_offsets = "{\"" + topic + "\":{\"0\":-1,\"1\":-2}}", .kafka = props()}),
        scratch("json2").string());
    CHECK(ids(rows2) == std::vector<std::int64_t>{1, 3, 5, 7, 9});
  }
  SECTION("JSON must name every partition, as in Spark") {
    sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "{\"" + topic + "\":{\"0\":3}}", .kafka = props()});
    auto q = sl::start(src | sl::memory_sink<sl::kafka::record>(), sl::output_mode::append,
                       {.trigger = sl::trigger::available_now()});
    CHECK_THROWS_WITH(q.await_termination(), Catch::Contains(topic + "-1") && Catch::Contains("name every partition"));
  }
  SECTION("starting_timestamp and starting_offsets_by_timestamp") {
    CHECK(ids(run_available_now(sl::kafka::source({.subscribe = {topic}, .starting_timestamp = 1700000006000, .kafka = props()}),
                                scratch("ts").string())) == std::vector<std::int64_t>{6, 7, 8, 9});
    const auto by = "{\"" + topic + "\":{\"0\":1700000000000,\"1\":1700000008500}}";
    CHECK(ids(run_available_now(sl::kafka::source({.subscribe = {topic}, .starting_offsets_by_timestamp = by, .kafka = props()}),
                                scratch("ts2").string())) == std::vector<std::int64_t>{0, 2, 4, 6, 8, 9});
    sl::kafka::source late({.subscribe = {topic}, .starting_timestamp = 1800000000000, .kafka = props()});
    auto q = sl::start(late | sl::memory_sink<sl::kafka::record>(), sl::output_mode::append,
                       {.trigger = sl::trigger::available_now()});
    CHECK_THROWS_WITH(q.await_termination(), Catch::Contains("has a timestamp at or after"));
    CHECK(ids(run_available_now(sl::kafka::source({.subscribe = {topic}, .starting_timestamp = 1800000000000,
                                                   .starting_offsets_by_timestamp_strategy = "latest", .kafka = props()}),
                                scratch("ts3").string()))
              .empty());
  }
  SECTION("ending_offsets bounds the stream") {
    CHECK(ids(run_available_now(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest",
                                                   .ending_offsets = "{\"" + topic + "\":{\"0\":2,\"1\":-1}}", .kafka = props()}),
                                scratch("ending").string())) == std::vector<std::int64_t>{0, 1, 2, 3, 5, 7, 9});
  }
}

TEST_CASE("kafka source: assign, subscribe_pattern, max/min offsets per trigger, min_partitions", "[source]") {
  const auto topic = unique("limits");
  create_topic(topic, 3);
  produce_values(topic, events(0, 60), 0);
  produce_values(topic, events(60, 90), 1);
  produce_values(topic, events(90, 100), 2);
  SECTION("assign reads only the named partitions") {
    CHECK(ids(run_available_now(sl::kafka::source({.assign = {{topic, {1, 2}}}, .starting_offsets = "earliest", .kafka = props()}),
                                scratch("assign").string())) == range(60, 100));
  }
  SECTION("subscribe_pattern") {
    CHECK(ids(run_available_now(sl::kafka::source({.subscribe_pattern = "limits-.*", .starting_offsets = "earliest", .kafka = props()}),
                                scratch("pattern").string()))
              .size() >= 100);
  }
  SECTION("max_offsets_per_trigger shares the limit in proportion (Spark's rateLimit)") {
    auto mem = sl::memory_sink<Event>();
    auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .max_offsets_per_trigger = 20,
                                          .kafka = props()}) |
                           sl::kafka::decode_json<Event>() | mem,
                       sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = scratch("max").string()});
    q.await_termination();
    CHECK(ids(mem.rows()) == range(0, 100));
    const auto batches = mem.batches();
    REQUIRE(batches.size() >= 5);
    // First batch: 60/100, 30/100, 10/100 of 20.
    std::map<std::int64_t, int> first;
    for (const auto& e : batches[0].rows) ++first[e.id < 60 ? 0 : e.id < 90 ? 1 : 2];
    CHECK(first == std::map<std::int64_t, int>{{0, 12}, {1, 6}, {2, 2}});
    for (const auto& b : batches) CHECK(b.rows.size() <= 20);
    // Spark's metrics of the source in progress: the first batch ends 48, 24 and 8 offsets
    // behind the latest ones; the last one at them.
    const auto progress = q.recent_progress();
    const auto first_progress = std::find_if(progress.begin(), progress.end(), [](const auto& p) { return p.batch_id == 0; });
    REQUIRE(first_progress != progress.end());
    const auto& m = first_progress->sources.at(0).metrics;
    CHECK(m.at("minOffsetsBehindLatest") == "8");
    CHECK(m.at("maxOffsetsBehindLatest") == "48");
    CHECK(m.at("avgOffsetsBehindLatest") == "26.666666666666668");
    CHECK(m.at("numOffsetsLost") == "0");
    const auto& last = progress.back().sources.at(0).metrics;
    CHECK(last.at("maxOffsetsBehindLatest") == "0");
    CHECK(last.at("avgOffsetsBehindLatest") == "0.0");
  }
  SECTION("min_offsets_per_trigger waits for enough data, or max_trigger_delay") {
    const auto t2 = unique("minoff");
    create_topic(t2, 1);
    auto mem = sl::memory_sink<Event>();
    auto q = sl::start(sl::kafka::source({.subscribe = {t2}, .starting_offsets = "earliest", .min_offsets_per_trigger = 5,
                                          .max_trigger_delay = std::chrono::seconds(3), .kafka = props()}) |
                           sl::kafka::decode_json<Event>() | mem,
                       sl::output_mode::append, {.trigger = sl::trigger::processing_time(std::chrono::milliseconds(100))});
    produce_values(t2, events(0, 3));
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    CHECK(mem.rows().empty());  // 3 < 5 and the delay has not passed
    produce_values(t2, events(3, 6));
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    CHECK(ids(mem.rows()) == range(0, 6));
    produce_values(t2, events(6, 7));
    std::this_thread::sleep_for(std::chrono::milliseconds(4500));  // max_trigger_delay passes
    q.stop();
    CHECK(ids(mem.rows()) == range(0, 7));
  }
  SECTION("min_partitions splits the ranges") {
    sl::kafka::source src({.subscribe = {topic}, .min_partitions = 10, .kafka = props()});
    sl::kafka::offsets start, end;
    start.topics[topic] = {{0, 0}, {1, 0}, {2, 0}};
    end.topics[topic] = {{0, 60}, {1, 30}, {2, 10}};
    const auto parts = src.partitions(start, end);
    CHECK(parts.size() == 10);  // 6 + 3 + 1
    std::int64_t covered = 0;
    for (const auto& p : parts) covered += p.until - p.from;
    CHECK(covered == 100);
  }
}

TEST_CASE("kafka source: plans the offsets of a batch as its rows, capped", "[source]") {
  // The engine reserves its batch buffer from this (graph/source.hpp, planned_rows).
  sl::kafka::source src({.subscribe = {"t"}, .kafka = {{"bootstrap.servers", "127.0.0.1:1"}}});
  sl::kafka::offsets start, end;
  start.set({"t", 0}, 100);
  start.set({"t", 1}, 50);
  end.set({"t", 0}, 400);
  end.set({"t", 1}, 50);  // nothing new
  end.set({"t", 2}, 25);  // a new partition: read from its beginning
  CHECK(src.planned_rows(start, end) == std::size_t{325});
  CHECK(src.planned_rows(start, start) == std::size_t{0});
  end.set({"t", 0}, std::int64_t{1} << 40);  // a huge range does not reserve gigabytes
  CHECK(src.planned_rows(start, end) == sl::kafka::source::max_planned_rows);
}

TEST_CASE("kafka source: options by Spark's names, and their errors", "[source]") {
  const auto o = sl::kafka::source_options_from_json(boost::json::parse(R"({
      "subscribe": "a,b", "startingOffsets": "earliest", "maxOffsetsPerTrigger": 100,
      "minOffsetsPerTrigger": "10", "maxTriggerDelay": "30s", "failOnDataLoss": "false",
      "includeHeaders": true, "kafka.bootstrap.servers": "127.0.0.1:1", "kafka.group.id": "g"})").as_object());
  CHECK(o.subscribe == std::vector<std::string>{"a", "b"});
  CHECK(o.max_offsets_per_trigger == 100);
  CHECK(o.min_offsets_per_trigger == 10);
  CHECK(o.max_trigger_delay == std::chrono::seconds(30));
  CHECK_FALSE(o.fail_on_data_loss);
  CHECK(o.include_headers);
  CHECK(o.kafka.at("group.id") == "g");
  CHECK_THROWS_WITH(sl::kafka::source_options_from_json(boost::json::parse(R"({"subscrib": "a"})").as_object()),
                    Catch::Contains("unknown source option 'subscrib'"));
  CHECK_THROWS_WITH(sl::kafka::source({.subscribe = {"a"}, .assign = {{"a", {0}}}, .kafka = props()}),
                    Catch::Contains("exactly one of subscribe"));
  CHECK_THROWS_WITH(sl::kafka::source({.subscribe = {"a"}, .kafka = {{"bootstrap.servers", "x"}, {"auto.offset.reset", "earliest"}}}),
                    Catch::Contains("kafka.auto.offset.reset is not supported"));
  CHECK_THROWS_WITH(sl::kafka::source({.subscribe = {"a"}, .starting_offsets = "{\"a\":{\"x\":1}}", .kafka = props()}),
                    Catch::Contains("partition 'x'"));
}

TEST_CASE("kafka decode_json: fail names topic, partition and offset; skip counts; dead letters go to a topic", "[source]") {
  const auto topic = unique("bad");
  create_topic(topic, 1);
  produce_values(topic, {events(0, 1)[0], "{\"id\":\"x\",\"name\":\"n\"}", "not json", events(3, 4)[0]});
  SECTION("fail") {
    auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = props()}) |
                           sl::kafka::decode_json<Event>() | sl::memory_sink<Event>(),
                       sl::output_mode::append, {.trigger = sl::trigger::available_now()});
    CHECK_THROWS_WITH(q.await_termination(), Catch::Contains(topic + "-0@1: field 'id': expected an integer"));
  }
  SECTION("skip") {
    auto decode = sl::kafka::decode_json<Event>({.on_bad_record = sl::kafka::bad_record::skip});
    auto mem = sl::memory_sink<Event>();
    auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = props()}) | decode | mem,
                       sl::output_mode::append, {.trigger = sl::trigger::available_now()});
    q.await_termination();
    CHECK(ids(mem.rows()) == std::vector<std::int64_t>{0, 3});
    CHECK(decode.metrics().bad_records_skipped == 2);
  }
  SECTION("dead letter") {
    const auto dlq = unique("bad-dlq");
    auto decode = sl::kafka::decode_json<Event>({.on_bad_record = sl::kafka::dead_letter(dlq), .kafka = props()});
    auto mem = sl::memory_sink<Event>();
    auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = props()}) | decode | mem,
                       sl::output_mode::append, {.trigger = sl::trigger::available_now()});
    q.await_termination();
    CHECK(ids(mem.rows()) == std::vector<std::int64_t>{0, 3});
    CHECK(decode.metrics().bad_records_dead_lettered == 2);
    const auto letters = consume_all(dlq);
    REQUIRE(letters.size() == 2);
    CHECK(letters[0].value == "{\"id\":\"x\",\"name\":\"n\"}");
    CHECK(letters[1].value == "not json");
  }
}

TEST_CASE("kafka source: processed offsets are committed to the consumer group", "[source]") {
  const auto topic = unique("group");
  const auto group = unique("group-g");
  create_topic(topic, 1);
  produce_values(topic, events(0, 7));
  run_available_now(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest",
                                       .kafka = props({{"group.id", group}})}),
                    scratch("group").string());
  handle h{make(RD_KAFKA_CONSUMER, {{"group.id", group}})};
  rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic.c_str(), 0);
  std::int64_t committed = -1;
  for (int i = 0; i < 50 && committed != 7; ++i) {  // the commit is asynchronous
    REQUIRE(rd_kafka_committed(h.rk, l, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    committed = l->elems[0].offset;
    if (committed != 7) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rd_kafka_topic_partition_list_destroy(l);
  CHECK(committed == 7);
}

TEST_CASE("kafka source: every Spark option name from JSON", "[config]") {
  const auto o = sl::kafka::source_options_from_json(boost::json::parse(R"({
      "assign": "{\"t\":[0,2]}", "startingOffsets": "{\"t\":{\"0\":-2,\"2\":5}}",
      "startingOffsetsByTimestamp": "{\"t\":{\"0\":1700000000000}}", "startingTimestamp": "1700000000001",
      "startingOffsetsByTimestampStrategy": "latest", "endingOffsets": "{\"t\":{\"0\":50,\"2\":-1}}",
      "minPartitions": "4", "kafkaConsumer.pollTimeoutMs": "5000", "kafka.bootstrap.servers": "127.0.0.1:1",
      "kafka.fetch.wait.max.ms": "20"})").as_object());
  CHECK(o.assign == std::map<std::string, std::vector<std::int32_t>>{{"t", {0, 2}}});
  CHECK(o.starting_offsets == R"({"t":{"0":-2,"2":5}})");
  CHECK(o.starting_offsets_by_timestamp == R"({"t":{"0":1700000000000}})");
  CHECK(o.starting_timestamp == 1700000000001);
  CHECK(o.starting_offsets_by_timestamp_strategy == "latest");
  CHECK(o.ending_offsets == R"({"t":{"0":50,"2":-1}})");
  CHECK(o.min_partitions == 4);
  CHECK(o.poll_timeout == std::chrono::milliseconds(5000));
  CHECK(o.kafka.at("fetch.wait.max.ms") == "20");  // kafka.* passed as is
  const auto p = sl::kafka::source_options_from_json(
      boost::json::parse(R"({"subscribePattern": "ev.*", "kafka.bootstrap.servers": "x"})").as_object());
  CHECK(p.subscribe_pattern == "ev.*");
  CHECK_THROWS_WITH(sl::kafka::source_options_from_json(boost::json::parse(R"({"minPartitions": "many"})").as_object()),
                    Catch::Contains("minPartitions"));
}

// Faults against the real broker: offsets deleted before they were read (what retention
// does), a topic deleted, partitions added, and the broker restarted in the middle of a stream.
#include "kafka_test_support.hpp"

#include <algorithm>

using namespace kafka_test;

namespace {
std::vector<std::string> values(int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i < to; ++i) v.push_back(std::to_string(i));
  return v;
}
std::vector<std::string> sorted_values(const std::vector<sl::kafka::record>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(*r.value);
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return std::stoi(a) < std::stoi(b); });
  return out;
}
}  // namespace

TEST_CASE("kafka faults: offsets deleted before they were read (retention)", "[faults]") {
  const auto topic = unique("retention");
  create_topic(topic, 1);
  produce_values(topic, values(0, 10));
  const auto ck = scratch("retention-" + std::to_string(std::rand())).string();
  auto mem = sl::memory_sink<sl::kafka::record>();
  SECTION("fail_on_data_loss = true names the topic, partition and the offsets lost") {
    sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = props()});
    {
      auto q = sl::start(src | mem, sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = ck});
      q.await_termination();
    }
    produce_values(topic, values(10, 20));
    delete_records(topic, 0, 15);  // 10..14 were never read
    auto q = sl::start(src | mem, sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = ck});
    CHECK_THROWS_WITH(q.await_termination(), Catch::Contains(topic + "-0 (topic " + topic + ", partition 0): offsets 10 to 14") &&
                                                 Catch::Contains("failOnDataLoss"));
    CHECK(mem.rows().size() == 10);
  }
  SECTION("fail_on_data_loss = false goes on and counts them") {
    sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "earliest", .fail_on_data_loss = false, .kafka = props()});
    {
      auto q = sl::start(src | mem, sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = ck});
      q.await_termination();
    }
    produce_values(topic, values(10, 20));
    delete_records(topic, 0, 15);
    auto q = sl::start(src | mem, sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = ck});
    q.await_termination();
    auto expected = values(0, 10);
    for (const auto& v : values(15, 20)) expected.push_back(v);
    CHECK(sorted_values(mem.rows()) == expected);
    CHECK(src.metrics().offsets_lost == 5);
    // ...and so does the query's progress (the source's `metrics`).
    const auto progress = q.last_progress();
    REQUIRE(progress);
    CHECK(progress->sources.at(0).metrics.at("numOffsetsLost") == "5");
    CHECK_THAT(progress->json(), Catch::Contains("\"numOffsetsLost\":\"5\""));
  }
}

TEST_CASE("kafka faults: the broker's own retention deletes offsets before they were read", "[faults]") {
  // Small segments and records two days old under an hour's retention: the broker (which looks
  // every second) deletes every segment whose records all expired (the active one included), up
  // to the one holding the newest records (timestamped now). Retention is set to an hour only
  // once the first records were read: with it from the start, the broker could delete them
  // before the first query read them.
  const auto topic = unique("real-retention");
  create_topic(topic, 1, {{"segment.bytes", "1024"}, {"retention.ms", "-1"}});
  const std::int64_t old_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count() -
      2 * 24 * 3600 * 1000LL;
  const std::string pad(200, '.');
  auto produce_one = [&](int i, std::int64_t ts) { produce(topic, {{"", std::to_string(i) + pad, 0, {}, ts}}); };
  for (int i = 0; i < 3; ++i) produce_one(i, old_ms);  // one segment, still the active one
  const auto ck = scratch("real-retention-" + std::to_string(std::rand())).string();
  auto mem = sl::memory_sink<sl::kafka::record>();
  const bool fail = GENERATE(true, false);
  sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "earliest", .fail_on_data_loss = fail, .kafka = props()});
  {
    auto q = sl::start(src | mem, sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = ck});
    q.await_termination();
  }
  REQUIRE(mem.rows().size() == 3);
  for (int i = 3; i < 20; ++i) produce_one(i, old_ms);  // unread, in segments retention deletes
  for (int i = 20; i < 25; ++i) produce_one(i, 0);      // now: kept
  set_topic_config(topic, {{"segment.bytes", "1024"}, {"retention.ms", "3600000"}});
  handle h{make(RD_KAFKA_CONSUMER, {{"group.id", "retention-watch"}})};
  std::int64_t low = 0, high = 0;
  for (int i = 0; i < 300 && low <= 3; ++i) {
    REQUIRE(rd_kafka_query_watermark_offsets(h.rk, topic.c_str(), 0, &low, &high, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    if (low <= 3) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(low > 3);
  REQUIRE(low <= 20);
  auto q = sl::start(src | mem, sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = ck});
  // Retention may delete more segments meanwhile: the loss starts at 3 and ends at or after low - 1.
  if (fail) {
    CHECK_THROWS_WITH(q.await_termination(),
                      Catch::Contains(topic + "-0 (topic " + topic + ", partition 0): offsets 3 to ") &&
                          Catch::Contains("were deleted (retention or deleted records) before they were read") &&
                          Catch::Contains("failOnDataLoss"));
    CHECK(mem.rows().size() == 3);
  } else {
    q.await_termination();
    const std::int64_t lost = src.metrics().offsets_lost;
    CHECK(lost >= low - 3);
    REQUIRE(mem.rows().size() == static_cast<std::size_t>(25 - lost));
    for (std::size_t i = 3; i < mem.rows().size(); ++i)
      CHECK(mem.rows()[i].offset == 3 + lost + static_cast<std::int64_t>(i) - 3);  // the rest, each once
    CHECK(mem.rows().back().offset == 24);
  }
}

TEST_CASE("kafka faults: a topic deleted while the query reads it", "[faults]") {
  const auto gone = unique("deleted");
  const auto kept = unique("kept");
  create_topic(gone, 1);
  create_topic(kept, 1);
  produce_values(gone, values(0, 5));
  produce_values(kept, values(100, 105));
  auto mem = sl::memory_sink<sl::kafka::record>();
  SECTION("fail_on_data_loss = true stops the query naming the topic") {
    sl::kafka::source src({.subscribe = {gone, kept}, .starting_offsets = "earliest", .kafka = props()});
    auto q = sl::start(src | mem, sl::output_mode::append, {.checkpoint = scratch("deleted-fail").string()});
    q.process_all_available();
    delete_topic(gone);
    produce_values(kept, values(105, 106));
    CHECK_THROWS_WITH(q.await_termination(std::chrono::seconds(30)),
                      Catch::Contains(gone + "-0 (topic " + gone + ", partition 0): offsets from 5 on are gone"));
  }
  SECTION("fail_on_data_loss = false reads on from the other topic") {
    sl::kafka::source src({.subscribe = {gone, kept}, .starting_offsets = "earliest", .fail_on_data_loss = false, .kafka = props()});
    auto q = sl::start(src | mem, sl::output_mode::append, {.checkpoint = scratch("deleted-go").string()});
    q.process_all_available();
    delete_topic(gone);
    produce_values(kept, values(105, 108));
    for (int i = 0; i < 100 && mem.rows().size() < 13; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(q.is_active());
    q.stop();
    CHECK(mem.rows().size() == 13);
    CHECK(src.metrics().data_loss_events >= 1);
  }
}

TEST_CASE("kafka faults: partitions added while running are read from the beginning", "[faults]") {
  const auto topic = unique("grow");
  create_topic(topic, 1);
  produce_values(topic, values(0, 5), 0);
  auto mem = sl::memory_sink<sl::kafka::record>();
  sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "latest", .kafka = props()});
  auto q = sl::start(src | mem, sl::output_mode::append, {.checkpoint = scratch("grow").string()});
  q.process_all_available();
  add_partitions(topic, 3);
  produce_values(topic, values(10, 12), 1);
  produce_values(topic, values(20, 21), 2);
  produce_values(topic, values(5, 6), 0);
  for (int i = 0; i < 100 && mem.rows().size() < 4; ++i) {
    q.process_all_available();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  q.stop();
  CHECK(sorted_values(mem.rows()) == std::vector<std::string>{"5", "10", "11", "20"});
}

TEST_CASE("kafka faults: the broker restarted in the middle of a stream", "[restart]") {
  const auto topic = unique("bounce");
  create_topic(topic, 2);
  produce_values(topic, values(0, 50), 0);
  auto mem = sl::memory_sink<sl::kafka::record>();
  sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = props()});
  auto q = sl::start(src | mem, sl::output_mode::append, {.checkpoint = scratch("bounce").string()});
  q.process_all_available();
  broker("kill");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  broker("start");
  produce_values(topic, values(50, 100), 1);
  for (int i = 0; i < 300 && mem.rows().size() < 100; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(q.is_active());
  q.stop();
  CHECK(sorted_values(mem.rows()) == values(0, 100));
}

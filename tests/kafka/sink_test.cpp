// sl::kafka::sink against the real broker: Spark's columns, at-least-once, and exactly-once
// with a batch replayed after a crash between the Kafka commit and the checkpoint's commit log.
#include "kafka_test_support.hpp"

#include <algorithm>

using namespace kafka_test;

namespace {
struct Out {
  std::optional<std::string> key;
  std::string value;
  std::vector<sl::kafka::header> headers;
};
BOOST_DESCRIBE_STRUCT(Out, (), (key, value, headers))

struct Routed {
  std::string topic;
  std::string value;
  std::int32_t partition = 0;
};
BOOST_DESCRIBE_STRUCT(Routed, (), (topic, value, partition))

struct Count {
  std::string user;
  std::int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(Count, (), (user, n))

std::vector<std::string> sorted(std::vector<consumed> rows) {
  std::vector<std::string> out;
  for (auto& r : rows) out.push_back(r.value);
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST_CASE("kafka sink: key, value and headers columns; other rows as JSON; a topic column", "[sink]") {
  const auto out = unique("sink-cols");
  create_topic(out, 1);
  sl::memory_stream<Out> in;
  in.add_data({Out{std::string("k"), "v1", {{"h", std::string("x")}}}, Out{std::nullopt, "v2", {}}});
  auto q = sl::start(in | sl::kafka::sink({.topic = out, .kafka = props()}), sl::output_mode::append);
  q.process_all_available();
  q.stop();
  const auto rows = consume_all(out);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].key == "k");
  CHECK(rows[0].value == "v1");
  CHECK(rows[1].value == "v2");

  const auto json_topic = unique("sink-json");
  create_topic(json_topic, 1);
  sl::memory_stream<Count> counts;
  counts.add_data({Count{"ann", 3}});
  auto q2 = sl::start(counts | sl::kafka::sink({.topic = json_topic, .kafka = props()}), sl::output_mode::append);
  q2.process_all_available();
  q2.stop();
  CHECK(sorted(consume_all(json_topic)) == std::vector<std::string>{"{\"user\":\"ann\",\"n\":3}"});

  const auto a = unique("sink-a"), b = unique("sink-b");
  create_topic(a, 2);
  create_topic(b, 1);
  sl::memory_stream<Routed> routed;
  routed.add_data({Routed{a, "to-a-1", 1}, Routed{b, "to-b", 0}});
  auto q3 = sl::start(routed | sl::kafka::sink({.kafka = props()}), sl::output_mode::append);
  q3.process_all_available();
  q3.stop();
  const auto ra = consume_all(a);
  REQUIRE(ra.size() == 1);
  CHECK(ra[0].partition == 1);
  CHECK(sorted(consume_all(b)) == std::vector<std::string>{"to-b"});

  sl::memory_stream<Count> no_topic;
  auto q4 = sl::start(no_topic | sl::kafka::sink({.kafka = props()}), sl::output_mode::append);
  CHECK_THROWS_WITH(q4.await_termination(), Catch::Contains("set the topic option or give the rows a `topic` column"));
}

TEST_CASE("kafka sink: exactly once across a crash between the Kafka commit and commits/N", "[sink]") {
  const auto in_topic = unique("eos-in");
  const auto out = unique("eos-out");
  create_topic(in_topic, 1);
  create_topic(out, 1);
  std::vector<std::string> in;
  for (int i = 0; i < 20; ++i) in.push_back(std::to_string(i));
  produce_values(in_topic, in);
  const auto ck = scratch("eos");
  auto run = [&](sl::kafka::delivery guarantee) {
    auto q = sl::start(sl::kafka::source({.subscribe = {in_topic}, .starting_offsets = "earliest", .max_offsets_per_trigger = 10,
                                          .kafka = props()}) |
                           sl::map([](const sl::kafka::record& r) { return Out{r.key, *r.value, {}}; }) |
                           sl::kafka::sink({.topic = out, .guarantee = guarantee, .kafka = props()}),
                       sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = ck.string()});
    q.await_termination();
  };
  SECTION("exactly_once: the replayed batch is skipped") {
    run(sl::kafka::delivery::exactly_once);
    REQUIRE(sorted(consume_all(out)).size() == 20);
    // The crash: batch 1 is in Kafka but its commit log entry is not.
    REQUIRE(fs::remove(ck / "commits" / "1"));
    run(sl::kafka::delivery::exactly_once);
    CHECK(consume_all(out).size() == 20);
    CHECK(consume_all(out, false).size() == 20);  // not even an aborted copy
    REQUIRE(fs::exists(ck / "commits" / "1"));
  }
  SECTION("at_least_once (Spark's): the replayed batch is written again") {
    run(sl::kafka::delivery::at_least_once);
    REQUIRE(fs::remove(ck / "commits" / "1"));
    run(sl::kafka::delivery::at_least_once);
    CHECK(consume_all(out).size() == 30);
  }
}

TEST_CASE("kafka sink: exactly once into a topic that does not exist yet, from an empty first batch", "[sink]") {
  const auto out = unique("eos-new");  // not created: the sink must create it for its batch markers
  sl::memory_stream<Out> in;
  in.add_data(std::vector<Out>{});
  auto q = sl::start(in | sl::kafka::sink({.topic = out, .guarantee = sl::kafka::delivery::exactly_once, .kafka = props()}),
                     sl::output_mode::append, {.checkpoint = scratch("eos-new").string()});
  q.process_all_available();
  in.add_data({Out{std::nullopt, "x", {}}});
  q.process_all_available();
  q.stop();
  CHECK(sorted(consume_all(out)) == std::vector<std::string>{"x"});
}

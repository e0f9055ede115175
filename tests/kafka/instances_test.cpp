// Static instances (source_options::instance, docs/scaling.md): partition p belongs to instance
// p % count; each instance's checkpoint holds only its partitions' offsets; partitions added
// later follow the same rule; a checkpoint reused with another index or count is refused.
#include "kafka_test_support.hpp"

#include <algorithm>
#include <set>

using namespace kafka_test;

namespace {
struct Item {
  std::int64_t id = 0;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id))

// Partition p gets ids p*100 .. p*100 + n - 1.
void fill(const std::string& topic, int partition, int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i < to; ++i) v.push_back("{\"id\":" + std::to_string(partition * 100 + i) + "}");
  produce_values(topic, v, partition);
}

std::vector<std::int64_t> run_instance(const std::string& topic, sl::kafka::instance_spec instance,
                                       const std::string& checkpoint) {
  auto mem = sl::memory_sink<Item>();
  auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = props(),
                                        .instance = instance}) |
                         sl::kafka::decode_json<Item>() | mem,
                     sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = checkpoint});
  q.await_termination();
  std::vector<std::int64_t> out;
  for (const auto& r : mem.rows()) out.push_back(r.id);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::int64_t> ids_of(std::initializer_list<int> partitions, int from, int to) {
  std::vector<std::int64_t> out;
  for (int p : partitions)
    for (int i = from; i < to; ++i) out.push_back(p * 100 + i);
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST_CASE("kafka instances: partition p % count, checkpoints of their own, partitions added later", "[instances]") {
  const auto topic = unique("instances");
  create_topic(topic, 4);
  for (int p = 0; p < 4; ++p) fill(topic, p, 0, 5);
  const auto ck0 = scratch("instances-0").string(), ck1 = scratch("instances-1").string();
  CHECK(run_instance(topic, {0, 2}, ck0) == ids_of({0, 2}, 0, 5));
  CHECK(run_instance(topic, {1, 2}, ck1) == ids_of({1, 3}, 0, 5));
  // Each checkpoint has its own partitions' offsets, Spark's JSON.
  CHECK(sl::read_whole_file(fs::path(ck0) / "sources/0/initial") == "v1\n{\"" + topic + "\":{\"0\":0,\"2\":0}}");
  CHECK(sl::read_whole_file(fs::path(ck1) / "offsets/0").find("{\"" + topic + "\":{\"1\":5,\"3\":5}}") !=
        std::string::npos);

  // Partitions 4 and 5 added: read from their start by the instance the rule names.
  add_partitions(topic, 6);
  for (int p = 0; p < 6; ++p) fill(topic, p, 5, 8);
  fill(topic, 4, 0, 5);
  fill(topic, 5, 0, 5);
  auto expected0 = ids_of({0, 2}, 5, 8);
  for (int i = 0; i < 5; ++i) expected0.push_back(400 + i);
  expected0.push_back(405), expected0.push_back(406), expected0.push_back(407);
  std::sort(expected0.begin(), expected0.end());
  auto expected1 = ids_of({1, 3, 5}, 5, 8);
  for (int i = 0; i < 5; ++i) expected1.push_back(500 + i);
  std::sort(expected1.begin(), expected1.end());
  CHECK(run_instance(topic, {0, 2}, ck0) == expected0);
  CHECK(run_instance(topic, {1, 2}, ck1) == expected1);
  CHECK(run_instance(topic, {1, 2}, ck1).empty());
}

TEST_CASE("kafka instances: starting offsets as JSON keep only the instance's partitions", "[instances]") {
  const auto topic = unique("instances-json");
  create_topic(topic, 3);
  for (int p = 0; p < 3; ++p) fill(topic, p, 0, 4);
  const auto ck = scratch("instances-json").string();
  auto mem = sl::memory_sink<Item>();
  const std::string starting = "{\"" + topic + "\":{\"0\":1,\"1\":2,\"2\":3}}";
  auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = starting, .kafka = props(),
                                        .instance = {1, 3}}) |
                         sl::kafka::decode_json<Item>() | mem,
                     sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = ck});
  q.await_termination();
  std::vector<std::int64_t> got;
  for (const auto& r : mem.rows()) got.push_back(r.id);
  CHECK(got == std::vector<std::int64_t>{102, 103});
  CHECK(sl::read_whole_file(fs::path(ck) / "sources/0/initial") == "v1\n{\"" + topic + "\":{\"1\":2}}");
}

TEST_CASE("kafka instances: a checkpoint reused with another index or count is refused", "[instances]") {
  const auto topic = unique("instances-changed");
  create_topic(topic, 4);
  for (int p = 0; p < 4; ++p) fill(topic, p, 0, 2);
  const auto ck = scratch("instances-changed").string();
  CHECK(run_instance(topic, {1, 2}, ck) == ids_of({1, 3}, 0, 2));
  // count 4: instance 1 owns partition 1 only; the checkpoint has partition 3.
  auto mem = sl::memory_sink<Item>();
  auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = props(),
                                        .instance = {1, 4}}) |
                         sl::kafka::decode_json<Item>() | mem,
                     sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = ck});
  try {
    q.await_termination();
    FAIL("the query ran on another instance's checkpoint");
  } catch (const std::exception& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains(topic + "-3") && Catch::Contains("instance 1/4 does not own") &&
                         Catch::Contains("index or count changed"));
  }
  CHECK(mem.rows().empty());
}

TEST_CASE("kafka instances: an index outside 0 .. count - 1 is refused", "[config]") {
  auto make = [](sl::kafka::instance_spec i) {
    return sl::kafka::source({.subscribe = {"t"}, .kafka = {{"bootstrap.servers", "127.0.0.1:1"}}, .instance = i});
  };
  CHECK_THROWS_WITH(make({2, 2}), Catch::Contains("instance {index 2, count 2}") && Catch::Contains("index in [0, count)"));
  CHECK_THROWS_WITH(make({0, 0}), Catch::Contains("count must be at least 1"));
  CHECK_NOTHROW(make({1, 2}));
}

namespace {
struct Click {
  std::int64_t id = 0;
  std::string user;
};
BOOST_DESCRIBE_STRUCT(Click, (), (id, user))
}  // namespace

TEST_CASE("kafka repartition_to: keys spread over partitions become local to one instance", "[instances]") {
  // Clicks of every user in every input partition; 2 instances re-key them by user through a
  // topic (exactly once), then 2 instances count per user over that topic.
  const auto input = unique("rekey-in"), rekeyed = unique("rekey-by-user");
  create_topic(input, 4);
  create_topic(rekeyed, 4);
  std::map<std::string, std::int64_t> expected;
  for (int p = 0; p < 4; ++p) {
    std::vector<std::string> v;
    for (int i = 0; i < 30; ++i) {
      const std::string user = "u" + std::to_string((i * 7 + p) % 10);
      ++expected[user];
      v.push_back(sl::to_json_string(Click{p * 100 + i, user}));
    }
    produce_values(input, v, p);
  }
  for (int i = 0; i < 2; ++i) {
    auto q = sl::start(sl::kafka::source({.subscribe = {input}, .starting_offsets = "earliest", .kafka = props(),
                                          .instance = {i, 2}}) |
                           sl::kafka::decode_json<Click>() |
                           sl::kafka::repartition_to<"user">({.topic = rekeyed,
                                                              .guarantee = sl::kafka::delivery::exactly_once,
                                                              .kafka = props()}),
                       sl::output_mode::append,
                       {.trigger = sl::trigger::available_now(),
                        .checkpoint = scratch("rekey-" + std::to_string(i)).string()});
    q.await_termination();
  }
  // The topic: keyed by user, each user in one partition.
  std::map<std::string, std::set<int>> partitions_of;
  for (const auto& r : consume_all(rekeyed)) {
    const auto c = sl::from_json<Click>(boost::json::parse(r.value));
    CHECK(c.user == r.key);
    partitions_of[r.key].insert(r.partition);
  }
  REQUIRE(partitions_of.size() == expected.size());
  for (const auto& [user, ps] : partitions_of) CHECK(ps.size() == 1);

  std::map<std::string, std::int64_t> counted;
  std::map<std::string, int> counted_by;
  for (int i = 0; i < 2; ++i) {
    auto counts = sl::memory_sink<sl::row<sl::field<"user", std::string>, sl::field<"n", std::int64_t>>>();
    auto q = sl::start(sl::kafka::source({.subscribe = {rekeyed}, .starting_offsets = "earliest", .kafka = props(),
                                          .instance = {i, 2}}) |
                           sl::kafka::decode_json<Click>() | sl::group_by(sl::col<"user">) |
                           sl::aggregate(sl::count().as<"n">()) | counts,
                       sl::output_mode::complete,
                       {.trigger = sl::trigger::available_now(),
                        .checkpoint = scratch("count-" + std::to_string(i)).string()});
    q.await_termination();
    for (const auto& r : counts.rows()) {
      counted[sl::get<"user">(r)] = sl::get<"n">(r);
      ++counted_by[sl::get<"user">(r)];
    }
  }
  CHECK(counted == expected);
  for (const auto& [user, instances] : counted_by) CHECK(instances == 1);  // each user's count on one instance
}

namespace {
// Waits until the read_committed output has `n` records (or 90 s passed); returns their ids.
std::vector<std::int64_t> await_output(const std::string& topic, std::size_t n) {
  std::vector<std::int64_t> ids;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  do {
    ids.clear();
    for (const auto& r : consume_all(topic)) ids.push_back(sl::from_json<Item>(boost::json::parse(r.value)).id);
    if (ids.size() >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  } while (std::chrono::steady_clock::now() < deadline);
  std::sort(ids.begin(), ids.end());
  return ids;
}
}  // namespace

TEST_CASE("kafka consumer group: partitions move between instances on rebalance, exactly once", "[instances]") {
  const auto input = unique("group-in"), output = unique("group-out"), group = unique("group");
  create_topic(input, 4);
  create_topic(output, 1);
  for (int p = 0; p < 4; ++p) fill(input, p, 0, 60);
  // A source shares its state with its copies: metrics() of the copy kept here is the query's.
  auto source = [&] {
    return sl::kafka::source({.subscribe = {input}, .starting_offsets = "earliest", .max_offsets_per_trigger = 4,
                              .kafka = props({{"group.id", group}}), .consumer_group = true});
  };
  auto instance = [&](sl::kafka::source src, const std::string& name) {
    return sl::start(src | sl::kafka::decode_json<Item>() |
                         sl::kafka::sink({.topic = output, .guarantee = sl::kafka::delivery::exactly_once,
                                          .kafka = props()}),
                     sl::output_mode::append,
                     {.trigger = sl::trigger::processing_time(std::chrono::milliseconds(50)),
                      .checkpoint = scratch("group-" + name).string()});
  };
  auto src_a = source(), src_b = source();
  auto a = instance(src_a, "a");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto b = instance(src_b, "b");  // takes about half the partitions from a, mid-stream
  CHECK(await_output(output, 240) == ids_of({0, 1, 2, 3}, 0, 60));
  CHECK(src_b.metrics().records > 0);
  const auto a_before = src_a.metrics().records;
  for (int p = 0; p < 4; ++p) fill(input, p, 60, 100);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  b.stop();  // its partitions go back to a, from the group's offsets
  CHECK(await_output(output, 400) == ids_of({0, 1, 2, 3}, 0, 100));
  CHECK(src_a.metrics().records > a_before);
  a.stop();
  // No batch was read again, but one fenced in a rebalance (kafka::fenced_error: its offsets
  // could not go into its transaction before its partitions were revoked), at most 4 records.
  const auto fenced = src_a.metrics().batches_fenced + src_b.metrics().batches_fenced;
  CHECK(src_a.metrics().records + src_b.metrics().records >= 400);
  CHECK(src_a.metrics().records + src_b.metrics().records <= 400 + 4 * fenced);
  if (a.exception()) FAIL_CHECK(a.exception()->what());
  if (b.exception()) FAIL_CHECK(b.exception()->what());
}

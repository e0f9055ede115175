// The bytes of Kafka rows (sl::kafka::bytes, shared_string; bytes.hpp): blocks shared between
// rows, copies that do not pin a batch's block, and rows that outlive the batch, the source
// and librdkafka's messages they were read from.
#include "kafka_test_support.hpp"

#include <sluice/codec/binary.hpp>
#include <sluice/codec/state_layout.hpp>
#include <sluice/ops/group_by.hpp>

#include <mutex>

using namespace kafka_test;

TEST_CASE("kafka bytes: arena blocks, copies, moves, and the string interface", "[source]") {
  std::vector<sl::kafka::bytes> kept;
  {
    sl::kafka::byte_arena arena(1024);
    for (int i = 0; i < 100; ++i) {
      const std::string v = "value-" + std::to_string(i) + std::string(40, 'x');
      kept.push_back(arena.copy(v.data(), v.size()));
    }
    // Neighbours share a block: packed one after the other.
    CHECK(kept[1].data() == kept[0].data() + kept[0].size());
    // A value larger than a quarter block gets a block of its own.
    const std::string big(400, 'b');
    auto alone = arena.copy(big.data(), big.size());
    CHECK(alone == big);
    auto again = alone;  // its own block: shared, not copied
    CHECK(again.data() == alone.data());
  }  // the arena is gone; its blocks live on in the values
  for (int i = 0; i < 100; ++i) CHECK(kept[i] == "value-" + std::to_string(i) + std::string(40, 'x'));
  // A copy of a value in a packed block has a block of its own: it does not pin the others.
  const sl::kafka::bytes copy = kept[5];
  CHECK(copy == kept[5]);
  CHECK(copy.data() != kept[5].data());
  const sl::kafka::bytes copy2 = copy;  // and copies of it share that block
  CHECK(copy2.data() == copy.data());
  // A move takes the reference.
  const char* at = kept[7].data();
  sl::kafka::bytes moved = std::move(kept[7]);
  CHECK(moved.data() == at);
  CHECK(kept[7].empty());
  kept.clear();
  CHECK(copy == "value-5" + std::string(40, 'x'));
  CHECK(moved == "value-7" + std::string(40, 'x'));

  // As a string: conversions, comparisons, hashing, empty values.
  sl::kafka::shared_string t("events");
  const std::string s = t;
  const std::string_view sv = t;
  CHECK(s == "events");
  CHECK(sv == "events");
  CHECK(t == std::string("events"));
  CHECK(t != "other");
  CHECK(sl::kafka::shared_string("a") < sl::kafka::shared_string("b"));
  CHECK(std::hash<sl::kafka::shared_string>{}(t) == std::hash<std::string_view>{}("events"));
  sl::kafka::bytes empty;
  CHECK(empty.empty());
  CHECK(empty == "");
  CHECK(std::string(empty.data()).empty());
  CHECK(t.share().data() == t.data());
}

TEST_CASE("kafka bytes: records in JSON, checkpoints and Spark's schema", "[source]") {
  sl::kafka::record r;
  r.key = "k";
  r.value = std::string("{\"id\":1}");
  r.topic = "events";
  r.partition = 3;
  r.offset = 17;
  r.headers = std::vector<sl::kafka::header>{{"h", std::nullopt}, {"g", std::string("x")}};
  const auto json = sl::to_json_string(r);
  CHECK(json.find("\"value\":\"{\\\"id\\\":1}\"") != std::string::npos);
  CHECK(json.find("\"topic\":\"events\"") != std::string::npos);
  const auto back = sl::from_json<sl::kafka::record>(boost::json::parse(json));
  CHECK(back.value == r.value);
  CHECK(back.key == r.key);
  CHECK(back.topic == "events");
  CHECK(back.headers == r.headers);
  CHECK_THROWS_WITH(sl::from_json<sl::kafka::record>(boost::json::parse(R"({"key":1,"value":null,"topic":"t",
      "partition":0,"offset":0,"timestamp":0,"timestamp_type":0,"headers":null})")),
                    Catch::Contains("field 'key': expected a string, got an integer"));

  sl::binary_writer w;
  w.write(r);
  sl::binary_reader rd(w.buffer(), "test");
  sl::kafka::record read;
  rd.read(read);
  CHECK(read.value == r.value);
  CHECK(read.topic == r.topic);
  CHECK(read.headers == r.headers);
  // The same bytes as a std::string field: a checkpoint written before the change still reads.
  sl::binary_writer ws;
  ws.write(std::optional<std::string>("k"));
  sl::binary_writer wb;
  wb.write(r.key);
  CHECK(ws.buffer() == wb.buffer());
  CHECK(sl::binary_layout<sl::kafka::bytes>() == sl::binary_layout<std::string>());
  // A grouping key's type in the checkpoint's description: as before, when key was a string.
  CHECK(sl::detail::checkpoint_type_name<sl::kafka::bytes>() == boost::json::value("string"));

  const auto schema = boost::json::serialize(sl::spark_struct_type<sl::kafka::record>());
  CHECK(schema.find(R"({"name":"key","type":"binary","nullable":true)") != std::string::npos);
  CHECK(schema.find(R"({"name":"value","type":"binary","nullable":true)") != std::string::npos);
  CHECK(schema.find(R"({"name":"topic","type":"string","nullable":false)") != std::string::npos);
}

// Rows kept after their batch: by a memory sink (copies of the batch's rows), and straight from
// the source's read (the rows themselves, moved: they keep the source's blocks), used after the
// query, the source and every librdkafka message are gone. Several 64 KB blocks of values.
TEST_CASE("kafka bytes: rows kept after the batch, the source and its messages are gone", "[source]") {
  const auto topic = unique("kept-rows");
  create_topic(topic, 2);
  std::vector<std::string> values;
  for (int i = 0; i < 3000; ++i) values.push_back(std::to_string(i) + ":" + std::string(100 + i % 50, static_cast<char>('a' + i % 26)));
  produce_values(topic, std::vector<std::string>(values.begin(), values.begin() + 1500), 0);
  produce_values(topic, std::vector<std::string>(values.begin() + 1500, values.end()), 1);
  std::vector<sl::kafka::record> kept, direct;
  {
    auto mem = sl::memory_sink<sl::kafka::record>();
    {
      auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest",
                                            .max_offsets_per_trigger = 1000, .kafka = props()}) |
                             mem,
                         sl::output_mode::append, {.trigger = sl::trigger::available_now()});
      q.await_termination();
    }
    kept = mem.rows();
  }
  {
    sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = props()});
    src.open(sl::source_context{});
    const auto start = src.initial_offset();
    const auto end = src.latest_offset(start, sl::read_limit::all_available());
    for (const auto& range : src.partitions(start, end))
      src.read(range, [&](sl::kafka::record&& r) { direct.push_back(std::move(r)); });
    src.stop();
    REQUIRE(direct.size() > 2);
    // The source's rows are packed into shared blocks, one after the other.
    CHECK(direct[1].value->data() == direct[0].value->data() + direct[0].value->size());
    CHECK(direct[1].topic.data() == direct[0].topic.data());
  }
  for (const auto* rows : {&kept, &direct}) {
    REQUIRE(rows->size() == values.size());
    std::vector<std::string> got;
    for (const auto& r : *rows) {
      REQUIRE(r.value.has_value());
      CHECK(r.topic == topic);
      CHECK(r.partition == (std::stoi(std::string(*r.value)) < 1500 ? 0 : 1));
      got.emplace_back(*r.value);
    }
    std::sort(got.begin(), got.end());
    auto want = values;
    std::sort(want.begin(), want.end());
    CHECK(got == want);
  }
}

// The new types as grouping keys, in state and in the checkpoint: counts per topic and key,
// over a restart from the checkpoint.
TEST_CASE("kafka bytes: grouping by topic and key keeps state across a restart", "[source]") {
  const auto topic = unique("group-keys");
  create_topic(topic, 1);
  produce(topic, {{"a", "1"}, {"b", "2"}, {"a", "3"}});
  const auto ck = scratch("group-keys-" + std::to_string(std::rand())).string();
  auto run = [&] {
    auto plan = sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = props()}) |
                sl::group_by(sl::col<"topic">, sl::col<"key">) | sl::aggregate(sl::count());
    sl::memory_sink<decltype(plan)::row_type> sink;
    auto q = sl::start(std::move(plan) | sink, sl::output_mode::complete,
                       {.trigger = sl::trigger::available_now(), .checkpoint = ck});
    q.await_termination();
    std::map<std::string, std::int64_t> out;
    for (const auto& r : sink.rows()) {
      CHECK(sl::get<"topic">(r) == topic);
      out[std::string(sl::get<"key">(r).value_or(""))] = sl::get<"count">(r);
    }
    return out;
  };
  CHECK(run() == std::map<std::string, std::int64_t>{{"a", 2}, {"b", 1}});
  produce(topic, {{"b", "4"}, {"c", "5"}});
  CHECK(run() == std::map<std::string, std::int64_t>{{"a", 2}, {"b", 2}, {"c", 1}});
}

// The Kafka source on the query's workers (parallel_read): the topic partitions of a batch are
// read at once, each with a reading consumer of its own, and the rows are those of one thread:
// the same rows per partition, in offset order, with headers and keys; restarts resume exactly
// where the checkpoint ends; data loss found on a worker still stops the query naming the topic,
// partition and offsets.
#include "kafka_test_support.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <ostream>
#include <memory>
#include <set>
#include <thread>

using namespace kafka_test;
using namespace std::chrono_literals;

namespace {
constexpr int partitions = 6;

// Partition p, record i: key "k<p>-<i>", value "<p>:<i>", header ("i", "<i>").
void fill(const std::string& topic, int from, int to) {
  std::vector<message> ms;
  for (int p = 0; p < partitions; ++p)
    for (int i = from; i < to; ++i) {
      const std::string n = std::to_string(i);
      ms.push_back({"k" + std::to_string(p) + "-" + n, std::to_string(p) + ":" + n, p, {{"i", n}}});
    }
  produce(topic, ms);
}

// What one partition's rows say, in the order the sink got them.
struct seen {
  std::int64_t offset;
  std::string key, value, header;
  friend bool operator==(const seen&, const seen&) = default;
  friend std::ostream& operator<<(std::ostream& o, const seen& x) { return o << x.offset << ":" << x.value; }
};
using by_partition = std::map<std::int32_t, std::vector<seen>>;

by_partition expected(int to) {
  by_partition out;
  for (int p = 0; p < partitions; ++p)
    for (int i = 0; i < to; ++i) {
      const std::string n = std::to_string(i);
      out[p].push_back({i, "k" + std::to_string(p) + "-" + n, std::to_string(p) + ":" + n, n});
    }
  return out;
}

// Reads and partitions in flight at once, seen from a stage after the source.
struct overlap {
  std::atomic<int> now{0}, most{0};
};

// Runs the query with trigger available-now (batches of at most 50 offsets per partition) to
// the end of what is there, adding its rows to `rows`.
void run(const std::string& topic, const std::string& checkpoint, std::size_t parallelism, by_partition& rows,
         const std::shared_ptr<overlap>& o = std::make_shared<overlap>()) {
  auto mem = sl::memory_sink<sl::kafka::record>();
  auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest",
                                        .max_offsets_per_trigger = 50 * partitions, .include_headers = true,
                                        .kafka = props()}) |
                         sl::map([o](const sl::kafka::record& r) {
                           // The first row of a range waits a little, so ranges read at once overlap here.
                           if (r.offset % 50 == 0) {
                             const int n = ++o->now;
                             int m = o->most.load();
                             while (n > m && !o->most.compare_exchange_weak(m, n)) {
                             }
                             std::this_thread::sleep_for(20ms);
                             --o->now;
                           }
                           return r;
                         }) |
                         mem,
                     sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(), .checkpoint = checkpoint, .parallelism = parallelism});
  q.await_termination();
  for (const auto& r : mem.rows()) {
    REQUIRE(r.topic == topic);
    REQUIRE(r.headers.has_value());
    REQUIRE(r.headers->size() == 1);
    rows[r.partition].push_back({r.offset, std::string(*r.key), std::string(*r.value), std::string(*(*r.headers)[0].value)});
  }
}
}  // namespace

TEST_CASE("kafka parallel: partitions read at once give each partition's rows in offset order, restarts resume",
          "[parallel]") {
  const auto topic = unique("parallel");
  create_topic(topic, partitions);
  fill(topic, 0, 120);
  std::map<std::size_t, std::string> checkpoints;  // scratch() makes a fresh directory: once each
  for (const std::size_t parallelism : {1, 2, 4}) {
    INFO("parallelism " << parallelism);
    const auto ck = checkpoints[parallelism] = scratch("parallel-" + std::to_string(parallelism)).string();
    by_partition rows;
    auto o = std::make_shared<overlap>();
    run(topic, ck, parallelism, rows, o);
    CHECK(rows == expected(120));
    // Ranges of different partitions were in the stage at once with workers, never without.
    if (parallelism == 1) CHECK(o->most.load() == 1);
    else CHECK(o->most.load() >= 2);
    CHECK(sl::read_whole_file(fs::path(ck) / "offsets/2").find("\"0\":120") != std::string::npos);
  }
  // Restarts: more records, read from where each checkpoint ended, once (the rows of every run
  // added up are each partition's records once, in order).
  fill(topic, 120, 200);
  for (const std::size_t parallelism : {1, 2, 4}) {
    INFO("parallelism " << parallelism);
    const auto ck = checkpoints.at(parallelism);
    by_partition rows;
    run(topic, ck, parallelism, rows);
    by_partition tail = expected(200);
    for (auto& [p, v] : tail) v.erase(v.begin(), v.begin() + 120);
    CHECK(rows == tail);
    by_partition none;
    run(topic, ck, parallelism, none);
    CHECK(none.empty());
  }
}

TEST_CASE("kafka parallel: a restarted query reads on with another parallelism, exactly", "[parallel]") {
  const auto topic = unique("parallel-switch");
  create_topic(topic, partitions);
  const auto ck = scratch("parallel-switch").string();
  by_partition rows;
  int produced = 0;
  for (const std::size_t parallelism : {2, 1, 4, 2}) {
    fill(topic, produced, produced + 70);
    produced += 70;
    run(topic, ck, parallelism, rows);
  }
  CHECK(rows == expected(produced));
}

TEST_CASE("kafka parallel: data loss found on a worker names the topic, partition and offsets", "[parallel]") {
  const auto topic = unique("parallel-loss");
  create_topic(topic, partitions);
  fill(topic, 0, 10);
  const auto ck = scratch("parallel-loss").string();
  by_partition rows;
  run(topic, ck, 2, rows);
  REQUIRE(rows == expected(10));
  fill(topic, 10, 20);
  delete_records(topic, 4, 15);  // partition 4's 10..14 were never read
  try {
    by_partition more;
    run(topic, ck, 2, more);
    FAIL("the query read on past lost offsets");
  } catch (const std::exception& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains(topic + "-4 (topic " + topic + ", partition 4): offsets 10 to 14") &&
                                          Catch::Contains("failOnDataLoss"));
  }
  // fail_on_data_loss = false: the other partitions and 15..19 of partition 4, the loss counted.
  sl::kafka::source src({.subscribe = {topic}, .starting_offsets = "earliest", .fail_on_data_loss = false,
                         .kafka = props()});
  auto mem = sl::memory_sink<sl::kafka::record>();
  auto q = sl::start(src | mem, sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(), .checkpoint = ck, .parallelism = 2});
  q.await_termination();
  std::map<std::int32_t, std::vector<std::int64_t>> offsets;
  for (const auto& r : mem.rows()) offsets[r.partition].push_back(r.offset);
  for (int p = 0; p < partitions; ++p) {
    std::vector<std::int64_t> want;
    for (int i = p == 4 ? 15 : 10; i < 20; ++i) want.push_back(i);
    CHECK(offsets[p] == want);
  }
  CHECK(src.metrics().offsets_lost == 5);
  CHECK(src.metrics().records == 55);
}

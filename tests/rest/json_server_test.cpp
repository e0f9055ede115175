// sluice::rest against json-server (npm): a real REST server over a growing collection.
// The four offset strategies, batch_size, pagination, records added while reading, replay of a
// planned batch by a new source (a restart), and a query stopped and restarted from its
// checkpoint: every record exactly once.
#include "rest_test_support.hpp"

#include <sluice/sinks/files.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <thread>

using namespace rest_test;
using namespace std::chrono_literals;

namespace {
struct Item {
  std::int64_t id = 0;
  std::string name;
  std::string updated_at;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, name, updated_at))

std::int64_t add_item(const std::string& js, const std::string& collection, const std::string& name,
                      const std::string& updated_at) {
  auto created = post_json(js, "/" + collection, {{"name", name}, {"updated_at", updated_at}});
  return created.at("id").as_int64();
}

std::vector<std::int64_t> ids_of(const std::vector<Item>& rows) {
  std::vector<std::int64_t> out;
  for (const auto& r : rows) out.push_back(r.id);
  return out;
}

void require_each_once(const std::vector<std::int64_t>& got, const std::vector<std::int64_t>& expected) {
  std::multiset<std::int64_t> g(got.begin(), got.end());
  for (auto id : expected) {
    INFO("id " << id);
    REQUIRE(g.count(id) == 1);
  }
  REQUIRE(got.size() == expected.size());
}
}  // namespace

TEST_CASE("rest incremental ids against json-server: batch_size, no extra requests, growing collection",
          "[rest][json-server]") {
  const auto js = server("SLUICE_REST_JSON_SERVER");
  std::vector<std::int64_t> expected;
  for (int i = 0; i < 12; ++i) expected.push_back(add_item(js, "incremental", "a" + std::to_string(i), "2024-01-01T00:00:00Z"));

  auto d = drive(rest::source<Item, rest::incremental_strategy>(
      {.url = js + "/incremental?id_gte={next_id}&_sort=id", .batch_size = 5}));
  d.drain();
  REQUIRE(ids_of(d.rows) == expected);
  REQUIRE(d.batch_sizes == std::vector<std::size_t>{5, 5, 2});
  // One request filled three batches; the last step polled and found nothing new.
  REQUIRE(d.src.metrics().requests == 2);
  REQUIRE(d.start.last_id == expected.back());

  for (int i = 0; i < 6; ++i) expected.push_back(add_item(js, "incremental", "b" + std::to_string(i), "2024-01-02T00:00:00Z"));
  d.drain();
  require_each_once(ids_of(d.rows), expected);
  REQUIRE(ids_of(d.rows) == expected);
  // Keep-alive: every poll went over the first connection.
  REQUIRE(d.src.metrics().connections_opened == 1);

  // A page limit below batch_size: one poll asks again from each new offset until the batch
  // is full (4 + 4 + 4 records for a batch of 10).
  rest::source<Item, rest::incremental_strategy> paged(
      {.url = js + "/incremental?id_gte={next_id}&_sort=id&_limit=4", .batch_size = 10});
  auto p = drive(paged);
  p.step();
  REQUIRE(p.rows.size() == 10);
  REQUIRE(paged.metrics().requests == 3);
  p.drain();
  REQUIRE(ids_of(p.rows) == expected);
}

TEST_CASE("rest max_field with an inclusive _gte boundary delivers records sharing the max once",
          "[rest][json-server]") {
  const auto js = server("SLUICE_REST_JSON_SERVER");
  std::vector<std::int64_t> expected;
  for (const char* t : {"2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z", "2024-03-01T11:00:00Z", "2024-03-01T11:00:00Z",
                        "2024-03-01T11:00:00Z", "2024-03-01T12:00:00.5Z"})
    expected.push_back(add_item(js, "max_field", "m", t));

  auto d = drive(rest::source<Item, rest::max_field_strategy>({.url = js + "/max_field?updated_at_gte={max_value}&_sort=updated_at",
                                                               .batch_size = 2,
                                                               .offset_field = "updated_at"}));
  d.drain();
  require_each_once(ids_of(d.rows), expected);
  REQUIRE(d.start.max_value == "2024-03-01T12:00:00.5Z");
  REQUIRE(d.start.ids_at_max.size() == 1);

  // New records at exactly the current maximum, and later ones: the boundary returns the old
  // record again, which is dropped.
  expected.push_back(add_item(js, "max_field", "same", "2024-03-01T12:00:00.5Z"));
  expected.push_back(add_item(js, "max_field", "later", "2024-03-02T00:00:00Z"));
  expected.push_back(add_item(js, "max_field", "later", "2024-03-02T00:00:00Z"));
  d.drain();
  require_each_once(ids_of(d.rows), expected);
  REQUIRE(d.start.max_value == "2024-03-02T00:00:00Z");
  REQUIRE(d.start.ids_at_max.size() == 2);
  // Records older than the maximum that appear late are not delivered (the API's filter
  // excludes them; the strategy would drop them too).
  add_item(js, "max_field", "too late", "2024-01-01T00:00:00Z");
  REQUIRE(d.step() == 0);
}

TEST_CASE("rest cursor from the Link header pages through json-server and picks up new records on the last page",
          "[rest][json-server]") {
  const auto js = server("SLUICE_REST_JSON_SERVER");
  std::vector<std::int64_t> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(add_item(js, "link_pages", "p", "2024-01-01T00:00:00Z"));

  auto d = drive(rest::json_source<rest::cursor_strategy>(
      {.url = js + "/link_pages?_page=1&_limit=4", .batch_size = 3, .cursor_from_link_header = true}));
  d.drain();
  std::vector<std::int64_t> got;
  for (const auto& r : d.rows) got.push_back(r.at("id").as_int64());
  REQUIRE(got == expected);
  // Three pages (4 + 4 + 2) were requested in the first poll, which filled the first batch
  // and left the rest waiting.
  REQUIRE(d.start.records == 10);
  REQUIRE(d.start.cursor.find("_page=3") != std::string::npos);
  REQUIRE(d.start.skip == 2);

  for (int i = 0; i < 5; ++i) expected.push_back(add_item(js, "link_pages", "q", "2024-01-01T00:00:00Z"));
  d.drain();
  got.clear();
  for (const auto& r : d.rows) got.push_back(r.at("id").as_int64());
  REQUIRE(got == expected);
}

TEST_CASE("rest a planned batch is read again identically by a new source after a restart", "[rest][json-server]") {
  const auto js = server("SLUICE_REST_JSON_SERVER");
  for (int i = 0; i < 9; ++i) add_item(js, "replay", "r", "2024-05-0" + std::to_string(1 + i % 3) + "T00:00:00Z");

  SECTION("incremental") {
    const rest::options o{.url = js + "/replay?id_gte={next_id}&_sort=id", .batch_size = 4};
    rest::source<Item, rest::incremental_strategy> first(o);
    auto start = first.initial_offset();
    auto end1 = first.latest_offset(start, {});
    std::vector<Item> a, b;
    first.read(first.partitions(start, end1)[0], [&](const Item& i) { a.push_back(i); });
    first.commit(end1);
    auto end2 = first.latest_offset(end1, {});  // planned, then the process "dies"
    std::vector<Item> expected;
    first.read(first.partitions(end1, end2)[0], [&](const Item& i) { expected.push_back(i); });
    REQUIRE(expected.size() == 4);

    rest::source<Item, rest::incremental_strategy> second(o);  // restarted: offsets from the checkpoint
    second.read(second.partitions(end1, end2)[0], [&](const Item& i) { b.push_back(i); });
    REQUIRE(ids_of(b) == ids_of(expected));
    REQUIRE(second.metrics().replayed_batches == 1);
  }
  SECTION("max_field") {
    const rest::options o{.url = js + "/replay?updated_at_gte={max_value}&_sort=updated_at",
                          .batch_size = 4, .offset_field = "updated_at"};
    rest::source<Item, rest::max_field_strategy> first(o);
    auto start = first.initial_offset();
    auto end1 = first.latest_offset(start, {});
    first.commit(end1);
    auto end2 = first.latest_offset(end1, {});
    std::vector<Item> expected, b;
    first.read(first.partitions(end1, end2)[0], [&](const Item& i) { expected.push_back(i); });
    rest::source<Item, rest::max_field_strategy> second(o);
    second.read(second.partitions(end1, end2)[0], [&](const Item& i) { b.push_back(i); });
    REQUIRE(!b.empty());
    REQUIRE(ids_of(b) == ids_of(expected));
  }
  SECTION("cursor") {
    const rest::options o{.url = js + "/replay?_page=1&_limit=2", .batch_size = 3, .cursor_from_link_header = true};
    rest::source<Item, rest::cursor_strategy> first(o);
    auto start = first.initial_offset();
    auto end1 = first.latest_offset(start, {});
    first.commit(end1);
    auto end2 = first.latest_offset(end1, {});
    std::vector<Item> expected, b;
    first.read(first.partitions(end1, end2)[0], [&](const Item& i) { expected.push_back(i); });
    rest::source<Item, rest::cursor_strategy> second(o);
    second.read(second.partitions(end1, end2)[0], [&](const Item& i) { b.push_back(i); });
    REQUIRE(!b.empty());  // the record left over from the first poll's last page
    REQUIRE(ids_of(b) == ids_of(expected));
  }
}

TEST_CASE("rest query stopped and restarted from its checkpoint while records are added: each record once",
          "[rest][json-server]") {
  const auto js = server("SLUICE_REST_JSON_SERVER");
  const auto dir = scratch("rest_restart");
  const std::string out = (dir / "out").string(), ck = (dir / "ck").string();
  std::vector<std::int64_t> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(add_item(js, "restart", "s", "2024-01-01T00:00:00Z"));
  const rest::options o{.url = js + "/restart?id_gte={next_id}&_sort=id", .batch_size = 4};

  {
    auto q = sl::start(rest::source<Item, rest::incremental_strategy>(o) | sl::files::json_lines_sink(out),
                       sl::output_mode::append,
                       {.trigger = sl::trigger::processing_time(20ms), .checkpoint = ck});
    std::thread producer([&] {
      for (int i = 0; i < 10; ++i) {
        expected.push_back(add_item(js, "restart", "while running", "2024-01-01T00:00:00Z"));
        std::this_thread::sleep_for(15ms);
      }
    });
    producer.join();
    q.process_all_available();
    for (int i = 0; i < 5; ++i) expected.push_back(add_item(js, "restart", "before stop", "2024-01-01T00:00:00Z"));
    std::this_thread::sleep_for(30ms);  // stop in the middle, whatever was planned
    q.stop();
    REQUIRE_FALSE(q.exception());
  }
  for (int i = 0; i < 7; ++i) expected.push_back(add_item(js, "restart", "while stopped", "2024-01-01T00:00:00Z"));
  {
    auto q = sl::start(rest::source<Item, rest::incremental_strategy>(o) | sl::files::json_lines_sink(out),
                       sl::output_mode::append, {.trigger = sl::trigger::processing_time(20ms), .checkpoint = ck});
    q.process_all_available();
    q.stop();
    REQUIRE_FALSE(q.exception());
  }
  const auto rows = sl::files::read_committed_json_lines<Item>(out);
  require_each_once(ids_of(rows), expected);
}

// ---------------------------------------------------------------- crash and restart
// The child: runs the query with a checkpoint until SLUICE_CRASH_AT kills it (SIGKILL, no
// clean-up). Hidden: only the crash test below runs it, as a child process of its own.
TEST_CASE("rest crash child", "[.rest-crash-child]") {
  const char* dir = std::getenv("SLUICE_REST_CRASH_DIR");
  const char* collection = std::getenv("SLUICE_REST_CRASH_COLLECTION");
  REQUIRE(dir);
  REQUIRE(collection);
  const auto js = server("SLUICE_REST_JSON_SERVER");
  const std::string d(dir);
  auto q = sl::start(rest::source<Item, rest::incremental_strategy>(
                         {.url = js + "/" + collection + "?id_gte={next_id}&_sort=id", .batch_size = 4}) |
                         sl::files::json_lines_sink(d + "/out"),
                     sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = d + "/ck"});
  q.await_termination();
}

TEST_CASE("rest killed after planning or writing a batch, restarted: every record exactly once", "[rest][json-server]") {
  const auto js = server("SLUICE_REST_JSON_SERVER");
  for (const char* crash_at : {"after_offsets:3", "after_sink:2"}) {
    INFO("SLUICE_CRASH_AT=" << crash_at);
    const std::string collection = std::string("crash_") + (crash_at[6] == 'o' ? "offsets" : "sink");
    const auto dir = scratch("rest_crash_" + collection);
    std::vector<std::int64_t> expected;
    for (int i = 0; i < 18; ++i) expected.push_back(add_item(js, collection, "c", "2024-01-01T00:00:00Z"));

    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::setenv("SLUICE_CRASH_AT", crash_at, 1);
      ::setenv("SLUICE_REST_CRASH_DIR", dir.c_str(), 1);
      ::setenv("SLUICE_REST_CRASH_COLLECTION", collection.c_str(), 1);
      ::execl("/proc/self/exe", "sluice_rest_tests", "[.rest-crash-child]", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    // The crash left a batch logged (offsets/N) without its commit.
    REQUIRE(std::filesystem::exists(dir / "ck" / "offsets"));

    for (int i = 0; i < 5; ++i) expected.push_back(add_item(js, collection, "after crash", "2024-01-01T00:00:00Z"));
    rest::source<Item, rest::incremental_strategy> src(
        {.url = js + "/" + collection + "?id_gte={next_id}&_sort=id", .batch_size = 4});
    auto q = sl::start(src | sl::files::json_lines_sink((dir / "out").string()), sl::output_mode::append,
                       {.trigger = sl::trigger::available_now(), .checkpoint = (dir / "ck").string()});
    q.await_termination();
    REQUIRE(src.metrics().replayed_batches == 1);  // the logged batch was asked again and cut at its end
    require_each_once(ids_of(sl::files::read_committed_json_lines<Item>((dir / "out").string())), expected);
  }
}

// sl::delta::sink: tables written here are read back by independent readers (delta-rs and
// DuckDB, through tests/delta/verify_table.py run by the venv's Python), which compare the
// rows with what the test expects, and check versions, txn and partition columns.
#include <catch2/catch.hpp>
#include <sluice/delta.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct Event {
  std::string event_id;
  sl::timestamp timestamp;
  std::int64_t user_id = 0;
  std::string event_type;
  double value = 0;
  std::optional<std::int64_t> score;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_id, timestamp, user_id, event_type, value, score))

// The same table name with an incompatible column type.
struct EventWithStringUser {
  std::string event_id;
  sl::timestamp timestamp;
  std::string user_id;
  std::string event_type;
  double value = 0;
  std::optional<std::int64_t> score;
};
BOOST_DESCRIBE_STRUCT(EventWithStringUser, (), (event_id, timestamp, user_id, event_type, value, score))

struct Point {
  std::int32_t x = 0;
  std::optional<std::string> label;
};
BOOST_DESCRIBE_STRUCT(Point, (), (x, label))

// Every supported column type.
struct AllTypes {
  bool flag = false;
  std::int8_t i8 = 0;
  std::int16_t i16 = 0;
  std::int32_t i32 = 0;
  std::int64_t i64 = 0;
  std::uint8_t u8 = 0;
  std::uint16_t u16 = 0;
  std::uint32_t u32 = 0;
  float f32 = 0;
  double f64 = 0;
  std::string text;
  sl::timestamp ts;
  std::optional<std::int64_t> maybe_long;
  std::optional<std::string> maybe_text;
  std::optional<sl::timestamp> maybe_ts;
  sl::time_window window;
  Point point;
  std::optional<Point> maybe_point;
  std::vector<std::int64_t> longs;
  std::vector<std::string> texts;
};
BOOST_DESCRIBE_STRUCT(AllTypes, (), (flag, i8, i16, i32, i64, u8, u16, u32, f32, f64, text, ts, maybe_long, maybe_text,
                                     maybe_ts, window, point, maybe_point, longs, texts))

constexpr std::int64_t T0 = 1'705'314'600'000'000;  // 2024-01-15T10:30:00Z

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::path(SLUICE_TESTS_BINARY_DIR) / "work" / ("sink-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

Event event(int i, std::optional<std::string> type = std::nullopt) {
  Event e;
  e.event_id = "e" + std::to_string(i);
  e.timestamp = sl::timestamp{T0 + i * 1'000'123};
  e.user_id = 1000 + i % 7;
  e.event_type = type ? *type : (i % 3 == 0 ? "click" : i % 3 == 1 ? "view" : "purchase");
  e.value = i * 1.25;
  if (i % 4 != 0) e.score = i * 10;
  return e;
}

std::vector<Event> events(int from, int to) {
  std::vector<Event> out;
  for (int i = from; i < to; ++i) out.push_back(event(i));
  return out;
}

template <class T>
void write_expected(const fs::path& file, const std::vector<T>& rows) {
  std::ofstream out(file);
  for (const auto& r : rows) out << sl::to_json_string(r) << "\n";
}

struct run_result {
  int status = -1;
  std::string out;
};

// Runs the venv's Python on a script of tests/delta with arguments; stdout and the status.
run_result python(const std::string& script, const std::string& args) {
  const std::string cmd = std::string("\"") + SLUICE_PYTHON + "\" \"" + SLUICE_TESTS_SOURCE_DIR + "/" + script +
                          "\" " + args + " 2>&1";
  run_result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) r.out += buf;
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string q(const fs::path& p) { return "\"" + p.string() + "\""; }

template <class Row>
auto bound(const fs::path& table, sl::delta::sink_options options = {}) {
  return sl::delta::sink(table, std::move(options)).template bind<Row>();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("delta sink appends batches that delta-rs and DuckDB read back, with the txn of the query") {
  const auto dir = scratch("append");
  const auto table = dir / "events";
  auto sink = bound<Event>(table);
  sink.start({"query-append", "", sl::output_mode_kind::append});
  std::vector<Event> all;
  for (int b = 0; b < 4; ++b) {
    auto rows = events(b * 50, b * 50 + 50);
    sink.add_batch(b, rows);
    all.insert(all.end(), rows.begin(), rows.end());
  }
  sink.add_batch(4, {});  // an empty batch still commits its txn, as Spark's Delta sink does
  CHECK(sink.commits() == 5);

  // The first commit creates the table: protocol (1, 2), metaData with the schema, txn, adds.
  const auto first = sl::delta::read_commit(table, 0);
  bool saw_protocol = false, saw_metadata = false, saw_txn = false;
  int adds = 0;
  for (const auto& a : first) {
    if (const auto* p = std::get_if<sl::delta::protocol_action>(&a)) {
      saw_protocol = true;
      CHECK(p->min_reader_version == 1);
      CHECK(p->min_writer_version == 2);
    } else if (const auto* m = std::get_if<sl::delta::metadata_action>(&a)) {
      saw_metadata = true;
      CHECK(m->schema_string == sl::delta::delta_schema_string<Event>());
      CHECK(m->partition_columns.empty());
    } else if (const auto* t = std::get_if<sl::delta::txn_action>(&a)) {
      saw_txn = true;
      CHECK(t->app_id == "query-append");
      CHECK(t->version == 0);
    } else if (const auto* add = std::get_if<sl::delta::add_action>(&a)) {
      ++adds;
      REQUIRE(add->stats);
      const auto stats = sl::delta::parse_stats(*add->stats, "test");
      CHECK(stats.num_records == 50);
      CHECK(stats.min_values.at("user_id").as_int64() == 1000);
      CHECK(stats.max_values.at("user_id").as_int64() == 1006);
      CHECK(stats.min_values.at("event_id").as_string() == "e0");
      CHECK(stats.min_values.at("timestamp").as_string() == "2024-01-15T10:30:00.000Z");
      CHECK(stats.null_count.at("score").as_int64() == 13);  // i % 4 == 0 for i in [0, 50)
      CHECK(fs::file_size(table / add->path) == static_cast<std::uintmax_t>(add->size));
    }
  }
  CHECK(saw_protocol);
  CHECK(saw_metadata);
  CHECK(saw_txn);
  CHECK(adds == 1);
  CHECK(sl::delta::latest_version(table) == 4);

  write_expected(dir / "expected.jsonl", all);
  const auto r = python("verify_table.py", q(table) + " --expected " + q(dir / "expected.jsonl") +
                                               " --app-id query-append --txn 4 --version 4 --partition-columns ''");
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(r.out.find("\"deltars_rows\": 200") != std::string::npos);
}

TEST_CASE("delta sink skips a batch id its table already holds, across sink objects (exactly once)") {
  const auto dir = scratch("once");
  const auto table = dir / "events";
  {
    auto sink = bound<Event>(table);
    sink.start({"query-once", "", sl::output_mode_kind::append});
    const auto b0 = events(0, 10), b1 = events(10, 20);
    sink.add_batch(0, b0);
    sink.add_batch(1, b1);
    sink.add_batch(1, b1);  // offered again: skipped
    CHECK(sink.commits() == 2);
  }
  // A restarted query (same query id, as after a restart from its checkpoint) re-runs batch 1.
  auto again = bound<Event>(table);
  again.start({"query-once", "", sl::output_mode_kind::append});
  const auto b1 = events(10, 20), b2 = events(20, 30);
  again.add_batch(1, b1);
  again.add_batch(2, b2);
  CHECK(again.commits() == 1);
  CHECK(sl::delta::latest_version(table) == 2);
  // Another query (another app id) writing into the same table is not skipped.
  auto other = bound<Event>(table);
  other.start({"query-other", "", sl::output_mode_kind::append});
  const auto o0 = events(100, 105);
  other.add_batch(0, o0);
  CHECK(other.commits() == 1);

  auto all = events(0, 30);
  all.insert(all.end(), o0.begin(), o0.end());
  write_expected(dir / "expected.jsonl", all);
  auto r = python("verify_table.py", q(table) + " --expected " + q(dir / "expected.jsonl") +
                                         " --app-id query-once --txn 2 --version 3");
  INFO(r.out);
  CHECK(r.status == 0);
  r = python("verify_table.py", q(table) + " --app-id query-other --txn 0");
  INFO(r.out);
  CHECK(r.status == 0);
}

TEST_CASE("delta sink through the engine: a checkpointed query restarted keeps each row once") {
  const auto dir = scratch("engine");
  const auto table = dir / "events";
  const auto checkpoint = (dir / "checkpoint").string();
  std::string query_id;
  std::int64_t last_batch = -1;
  std::vector<Event> all;
  std::vector<std::vector<Event>> inputs;  // every add_data of every run, in order
  for (int run = 0; run < 2; ++run) {
    sl::memory_stream<Event> input;
    auto q = sl::start(input | sl::filter([](const Event& e) { return e.event_type != "purchase"; }) |
                           sl::delta::sink(table),
                       sl::output_mode::append, {.checkpoint = checkpoint});
    // A memory stream's offset counts add_data calls: give the restarted query the same
    // history (the checkpoint says it is processed, so it is not read again), then new data.
    for (const auto& rows : inputs) input.add_data(rows);
    for (int b = 0; b < 3; ++b) {
      const auto rows = events(run * 1000 + b * 20, run * 1000 + b * 20 + 20);
      inputs.push_back(rows);
      input.add_data(rows);
      q.process_all_available();
      for (const auto& e : rows)
        if (e.event_type != "purchase") all.push_back(e);
    }
    if (run == 0) query_id = q.id();
    CHECK(q.id() == query_id);  // the checkpoint keeps the query id: the txn appId
    REQUIRE(q.last_progress());
    last_batch = q.last_progress()->batch_id;
    q.stop();
  }
  CHECK(last_batch == 5);
  write_expected(dir / "expected.jsonl", all);
  const auto r = python("verify_table.py", q(table) + " --expected " + q(dir / "expected.jsonl") + " --app-id " +
                                               query_id + " --txn " + std::to_string(last_batch));
  INFO(r.out);
  CHECK(r.status == 0);
}

TEST_CASE("delta sink in complete mode replaces the table's files in one commit") {
  const auto dir = scratch("complete");
  const auto table = dir / "counts";
  using Count = sl::row<sl::field<"event_type", std::string>, sl::field<"n", std::int64_t>>;
  auto sink = bound<Count>(table);
  sink.start({"query-complete", "", sl::output_mode_kind::complete});
  sink.add_batch(0, std::vector<Count>{{{"click"}, {1}}, {{"view"}, {2}}});
  sink.add_batch(1, std::vector<Count>{{{"click"}, {3}}, {{"view"}, {2}}, {{"buy"}, {1}}});
  const std::vector<Count> last{{{"click"}, {5}}, {{"view"}, {4}}, {{"buy"}, {1}}};
  sink.add_batch(2, last);

  // Version 2 removes the one file of version 1 and adds its own.
  int removes = 0, adds = 0;
  for (const auto& a : sl::delta::read_commit(table, 2)) {
    removes += std::holds_alternative<sl::delta::remove_action>(a);
    adds += std::holds_alternative<sl::delta::add_action>(a);
  }
  CHECK(removes == 1);
  CHECK(adds == 1);
  CHECK(sl::delta::load_snapshot(table).files.size() == 1);

  write_expected(dir / "expected.jsonl", last);
  const auto r = python("verify_table.py", q(table) + " --expected " + q(dir / "expected.jsonl") +
                                               " --app-id query-complete --txn 2 --version 2");
  INFO(r.out);
  CHECK(r.status == 0);
}

TEST_CASE("delta sink partition_by writes escaped Hive directories that readers decode") {
  const auto dir = scratch("partition");
  const auto table = dir / "events";
  auto sink = bound<Event>(table, {.partition_by = {"event_type"}});
  sink.start({"query-part", "", sl::output_mode_kind::append});
  const std::vector<std::string> types{"click", "a/b", "x:y=z", "100%", "with space", "ünï", "#h?", ""};
  std::vector<Event> rows;
  for (int i = 0; i < 40; ++i) rows.push_back(event(i, types[static_cast<std::size_t>(i) % types.size()]));
  sink.add_batch(0, rows);

  // On disk: Hive-escaped directory names; in the log: those names as URIs ("%" -> "%25").
  CHECK(fs::is_directory(table / "event_type=a%2Fb"));
  CHECK(fs::is_directory(table / "event_type=x%3Ay%3Dz"));
  CHECK(fs::is_directory(table / "event_type=100%25"));
  CHECK(fs::is_directory(table / "event_type=with space"));
  CHECK(fs::is_directory(table / "event_type=__HIVE_DEFAULT_PARTITION__"));
  std::set<std::string> paths;
  for (const auto& a : sl::delta::read_commit(table, 0))
    if (const auto* add = std::get_if<sl::delta::add_action>(&a)) {
      paths.insert(add->path.substr(0, add->path.find('/')));
      CHECK(fs::exists(sl::delta::file_path_of(table, add->path)));
      if (add->path.starts_with("event_type=__HIVE_DEFAULT_PARTITION__")) CHECK(!add->partition_values.at("event_type"));
    }
  CHECK(paths.count("event_type=a%252Fb") == 1);
  CHECK(paths.count("event_type=with%20space") == 1);
  CHECK(paths.size() == types.size());

  // An empty string partition value is null in Delta (PROTOCOL.md, "Partition Value Serialization").
  std::vector<Event> expected;
  write_expected(dir / "expected.jsonl", rows);
  {
    std::ifstream in(dir / "expected.jsonl");
    std::string text, line;
    while (std::getline(in, line)) {
      const auto pos = line.find("\"event_type\":\"\"");
      if (pos != std::string::npos) line.replace(pos, 15, "\"event_type\":null");
      text += line + "\n";
    }
    std::ofstream(dir / "expected.jsonl") << text;
  }
  const auto r = python("verify_table.py", q(table) + " --expected " + q(dir / "expected.jsonl") +
                                               " --app-id query-part --txn 0 --partition-columns event_type");
  INFO(r.out);
  CHECK(r.status == 0);
}

TEST_CASE("delta sink refuses a table with an incompatible schema or other partition columns") {
  const auto dir = scratch("schema");
  const auto table = dir / "events";
  {
    auto sink = bound<Event>(table);
    sink.start({"query-schema", "", sl::output_mode_kind::append});
    sink.add_batch(0, events(0, 5));
  }
  auto wrong = bound<EventWithStringUser>(table);
  try {
    wrong.start({"query-schema-2", "", sl::output_mode_kind::append});
    FAIL("an incompatible schema was accepted");
  } catch (const sl::delta::delta_error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find(table.string()) != std::string::npos);
    CHECK(what.find("column 'user_id' is long in the table but string in the row type") != std::string::npos);
  }
  auto partitioned = bound<Event>(table, {.partition_by = {"event_type"}});
  CHECK_THROWS_WITH(partitioned.start({"query-schema-3", "", sl::output_mode_kind::append}),
                    Catch::Contains("the table is partitioned by [] but the sink by [event_type]"));
  CHECK_THROWS_WITH(bound<Event>(table, {.partition_by = {"nope"}}),
                    Catch::Contains("partition column 'nope' is not a column of the row type"));
  CHECK(sl::delta::latest_version(table) == 0);  // nothing was written
}

TEST_CASE("delta sink writes every supported column type so that delta-rs and DuckDB read it back") {
  const auto dir = scratch("types");
  const auto table = dir / "types";
  std::vector<AllTypes> rows;
  for (int i = 0; i < 12; ++i) {
    AllTypes t;
    t.flag = i % 2 == 0;
    t.i8 = static_cast<std::int8_t>(-100 + i);
    t.i16 = static_cast<std::int16_t>(-30000 + i);
    t.i32 = -2'000'000'000 + i;
    t.i64 = (std::int64_t{1} << 62) + i;
    t.u8 = static_cast<std::uint8_t>(250 + i % 5);
    t.u16 = static_cast<std::uint16_t>(65530 + i % 5);
    t.u32 = 4'000'000'000u + static_cast<std::uint32_t>(i);
    t.f32 = 0.5f * static_cast<float>(i);
    t.f64 = -1.0 / (i + 1);
    t.text = i == 3 ? std::string("quote \" backslash \\ newline \n ünïcödé") : "text" + std::to_string(i);
    t.ts = sl::timestamp{T0 + i * 123'457};  // microseconds survive
    if (i % 3) t.maybe_long = -i;
    if (i % 2) t.maybe_text = "m" + std::to_string(i);
    if (i % 4) t.maybe_ts = sl::timestamp{-86'400'000'000LL * 365 + i};  // before the epoch
    t.window = {sl::timestamp{T0}, sl::timestamp{T0 + 300'000'000}};
    t.point = {i, i % 2 ? std::optional<std::string>("p") : std::nullopt};
    if (i % 3 == 0) t.maybe_point = Point{-i, "q"};
    for (int k = 0; k < i % 4; ++k) t.longs.push_back(k * 1000);
    if (i % 2) t.texts = {"a", "b" + std::to_string(i)};
    rows.push_back(std::move(t));
  }
  auto sink = bound<AllTypes>(table, {.codec = sl::delta::compression::zstd, .row_group_size = 5});
  sink.start({"query-types", "", sl::output_mode_kind::append});
  sink.add_batch(0, rows);

  const auto snap = sl::delta::load_snapshot(table);
  const auto schema = boost::json::parse(snap.metadata.schema_string);
  const auto& fields = schema.at("fields").as_array();
  CHECK(fields.at(7).at("type").as_string() == "long");  // uint32 widened, as codec/spark_schema.hpp maps it
  CHECK(fields.at(15).at("type").at("fields").at(0).at("type").as_string() == "timestamp");
  CHECK(snap.files.begin()->first.ends_with(".c000.zstd.parquet"));

  write_expected(dir / "expected.jsonl", rows);
  const auto r = python("verify_table.py", q(table) + " --expected " + q(dir / "expected.jsonl") +
                                               " --app-id query-types --txn 0");
  INFO(r.out);
  CHECK(r.status == 0);
}

TEST_CASE("delta sink writes a checkpoint and _last_checkpoint every 10 versions") {
  const auto dir = scratch("checkpoint");
  const auto table = dir / "events";
  std::vector<Event> all;
  {
    auto sink = bound<Event>(table, {.partition_by = {"event_type"}});
    sink.start({"query-cp", "", sl::output_mode_kind::append});
    for (int b = 0; b < 23; ++b) {
      const auto rows = events(b * 5, b * 5 + 5);
      sink.add_batch(b, rows);
      all.insert(all.end(), rows.begin(), rows.end());
    }
  }
  const auto log = table / "_delta_log";
  CHECK(fs::exists(log / sl::delta::checkpoint_file_name(10)));
  CHECK(fs::exists(log / sl::delta::checkpoint_file_name(20)));
  CHECK(!fs::exists(log / sl::delta::checkpoint_file_name(22)));
  const auto last = boost::json::parse(read_text(log / "_last_checkpoint"));
  CHECK(last.at("version").as_int64() == 20);
  CHECK(last.at("numOfAddFiles").as_int64() == 21 * 3);  // 21 batches, 3 partitions each

  // A restarted sink reads the table (through the checkpoint once the reader has one) and goes on.
  auto again = bound<Event>(table, {.partition_by = {"event_type"}});
  again.start({"query-cp", "", sl::output_mode_kind::append});
  again.add_batch(22, events(110, 115));  // already there: skipped
  const auto rows = events(115, 120);
  again.add_batch(23, rows);
  all.insert(all.end(), rows.begin(), rows.end());
  CHECK(again.commits() == 1);

  write_expected(dir / "expected.jsonl", all);
  const auto r = python("verify_table.py", q(table) + " --expected " + q(dir / "expected.jsonl") +
                                               " --app-id query-cp --txn 23 --version 23 --min-checkpoint 20");
  INFO(r.out);
  CHECK(r.status == 0);
  // delta-rs reads the table from our checkpoint: drop the JSON commits it covers from a copy.
  const auto copy = dir / "copy";
  fs::copy(table, copy, fs::copy_options::recursive);
  for (int v = 0; v <= 20; ++v) fs::remove(copy / "_delta_log" / sl::delta::commit_file_name(v));
  const auto rc = python("verify_checkpoint.py", q(copy) + " --expected " + q(dir / "expected.jsonl") +
                                                    " --app-id query-cp --txn 23 --version 23");
  INFO(rc.out);
  CHECK(rc.status == 0);
}

TEST_CASE("delta sink: concurrent writers on one table each commit every batch once") {
  const auto dir = scratch("concurrent");
  const auto table = dir / "events";
  // Create the table first (two writers racing to create it is also handled, but the
  // partition layout would then be whoever wins).
  {
    auto init = bound<Event>(table);
    init.start({"query-init", "", sl::output_mode_kind::append});
    init.add_batch(0, events(0, 1));
  }
  std::vector<Event> all = events(0, 1);
  std::atomic<int> failures{0};
  auto writer = [&](std::string id, int base) {
    try {
      auto sink = bound<Event>(table, {.checkpoint_interval = 7, .max_commit_attempts = 100});
      sink.start({id, "", sl::output_mode_kind::append});
      for (int b = 0; b < 15; ++b) sink.add_batch(b, events(base + b * 3, base + b * 3 + 3));
    } catch (const std::exception& e) {
      UNSCOPED_INFO(e.what());
      ++failures;
    }
  };
  std::thread a(writer, "writer-a", 1000), b(writer, "writer-b", 2000);
  a.join();
  b.join();
  CHECK(failures == 0);
  auto ra = events(1000, 1045), rb = events(2000, 2045);
  all.insert(all.end(), ra.begin(), ra.end());
  all.insert(all.end(), rb.begin(), rb.end());
  write_expected(dir / "expected.jsonl", all);
  auto r = python("verify_table.py", q(table) + " --expected " + q(dir / "expected.jsonl") +
                                         " --app-id writer-a --txn 14 --version 30");
  INFO(r.out);
  CHECK(r.status == 0);
  r = python("verify_table.py", q(table) + " --app-id writer-b --txn 14");
  INFO(r.out);
  CHECK(r.status == 0);
}

// Hidden (run as the CTest test delta.spark): Apache Spark with delta-spark reads the table a
// checkpointed sluice query wrote, and finds the query's txn at the last batch id.
TEST_CASE("delta sink output read by Apache Spark with delta-spark", "[.spark]") {
  const auto dir = scratch("spark");
  const auto table = dir / "events";
  const auto checkpoint = (dir / "checkpoint").string();
  std::vector<Event> all;
  sl::memory_stream<Event> input;
  auto query = sl::start(input | sl::delta::sink(table, {.partition_by = {"event_type"}}), sl::output_mode::append,
                     {.checkpoint = checkpoint});
  for (int b = 0; b < 4; ++b) {
    auto rows = events(b * 25, b * 25 + 25);
    rows[0].event_type = "a/b c%";  // an escaped partition directory
    input.add_data(rows);
    query.process_all_available();
    all.insert(all.end(), rows.begin(), rows.end());
  }
  REQUIRE(query.last_progress());
  const auto last_batch = query.last_progress()->batch_id;
  const auto query_id = query.id();
  query.stop();
  write_expected(dir / "expected.jsonl", all);
  const char* ivy = std::getenv("SLUICE_SPARK_IVY");
  const auto r = python("spark_verify.py", q(table) + " --expected " + q(dir / "expected.jsonl") + " --app-id " +
                                               query_id + " --txn " + std::to_string(last_batch) +
                                               (ivy ? " --ivy " + q(ivy) : std::string()));
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(r.out.find("\"spark_rows\": 100") != std::string::npos);
}

TEST_CASE("delta sink splits a batch into files at target_file_size, each with its own stats") {
  const auto dir = scratch("split");
  const auto table = dir / "events";
  // A file is closed after the row group that reaches the target: with a 1-byte target, every
  // row group (10 rows) is a file.
  auto sink = bound<Event>(table, {.target_file_size = 1, .row_group_size = 10});
  sink.start({"query-split", "", sl::output_mode_kind::append});
  const auto rows = events(0, 35);
  sink.add_batch(0, rows);
  const auto snap = sl::delta::load_snapshot(table);
  REQUIRE(snap.files.size() == 4);
  std::int64_t total = 0;
  for (const auto& [path, add] : snap.files) total += sl::delta::parse_stats(*add.stats, path).num_records;
  CHECK(total == 35);
  write_expected(dir / "expected.jsonl", rows);
  const auto r = python("verify_table.py", q(table) + " --expected " + q(dir / "expected.jsonl") +
                                               " --app-id query-split --txn 0 --version 0");
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(r.out.find("\"files\": 4") != std::string::npos);
}

TEST_CASE("delta sink through the engine in complete mode holds the latest aggregation result") {
  const auto dir = scratch("engine-complete");
  const auto table = dir / "counts";
  sl::memory_stream<Event> input;
  auto query = sl::start(input | sl::group_by(sl::col<"event_type">) |
                             sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"value">).as<"total">()) |
                             sl::delta::sink(table),
                         sl::output_mode::complete);
  input.add_data(events(0, 30));
  query.process_all_available();
  input.add_data(events(30, 45));
  query.process_all_available();
  REQUIRE(query.last_progress());
  const auto last_batch = query.last_progress()->batch_id;
  const auto query_id = query.id();
  query.stop();
  // Expected: counts and sums per type over all 45 events.
  std::map<std::string, std::pair<std::int64_t, double>> expected;
  for (const auto& e : events(0, 45)) {
    expected[e.event_type].first += 1;
    expected[e.event_type].second += e.value;
  }
  {
    std::ofstream out(dir / "expected.jsonl");
    for (const auto& [type, v] : expected)
      out << "{\"event_type\":\"" << type << "\",\"n\":" << v.first << ",\"total\":" << v.second << "}\n";
  }
  CHECK(sl::delta::load_snapshot(table).files.size() == 1);  // each batch replaced the previous files
  const auto r = python("verify_table.py", q(table) + " --expected " + q(dir / "expected.jsonl") + " --app-id " +
                                               query_id + " --txn " + std::to_string(last_batch));
  INFO(r.out);
  CHECK(r.status == 0);
}

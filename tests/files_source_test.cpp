// sluice/sources/files.hpp: sl::files::json_lines<T> and sl::files::csv<T> over a directory
// (Spark's FileStreamSource), run through the real engine: files moved in while a query
// runs, max_files_per_trigger, latest_first, max_file_age, glob and hidden names,
// available-now, bad records (fail with file:line, skip, dead letters byte for byte), CSV
// quoting and headers, and the source log across queries.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace files_source_test {

struct Event {
  std::string event_id;
  sl::timestamp timestamp;
  std::int64_t user_id = 0;
  std::string event_type;
  double value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_id, timestamp, user_id, event_type, value))

struct Person {
  std::string name;
  std::int64_t age = 0;
  std::optional<std::string> email;
  std::optional<double> score;
};
BOOST_DESCRIBE_STRUCT(Person, (), (name, age, email, score))

const sl::timestamp t0 = *sl::parse_timestamp("2024-01-15T10:30:00Z");

std::string ev(const std::string& id, std::int64_t user = 1, const std::string& type = "click", double value = 1.5) {
  return R"({"event_id":")" + id + R"(","timestamp":"2024-01-15T10:30:00Z","user_id":)" + std::to_string(user) +
         R"(,"event_type":")" + type + R"(","value":)" + std::to_string(value) + "}";
}
std::string ev_csv(const std::string& id, std::int64_t user = 1) {
  return id + ",2024-01-15T10:30:00Z," + std::to_string(user) + ",click,1.5";
}

// A scratch directory per test: `in/` is watched, `staging/` is where files are written
// before they are renamed into `in/` (how producers must add files).
struct scratch {
  fs::path root;
  explicit scratch(std::string_view tag) {
    static std::atomic<int> counter{0};
    std::random_device rd;
    root = fs::temp_directory_path() / ("sluice-files-source-" + std::string(tag) + "-" + std::to_string(::getpid()) +
                                        "-" + std::to_string(counter++) + "-" + std::to_string(rd()));
    fs::create_directories(root / "in");
    fs::create_directories(root / "staging");
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;

  fs::path in() const { return root / "in"; }
  fs::path path(std::string_view name) const { return in() / name; }
  // Writes `bytes` under staging/ and renames the file into in/; `age` sets its mtime back.
  fs::path put(std::string_view name, std::string_view bytes, std::optional<std::chrono::seconds> age = {}) const {
    const fs::path tmp = root / "staging" / name;
    {
      std::ofstream out(tmp, std::ios::binary);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    if (age) fs::last_write_time(tmp, fs::file_time_type::clock::now() - *age);
    fs::rename(tmp, in() / name);
    return in() / name;
  }
};

std::string lines(std::initializer_list<std::string> ls) {
  std::string out;
  for (const auto& l : ls) out += l + "\n";
  return out;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

std::vector<std::string> ids(const std::vector<Event>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.event_id);
  return out;
}

std::vector<std::int64_t> input_rows_per_batch(const sl::streaming_query& q) {
  std::vector<std::int64_t> out;
  for (const auto& p : q.recent_progress()) out.push_back(p.num_input_rows);
  return out;
}

// Runs `src` with trigger available-now into a memory sink; returns the rows.
template <class Row, class Src>
std::vector<Row> run_available_now(Src src, std::vector<std::int64_t>* per_batch = nullptr) {
  sl::memory_sink<Row> sink;
  auto q = sl::start(src | sink, sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  q.await_termination();
  if (per_batch) *per_batch = input_rows_per_batch(q);
  return sink.rows();
}

// Runs `src` with trigger available-now and expects it to fail; returns the error message.
template <class Row, class Src>
std::string failure_of(Src src) {
  sl::memory_sink<Row> sink;
  auto q = sl::start(src | sink, sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  std::string message;
  try {
    q.await_termination();
  } catch (const sl::streaming_query_error& e) {
    message = e.what();
  }
  REQUIRE(q.exception().has_value());
  CHECK(std::string(q.exception()->what()) == message);
  return message;
}

// Every row of a source, read through its own API (no engine).
template <class Row, class Src>
std::vector<Row> read_batch(Src& src, sl::files::offset from, sl::files::offset to) {
  std::vector<Row> rows;
  for (const auto& p : src.partitions(from, to)) src.read(p, [&](Row r) { rows.push_back(std::move(r)); });
  return rows;
}

}  // namespace files_source_test

using namespace files_source_test;

// ---------------------------------------------------------------- picking files up
TEST_CASE("files source: json lines files moved in while the query runs are picked up", "[files]") {
  scratch s("live");
  s.put("a.json", lines({ev("a1"), ev("a2")}));
  sl::memory_sink<Event> sink;
  auto q = sl::start(sl::files::json_lines<Event>(s.in()) | sink, sl::output_mode::append);
  q.process_all_available();
  CHECK(ids(sink.rows()) == std::vector<std::string>{"a1", "a2"});

  // A writer that writes in place uses a hidden name until the file is complete.
  {
    std::ofstream(s.path(".b.json.inprogress")) << ev("b1") << "\n";
  }
  q.process_all_available();
  CHECK(sink.rows().size() == 2);
  fs::rename(s.path(".b.json.inprogress"), s.path("b.json"));
  q.process_all_available();
  CHECK(ids(sink.rows()) == std::vector<std::string>{"a1", "a2", "b1"});

  s.put("c.json", lines({ev("c1")}));
  q.process_all_available();
  CHECK(ids(sink.rows()) == std::vector<std::string>{"a1", "a2", "b1", "c1"});
  // Each file was read once: three batches, and nothing new since.
  CHECK(input_rows_per_batch(q) == std::vector<std::int64_t>{2, 1, 1});
  const auto last = q.last_progress();
  REQUIRE(last);
  REQUIRE(last->sources.size() == 1);
  CHECK(last->sources[0].description == "FileStreamSource[" + s.in().string() + "]");
  CHECK(sl::json_text(last->sources[0].start_offset) == R"({"batch":1})");
  CHECK(sl::json_text(last->sources[0].end_offset) == R"({"batch":2})");
  q.stop();
  CHECK_FALSE(q.exception());
}

TEST_CASE("files source: max_files_per_trigger takes files oldest first in batches", "[files]") {
  scratch s("maxfiles");
  for (int i = 0; i < 5; ++i)
    s.put("f" + std::to_string(i) + ".json", lines({ev("f" + std::to_string(i) + "a"), ev("f" + std::to_string(i) + "b")}),
          std::chrono::seconds(100 - i * 10));  // f0 is the oldest
  std::vector<std::int64_t> per_batch;
  const auto rows = run_available_now<Event>(sl::files::json_lines<Event>(s.in(), {.max_files_per_trigger = 2}), &per_batch);
  CHECK(per_batch == std::vector<std::int64_t>{4, 4, 2});
  CHECK(ids(rows) == std::vector<std::string>{"f0a", "f0b", "f1a", "f1b", "f2a", "f2b", "f3a", "f3b", "f4a", "f4b"});

  // Trigger once ignores the limit: one batch with every file.
  scratch s2("maxfiles-once");
  for (int i = 0; i < 3; ++i) s2.put("g" + std::to_string(i) + ".json", lines({ev("g")}));
  sl::memory_sink<Event> sink;
  auto q = sl::start(sl::files::json_lines<Event>(s2.in(), {.max_files_per_trigger = 1}) | sink, sl::output_mode::append,
                     {.trigger = sl::trigger::once()});
  q.await_termination();
  CHECK(input_rows_per_batch(q) == std::vector<std::int64_t>{3});
}

TEST_CASE("files source: latest_first takes the newest files first", "[files]") {
  scratch s("latest");
  s.put("old.json", lines({ev("old")}), 3h);
  s.put("mid.json", lines({ev("mid")}), 2h);
  s.put("new.json", lines({ev("new")}), 1h);
  std::vector<std::int64_t> per_batch;
  const auto rows = run_available_now<Event>(
      sl::files::json_lines<Event>(s.in(), {.max_files_per_trigger = 1, .latest_first = true}), &per_batch);
  CHECK(ids(rows) == std::vector<std::string>{"new", "mid", "old"});
  CHECK(per_batch == std::vector<std::int64_t>{1, 1, 1});
  // Without latest_first: oldest first.
  scratch s2("oldest");
  s2.put("b-old.json", lines({ev("old")}), 3h);
  s2.put("a-new.json", lines({ev("new")}), 1h);
  CHECK(ids(run_available_now<Event>(sl::files::json_lines<Event>(s2.in(), {.max_files_per_trigger = 1}))) ==
        std::vector<std::string>{"old", "new"});
}

TEST_CASE("files source: max_file_age ignores files older than the newest taken, after the first batch", "[files]") {
  scratch s("age");
  // The first batch takes every file, however old (Spark's rule).
  s.put("ancient.json", lines({ev("ancient")}), std::chrono::hours(24 * 30));
  s.put("fresh.json", lines({ev("fresh")}));
  sl::memory_sink<Event> sink;
  auto q = sl::start(sl::files::json_lines<Event>(s.in(), {.max_file_age = 24h}) | sink, sl::output_mode::append);
  q.process_all_available();
  CHECK(ids(sink.rows()) == std::vector<std::string>{"ancient", "fresh"});
  // Later, a file more than a day older than the newest file taken is ignored.
  s.put("late.json", lines({ev("late")}), std::chrono::hours(48));
  s.put("recent.json", lines({ev("recent")}), std::chrono::hours(2));
  q.process_all_available();
  CHECK(ids(sink.rows()) == std::vector<std::string>{"ancient", "fresh", "recent"});
  q.stop();
}

TEST_CASE("files source: glob selects names and hidden or temporary files are ignored", "[files]") {
  scratch s("glob");
  s.put("a.json", lines({ev("a")}));
  s.put("b.txt", lines({ev("b")}));
  s.put(".c.json", lines({ev("c")}));
  s.put("_d.json", lines({ev("d")}));
  s.put("e.json._COPYING_", lines({ev("e")}));
  fs::create_directories(s.in() / "sub.json");  // a directory: not read, not recursed into
  {
    std::ofstream(s.in() / "sub.json" / "f.json") << ev("f") << "\n";
  }
  CHECK(ids(run_available_now<Event>(sl::files::json_lines<Event>(s.in(), {.glob = "*.json"}))) ==
        std::vector<std::string>{"a"});
  CHECK(ids(run_available_now<Event>(sl::files::json_lines<Event>(s.in()))).size() == 2);  // a.json, b.txt
  CHECK(ids(run_available_now<Event>(sl::files::json_lines<Event>(s.in(), {.glob = "[ab].*"}))).size() == 2);
  // A directory that does not exist (yet) has no files.
  CHECK(run_available_now<Event>(sl::files::json_lines<Event>(s.root / "missing")).empty());
}

TEST_CASE("files source: available-now takes the files present at start, in max_files_per_trigger slices", "[files]") {
  scratch s("availnow");
  for (int i = 0; i < 3; ++i) s.put("f" + std::to_string(i) + ".json", lines({ev("f" + std::to_string(i))}), std::chrono::seconds(30 - i));
  std::vector<std::int64_t> per_batch;
  const auto rows =
      run_available_now<Event>(sl::files::json_lines<Event>(s.in(), {.max_files_per_trigger = 1}), &per_batch);
  CHECK(per_batch == std::vector<std::int64_t>{1, 1, 1});
  CHECK(ids(rows) == std::vector<std::string>{"f0", "f1", "f2"});

  // The snapshot: a file that arrives after prepare_for_available_now is left for later.
  auto src = sl::files::json_lines<Event>(s.in(), {.max_files_per_trigger = 2});
  src.prepare_for_available_now();
  s.put("late.json", lines({ev("late")}));
  sl::files::offset at = src.initial_offset();
  std::vector<std::string> seen;
  while (true) {
    const auto next = src.latest_offset(at, sl::read_limit::source_default());
    if (next.batch == at.batch) break;
    for (const auto& r : read_batch<Event>(src, at, next)) seen.push_back(r.event_id);
    src.commit(next);
    at = next;
  }
  CHECK(at.batch == 1);  // two slices: 2 files, then 1
  CHECK(seen == std::vector<std::string>{"f0", "f1", "f2"});
}

// ---------------------------------------------------------------- files as they are
TEST_CASE("files source: empty files, blank lines, CRLF and a last line without a newline", "[files]") {
  scratch s("shapes");
  s.put("a-empty.json", "");
  s.put("b-blank.json", "\n\n  \n");
  s.put("c-crlf.json", ev("crlf1") + "\r\n\r\n" + ev("crlf2") + "\r\n");
  s.put("d-nonl.json", ev("nonl1") + "\n" + ev("nonl2"));
  s.put("e-bom.json", "\xEF\xBB\xBF" + ev("bom") + "\n");
  auto src = sl::files::json_lines<Event>(s.in());
  const auto rows = run_available_now<Event>(src);
  CHECK(ids(rows) == std::vector<std::string>{"crlf1", "crlf2", "nonl1", "nonl2", "bom"});
  CHECK(src.metrics().files_read == 5);
  CHECK(src.metrics().rows == 5);

  scratch c("csvshapes");
  c.put("a-empty.csv", "");
  c.put("b-header-only.csv", "event_id,timestamp,user_id,event_type,value\n");
  c.put("c.csv", ev_csv("x1") + "\r\n\r\n" + ev_csv("x2"));
  CHECK(ids(run_available_now<Event>(sl::files::csv<Event>(c.in(), {.glob = "c.csv"}))) ==
        std::vector<std::string>{"x1", "x2"});
  CHECK(run_available_now<Event>(sl::files::csv<Event>(c.in(), {.glob = "[ab]*", .header = true})).empty());
}

TEST_CASE("files source: a 10 MB line parses under the default max_line_bytes", "[files]") {
  scratch s("bigline");
  const std::string big(10u << 20, 'x');
  s.put("big.json", lines({ev("small1"), ev(big), ev("small2")}));
  const auto rows = run_available_now<Event>(sl::files::json_lines<Event>(s.in()));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].event_id == "small1");
  CHECK(rows[1].event_id == big);
  CHECK(rows[2].event_id == "small2");
  // And a CSV record of 10 MB, quoted, with newlines in it.
  scratch c("bigcsv");
  std::string field(10u << 20, 'y');
  field[100] = '\n';
  field[200] = ',';
  c.put("big.csv", "\"" + field + "\",2024-01-15T10:30:00Z,7,click,1\n" + ev_csv("after"));
  const auto crows = run_available_now<Event>(sl::files::csv<Event>(c.in()));
  REQUIRE(crows.size() == 2);
  CHECK(crows[0].event_id == field);
  CHECK(crows[0].user_id == 7);
  CHECK(crows[1].event_id == "after");
}

TEST_CASE("files source: json lines values, extra fields, optional fields and timestamps", "[files]") {
  scratch s("values");
  s.put("p.json", lines({R"({"name":"ann","age":41,"email":"a@x","score":2.5,"extra":{"deep":[1,2]}})",
                         R"({"name":"bob","age":7})", R"({"name":"cy","age":3,"email":null})"}));
  const auto rows = run_available_now<Person>(sl::files::json_lines<Person>(s.in()));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].email == "a@x");
  CHECK(rows[0].score == 2.5);
  CHECK_FALSE(rows[1].email);
  CHECK_FALSE(rows[2].email);

  scratch t("times");
  t.put("t.json", lines({R"({"event_id":"z","timestamp":"2024-01-15T11:30:00+01:00","user_id":1,"event_type":"v","value":1})",
                         R"({"event_id":"sp","timestamp":"2024-01-15 10:30:00.5","user_id":1,"event_type":"v","value":1})"}));
  const auto ts = run_available_now<Event>(sl::files::json_lines<Event>(t.in()));
  REQUIRE(ts.size() == 2);
  CHECK(ts[0].timestamp == t0);
  CHECK(ts[1].timestamp == t0 + 500ms);
}

// ---------------------------------------------------------------- bad records: fail
TEST_CASE("files source: bad json lines fail the query with file:line and the reason", "[files]") {
  struct bad_case {
    std::string line;
    std::string reason;
    std::size_t max_line_bytes = sl::files::default_max_line_bytes;
  };
  const std::vector<bad_case> cases = {
      {R"({"event_id":"a","timestamp":"2024-01-15T10:30:00Z","user_id":"u1","event_type":"v","value":1})",
       "field 'user_id': expected an integer, got a string"},
      {R"({"event_id":"a","timestamp":"2024-01-15T10:30:00Z","event_type":"v","value":1})",
       "field 'user_id': missing required field"},
      {R"({"event_id":"a","timestamp":"yesterday","user_id":1,"event_type":"v","value":1})",
       "field 'timestamp': 'yesterday' is not an ISO-8601 timestamp"},
      {R"({"event_id":"a","timestamp":"2024-01-15T10:30:00Z","user_id":1.5,"event_type":"v","value":1})",
       "field 'user_id': expected an integer, got a number"},
      {R"({"event_id":"a", "user_id":)", "malformed JSON: incomplete JSON (the line ends inside a value)"},
      {R"({"event_id":"a",})", "malformed JSON: syntax error at column 17"},
      {R"({"event_id":"a"} trailing)", "malformed JSON: extra data at column 18"},
      {R"([1,2,3])", "expected a JSON object, got an array"},
      {R"("just a string")", "expected a JSON object, got a string"},
      {"{\"event_id\":\"caf\xC3\x28\"}", "invalid UTF-8 (byte 0xC3 at column 17)"},
      {"{\"event_id\":\"\xED\xA0\x80\"}", "invalid UTF-8 (byte 0xED at column 14)"},  // a surrogate
      {ev(std::string(200, 'x')), "line longer than max_line_bytes (150)", 150},
  };
  for (const auto& c : cases) {
    INFO(c.reason);
    scratch s("fail");
    // Line 1 good, line 2 blank (counted), line 3 bad, line 4 good.
    s.put("batch_3.json", ev("ok") + "\n\n" + c.line + "\n" + ev("ok2") + "\n");
    const std::string message =
        failure_of<Event>(sl::files::json_lines<Event>(s.in(), {.max_line_bytes = c.max_line_bytes}));
    CHECK_THAT(message, Catch::Contains((s.in() / "batch_3.json").string() + ":3: " + c.reason));
  }
  // A reason quoting a long value is cut short.
  {
    scratch s("longreason");
    s.put("long.json", R"({"event_id":"a","timestamp":")" + std::string(5000, '9') +
                           R"(","user_id":1,"event_type":"v","value":1})" + "\n");
    const std::string message = failure_of<Event>(sl::files::json_lines<Event>(s.in()));
    CHECK_THAT(message, Catch::Contains("long.json:1: field 'timestamp': '9999"));
    CHECK_THAT(message, Catch::EndsWith("..."));
    CHECK(message.size() < 1500);
  }
  // The message is the one of the bad_record_error the source threw.
  scratch s("cause");
  s.put("x.json", R"({"event_id":1})");
  sl::memory_sink<Event> sink;
  auto q = sl::start(sl::files::json_lines<Event>(s.in()) | sink, sl::output_mode::append,
                     {.trigger = sl::trigger::available_now()});
  REQUIRE_THROWS_AS(q.await_termination(), sl::streaming_query_error);
  try {
    std::rethrow_exception(q.exception()->cause());
  } catch (const sl::files::bad_record_error& e) {
    CHECK(e.file() == (s.in() / "x.json").string());
    CHECK(e.line() == 1);
    CHECK(e.reason() == "field 'event_id': expected a string, got an integer");
  }
}

TEST_CASE("files source: bad csv records fail the query with file:line and the reason", "[files]") {
  struct bad_case {
    std::string record;
    std::string reason;
    std::size_t max_line_bytes = sl::files::default_max_line_bytes;
  };
  const std::vector<bad_case> cases = {
      {"a,2024-01-15T10:30:00Z,1,click", "expected 5 columns, got 4"},
      {"a,2024-01-15T10:30:00Z,1,click,1.5,extra", "expected 5 columns, got 6"},
      {"a,2024-01-15T10:30:00Z,u1,click,1.5", "field 'user_id': expected an integer, got 'u1' (column 3)"},
      {"a,2024-01-15T10:30:00Z,99999999999999999999,click,1.5",
       "field 'user_id': integer '99999999999999999999' out of range (column 3)"},
      {"a,2024-01-15T10:30:00Z,,click,1.5", "field 'user_id': empty value for a required field (column 3)"},
      {"a,2024-01-15T10:30:00Z,1,click,1.5x", "field 'value': expected a number, got '1.5x' (column 5)"},
      {"a,yesterday,1,click,1.5", "field 'timestamp': 'yesterday' is not an ISO-8601 timestamp (column 2)"},
      {"\"a\"b,2024-01-15T10:30:00Z,1,click,1.5", "unexpected character after the closing quote of column 1"},
      {"caf\xC3\x28,2024-01-15T10:30:00Z,1,click,1.5", "invalid UTF-8 (byte 0xC3 at column 4)"},
      {ev_csv(std::string(200, 'x')), "line longer than max_line_bytes (100)", 100},
  };
  for (const auto& c : cases) {
    INFO(c.reason);
    scratch s("csvfail");
    // Record 1 spans lines 1-3 (newlines inside quotes), line 4 is blank, the bad record is on line 5.
    s.put("batch_3.csv", "\"multi\nline\nid\",2024-01-15T10:30:00Z,1,click,1.5\n\n" + c.record + "\n" + ev_csv("ok") + "\n");
    const std::string message = failure_of<Event>(sl::files::csv<Event>(s.in(), {.max_line_bytes = c.max_line_bytes}));
    CHECK_THAT(message, Catch::Contains((s.in() / "batch_3.csv").string() + ":5: " + c.reason));
  }
  // An unterminated quote runs to the end of the file: the record is bad where it starts.
  scratch s("csvquote");
  s.put("q.csv", ev_csv("ok") + "\n\"open,2024-01-15T10:30:00Z,1,click,1.5\n" + ev_csv("swallowed") + "\n");
  CHECK_THAT(failure_of<Event>(sl::files::csv<Event>(s.in())),
             Catch::Contains((s.in() / "q.csv").string() + ":2: unterminated quoted field in column 1"));
}

// ---------------------------------------------------------------- bad records: skip, dead letter
TEST_CASE("files source: skip drops bad records and counts them", "[files]") {
  scratch s("skip");
  s.put("a.json", lines({ev("good1"), "{nope", R"({"event_id":"x"})", "[]", "caf\xC3\x28", ev("good2")}) + ev("good3"));
  auto src = sl::files::json_lines<Event>(s.in(), {.on_bad_record = sl::files::bad_record::skip});
  CHECK(ids(run_available_now<Event>(src)) == std::vector<std::string>{"good1", "good2", "good3"});
  CHECK(src.metrics().bad_records_skipped == 4);
  CHECK(src.metrics().bad_records_dead_lettered == 0);
  CHECK(src.metrics().rows == 3);

  scratch c("skipcsv");
  c.put("a.csv", lines({ev_csv("good1"), "a,b", ev_csv("bad") + ",extra", "x,2024-01-15T10:30:00Z,one,click,1", ev_csv("good2")}));
  auto csrc = sl::files::csv<Event>(c.in(), {.on_bad_record = sl::files::bad_record::skip, .max_line_bytes = 40});
  c.put("b.csv", lines({ev_csv(std::string(100, 'z')), ev_csv("good3")}));
  CHECK(ids(run_available_now<Event>(csrc)) == std::vector<std::string>{"good1", "good2", "good3"});
  CHECK(csrc.metrics().bad_records_skipped == 4);
}

TEST_CASE("files source: dead letters keep the bad lines byte for byte, with reasons", "[files]") {
  scratch s("dlq");
  const fs::path dlq = s.root / "dlq";
  const std::string utf8_bad = "{\"event_id\":\"caf\xC3\x28\",\"user_id\":1}";
  const std::string huge = "{\"event_id\":\"" + std::string(10u << 20, 'h') + "\"}";  // 10 MB over a 1 MB limit
  const std::string malformed = "{\"event_id\": \"a\",\r";                              // CR kept as it was
  const std::string last = R"({"event_id":"no newline at the end"})";
  s.put("in.json", ev("good1") + "\n" + utf8_bad + "\n" + huge + "\n" + ev("good2") + "\n" + malformed + "\n" + last);
  auto src = sl::files::json_lines<Event>(s.in(), {.on_bad_record = sl::files::dead_letter(dlq), .max_line_bytes = 1u << 20});
  CHECK(ids(run_available_now<Event>(src)) == std::vector<std::string>{"good1", "good2"});
  CHECK(src.metrics().bad_records_dead_lettered == 4);
  CHECK(read_bytes(dlq / "in.json.bad") == utf8_bad + "\n" + huge + "\n" + malformed + "\n" + last + "\n");

  std::vector<boost::json::object> reasons;
  {
    std::istringstream in(read_bytes(dlq / "in.json.bad.reasons"));
    for (std::string l; std::getline(in, l);) reasons.push_back(boost::json::parse(l).as_object());
  }
  REQUIRE(reasons.size() == 4);
  const std::string file = (s.in() / "in.json").string();
  CHECK(reasons[0].at("file").as_string() == file);
  CHECK(reasons[0].at("line").as_int64() == 2);
  CHECK(reasons[0].at("reason").as_string() == "invalid UTF-8 (byte 0xC3 at column 17)");
  CHECK(reasons[1].at("line").as_int64() == 3);
  CHECK(reasons[1].at("reason").as_string() ==
        "line of " + std::to_string(huge.size()) + " bytes is longer than max_line_bytes (1048576)");
  CHECK(reasons[2].at("line").as_int64() == 5);
  CHECK(std::string(reasons[2].at("reason").as_string()).starts_with("malformed JSON"));
  CHECK(reasons[3].at("line").as_int64() == 6);
  CHECK(reasons[3].at("reason").as_string() == "field 'timestamp': missing required field");
  // Nothing else in the dead-letter directory (no temporary files left behind).
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dlq)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"in.json.bad", "in.json.bad.reasons"});

  // CSV: a bad record spanning lines (a quoted newline) is copied whole; a good file has no dead letters.
  scratch c("dlqcsv");
  const fs::path cdlq = c.root / "dlq";
  const std::string multi = "\"two\nlines\",2024-01-15T10:30:00Z,1,click";  // 4 columns
  c.put("in.csv", ev_csv("good1") + "\n" + multi + "\n" + ev_csv("good2") + "\n");
  c.put("clean.csv", ev_csv("good3") + "\n");
  auto csrc = sl::files::csv<Event>(c.in(), {.on_bad_record = sl::files::dead_letter(cdlq)});
  CHECK(run_available_now<Event>(csrc).size() == 3);
  CHECK(read_bytes(cdlq / "in.csv.bad") == multi + "\n");
  CHECK_THAT(read_bytes(cdlq / "in.csv.bad.reasons"), Catch::Contains(R"("line":2,"reason":"expected 5 columns, got 4")"));
  CHECK_FALSE(fs::exists(cdlq / "clean.csv.bad"));
}

TEST_CASE("files source: oversize csv records are copied whole and lines counted past them", "[files]") {
  scratch s("dlqbigcsv");
  const fs::path dlq = s.root / "dlq";
  // 3 MB over a 1 MB limit, quoted, with newlines (and doubled quotes) inside: it spans
  // several reads; the bad record after it is still on the right line.
  std::string field;
  for (int i = 0; i < 30'000; ++i) field += i % 7 == 0 ? "line\n\"\"" + std::string(90, 'q') : std::string(100, 'q');
  const std::string big = "\"" + field + "\",2024-01-15T10:30:00Z,1,click,1.5";
  const std::int64_t newlines = std::count(big.begin(), big.end(), '\n');
  const std::string exact(1000, 'e');  // exactly max_line_bytes: not oversize, but 1 column
  s.put("big.csv", ev_csv("good1") + "\n" + big + "\n" + ev_csv("good2") + "\n" + exact + "\n" + exact + "e\n");
  auto src = sl::files::csv<Event>(s.in(), {.on_bad_record = sl::files::dead_letter(dlq), .max_line_bytes = 1000});
  CHECK(ids(run_available_now<Event>(src)) == std::vector<std::string>{"good1", "good2"});
  CHECK(read_bytes(dlq / "big.csv.bad") == big + "\n" + exact + "\n" + exact + "e\n");
  std::vector<boost::json::object> reasons;
  {
    std::istringstream in(read_bytes(dlq / "big.csv.bad.reasons"));
    for (std::string l; std::getline(in, l);) reasons.push_back(boost::json::parse(l).as_object());
  }
  REQUIRE(reasons.size() == 3);
  CHECK(reasons[0].at("line").as_int64() == 2);
  CHECK(reasons[0].at("reason").as_string() ==
        "line of " + std::to_string(big.size()) + " bytes is longer than max_line_bytes (1000)");
  CHECK(reasons[1].at("line").as_int64() == 4 + newlines);
  CHECK(reasons[1].at("reason").as_string() == "expected 5 columns, got 1");
  CHECK(reasons[2].at("line").as_int64() == 5 + newlines);
  CHECK(std::string(reasons[2].at("reason").as_string()).starts_with("line of 1001 bytes"));
}

TEST_CASE("files source: records across read boundaries round-trip", "[files]") {
  // About 4 MB of CSV and JSON lines: records and quoted fields (newlines, delimiters,
  // doubled quotes, multi-byte UTF-8) fall across the 1 MiB reads at every state.
  std::mt19937 rng(42);
  const std::vector<std::string> pieces = {"a", "b", ",", "\"", "\n", "\r\n", "\xC3\xA9", "\xF0\x9F\x98\x80", " ", "xyz"};
  std::vector<Person> people;
  std::string csv_text, json_text;
  std::size_t i = 0;
  while (csv_text.size() < (4u << 20)) {
    Person p;
    const auto n = rng() % 40;
    for (std::size_t k = 0; k < n; ++k) p.name += pieces[rng() % pieces.size()];
    p.age = static_cast<std::int64_t>(i++);
    if (rng() % 2) p.email = "e" + std::to_string(rng() % 1000);
    people.push_back(p);
    std::string quoted = "\"";
    for (char c : p.name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    quoted += "\"";
    csv_text += quoted + "," + std::to_string(p.age) + "," + (p.email ? *p.email : "") + ",\n";
    json_text += sl::to_json_string(p) + "\n";
  }
  scratch s("boundaries");
  s.put("people.csv", csv_text);
  s.put("people.json", json_text);
  const auto from_csv = run_available_now<Person>(sl::files::csv<Person>(s.in(), {.glob = "*.csv"}));
  const auto from_json = run_available_now<Person>(sl::files::json_lines<Person>(s.in(), {.glob = "*.json"}));
  REQUIRE(from_csv.size() == people.size());
  REQUIRE(from_json.size() == people.size());
  std::size_t mismatches = 0;
  for (std::size_t k = 0; k < people.size(); ++k) {
    const auto& want = people[k];
    for (const auto* got : {&from_csv[k], &from_json[k]})
      if (got->name != want.name || got->age != want.age || got->email != want.email || got->score) ++mismatches;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("files source: reading a file again replaces its dead letters instead of adding to them", "[files]") {
  scratch s("dlqagain");
  const fs::path dlq = s.root / "dlq";
  s.put("f.json", lines({ev("good"), "bad one", "bad two"}));
  auto src = sl::files::json_lines<Event>(s.in(), {.on_bad_record = sl::files::dead_letter(dlq)});
  const auto end = src.latest_offset(src.initial_offset(), sl::read_limit::source_default());
  REQUIRE(end.batch == 0);
  // The batch fails after its files were read (say, in the sink) and runs again.
  CHECK(read_batch<Event>(src, {-1}, end).size() == 1);
  CHECK(read_batch<Event>(src, {-1}, end).size() == 1);
  CHECK(read_bytes(dlq / "f.json.bad") == "bad one\nbad two\n");
  std::istringstream reasons(read_bytes(dlq / "f.json.bad.reasons"));
  int n = 0;
  for (std::string l; std::getline(reasons, l);) ++n;
  CHECK(n == 2);
}

// ---------------------------------------------------------------- CSV
TEST_CASE("files source: csv quoting after RFC 4180", "[files]") {
  scratch s("quoting");
  s.put("q.csv",
        "\"a,b\",30,x@y,1.5\n"                 // a delimiter inside quotes
        "\"he said \"\"hi\"\"\",31,,\n"         // doubled quotes; empty optionals
        "\"line1\nline2\r\nline3\",32,\"\",\n"  // newlines inside quotes; a quoted empty string
        "plain\"quote,33,,NaN\r\n"              // a quote inside an unquoted field is literal
        "\"\",34,,-inf");                       // a quoted empty name; no newline at the end
  const auto rows = run_available_now<Person>(sl::files::csv<Person>(s.in()));
  REQUIRE(rows.size() == 5);
  CHECK(rows[0].name == "a,b");
  CHECK(rows[0].email == "x@y");
  CHECK(rows[0].score == 1.5);
  CHECK(rows[1].name == "he said \"hi\"");
  CHECK_FALSE(rows[1].email);
  CHECK_FALSE(rows[1].score);
  CHECK(rows[2].name == "line1\nline2\r\nline3");
  CHECK(rows[2].email == "");
  CHECK(rows[3].name == "plain\"quote");
  REQUIRE(rows[3].score);
  CHECK(std::isnan(*rows[3].score));
  CHECK(rows[4].name.empty());
  CHECK(rows[4].age == 34);
  CHECK(rows[4].score == -std::numeric_limits<double>::infinity());

  // Another delimiter and quote character.
  scratch t("dialect");
  t.put("t.tsv", "'it''s; fine';40;;+2\n");
  const auto trows = run_available_now<Person>(sl::files::csv<Person>(t.in(), {.delimiter = ';', .quote = '\''}));
  REQUIRE(trows.size() == 1);
  CHECK(trows[0].name == "it's; fine");
  CHECK(trows[0].age == 40);
  CHECK(trows[0].score == 2);
}

TEST_CASE("files source: csv header matches columns by name", "[files]") {
  scratch s("header");
  // Another order, an extra column, an upper-case name, and the optional score column absent.
  s.put("a.csv", lines({"extra,AGE,email,name", "x,41,a@x,ann", "y,7,,bob"}));
  s.put("b.csv", lines({"name,age,score", "cy,3,0.5"}));
  const auto rows = run_available_now<Person>(sl::files::csv<Person>(s.in(), {.header = true}));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].name == "ann");
  CHECK(rows[0].age == 41);
  CHECK(rows[0].email == "a@x");
  CHECK_FALSE(rows[0].score);
  CHECK(rows[1].name == "bob");
  CHECK_FALSE(rows[1].email);
  CHECK(rows[2].score == 0.5);

  // A file whose header lacks a required column is an error naming the file.
  s.put("c.csv", lines({"name,email", "dee,d@x"}));
  const std::string message = failure_of<Person>(sl::files::csv<Person>(s.in(), {.glob = "c.csv", .header = true}));
  CHECK_THAT(message, Catch::Contains((s.in() / "c.csv").string() +
                                      ":1: the header has no column 'age' (a required field of the row type; header "
                                      "columns: name, email)"));
  // With a dead-letter directory the whole file goes there, header included.
  const fs::path dlq = s.root / "dlq";
  auto src = sl::files::csv<Person>(s.in(), {.glob = "c.csv", .on_bad_record = sl::files::dead_letter(dlq), .header = true});
  CHECK(run_available_now<Person>(src).empty());
  CHECK(read_bytes(dlq / "c.csv.bad") == "name,email\ndee,d@x\n");
  CHECK_THAT(read_bytes(dlq / "c.csv.bad.reasons"), Catch::Contains("not read: the file's header (line 1) is bad"));
  // Rows with another number of columns than the header are bad.
  s.put("d.csv", lines({"name,age", "eve,5,extra"}));
  CHECK_THAT(failure_of<Person>(sl::files::csv<Person>(s.in(), {.glob = "d.csv", .header = true})),
             Catch::Contains((s.in() / "d.csv").string() + ":2: expected 2 columns, got 3"));
}

// ---------------------------------------------------------------- the source log
TEST_CASE("files source: the source log keeps files taken across queries", "[files]") {
  scratch s("log");
  const fs::path log = s.root / "checkpoint" / "sources" / "0";
  s.put("a.json", lines({ev("a")}), 20s);
  s.put("b.json", lines({ev("b")}), 10s);
  {
    auto src = sl::files::json_lines<Event>(s.in(), {.max_files_per_trigger = 1});
    src.open({.query_id = "q", .index = 0, .checkpoint_dir = log});
    const auto first = src.latest_offset(src.initial_offset(), sl::read_limit::source_default());
    REQUIRE(first.batch == 0);
    CHECK(ids(read_batch<Event>(src, {-1}, first)) == std::vector<std::string>{"a"});
    src.commit(first);
    // Batch 1 is logged (b.json), but the query stops before it commits.
    CHECK(src.latest_offset(first, sl::read_limit::source_default()).batch == 1);
  }
  // The entries: JSON lines {path, size, mtime}, with the checkpoint's checksum trailer.
  REQUIRE(fs::exists(log / "0"));
  REQUIRE(fs::exists(log / "1"));
  const auto entry = boost::json::parse(sl::read_checkpoint_file(log / "0", "q")).as_object();
  CHECK(entry.at("path").as_string() == (s.in() / "a.json").string());
  CHECK(entry.at("size").as_int64() == static_cast<std::int64_t>(fs::file_size(s.in() / "a.json")));
  CHECK(entry.at("mtime").is_int64());

  s.put("c.json", lines({ev("c")}));
  {
    // A new query on the same log: batch 1 is re-run as logged (b.json only, though c.json is
    // there now), and a.json and b.json are never taken again.
    auto src = sl::files::json_lines<Event>(s.in());
    src.open({.query_id = "q", .index = 0, .checkpoint_dir = log});
    const auto again = src.latest_offset({0}, sl::read_limit::all_available());
    REQUIRE(again.batch == 1);
    CHECK(ids(read_batch<Event>(src, {0}, again)) == std::vector<std::string>{"b"});
    src.commit(again);
    const auto next = src.latest_offset(again, sl::read_limit::source_default());
    REQUIRE(next.batch == 2);
    CHECK(ids(read_batch<Event>(src, again, next)) == std::vector<std::string>{"c"});
    src.commit(next);
    CHECK(src.latest_offset(next, sl::read_limit::source_default()).batch == 2);
  }
  {
    // A source whose log ends before the query's offset is refused.
    auto src = sl::files::json_lines<Event>(s.in());
    src.open({.query_id = "q", .index = 0, .checkpoint_dir = s.root / "empty-log"});
    CHECK_THROWS_WITH(src.latest_offset({5}, sl::read_limit::source_default()), Catch::Contains("ends at -1"));
    // Without a checkpoint dir the log is in memory: everything is new again.
    src.open({});
    CHECK(ids(read_batch<Event>(src, {-1}, src.latest_offset({-1}, sl::read_limit::all_available()))).size() == 3);
  }
}

TEST_CASE("files source: a query restarted on its checkpoint does not read files again", "[files]") {
  scratch s("restart");
  const std::string checkpoint = (s.root / "checkpoint").string();
  s.put("a.json", lines({ev("a1"), ev("a2")}));
  {
    sl::memory_sink<Event> sink;
    auto q = sl::start(sl::files::json_lines<Event>(s.in()) | sink, sl::output_mode::append,
                       {.trigger = sl::trigger::available_now(), .checkpoint = checkpoint});
    q.await_termination();
    CHECK(ids(sink.rows()) == std::vector<std::string>{"a1", "a2"});
  }
  CHECK(fs::exists(fs::path(checkpoint) / "sources" / "0" / "0"));
  s.put("b.json", lines({ev("b1")}));
  sl::memory_sink<Event> sink;
  auto q = sl::start(sl::files::json_lines<Event>(s.in()) | sink, sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(), .checkpoint = checkpoint});
  q.await_termination();
  CHECK(ids(sink.rows()) == std::vector<std::string>{"b1"});
}

TEST_CASE("files source: options are checked", "[files]") {
  CHECK_THROWS_AS(sl::files::json_lines<Event>("in", {.max_files_per_trigger = -1}), std::invalid_argument);
  CHECK_THROWS_AS(sl::files::json_lines<Event>("in", {.glob = ""}), std::invalid_argument);
  CHECK_THROWS_AS(sl::files::json_lines<Event>("in", {.max_line_bytes = 0}), std::invalid_argument);
  CHECK_THROWS_AS(sl::files::json_lines<Event>("in", {.on_bad_record = sl::files::dead_letter("in/")}),
                  std::invalid_argument);
  CHECK_THROWS_AS(sl::files::csv<Event>("in", {.delimiter = '"'}), std::invalid_argument);
  CHECK_THROWS_AS(sl::files::csv<Event>("in", {.delimiter = '\n'}), std::invalid_argument);
}

// ---------------------------------------------------------------- the source log's compaction
namespace files_source_test {
std::vector<std::string> log_files(const fs::path& log) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(log))
    if (e.path().filename().string()[0] != '.') out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return std::stoll(a) != std::stoll(b) ? std::stoll(a) < std::stoll(b) : a < b;
  });
  return out;
}
std::vector<std::string> names(std::int64_t from, std::int64_t to) {
  std::vector<std::string> out;
  for (auto i = from; i <= to; ++i) out.push_back(std::to_string(i) + ((i + 1) % 10 == 0 ? ".compact" : ""));
  return out;
}
// `n` files e<first>.json .. (one event each, ids e<i>), mtimes increasing, renamed in.
void put_events(const scratch& s, int first, int n) {
  for (int i = first; i < first + n; ++i)
    s.put("e" + std::to_string(1000 + i) + ".json", lines({ev("e" + std::to_string(i))}),
          std::chrono::seconds(3600 - i));
}
std::vector<std::string> event_ids(int first, int n) {
  std::vector<std::string> out;
  for (int i = first; i < first + n; ++i) out.push_back("e" + std::to_string(i));
  return out;
}
std::vector<Event> run_one_file_batches(const scratch& s, const std::string& checkpoint,
                                        sl::duration cleanup_delay) {
  sl::memory_sink<Event> sink;
  auto q = sl::start(sl::files::json_lines<Event>(s.in(), {.max_files_per_trigger = 1,
                                                           .log_cleanup_delay = cleanup_delay}) |
                         sink,
                     sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(), .checkpoint = checkpoint, .min_batches_to_retain = 1});
  q.await_termination();
  return sink.rows();
}
}  // namespace files_source_test

TEST_CASE("files source: the source log is compacted every 10 batches and old entries deleted, as Spark's", "[files]") {
  scratch s("compact");
  const std::string checkpoint = (s.root / "checkpoint").string();
  const fs::path log = fs::path(checkpoint) / "sources" / "0";
  put_events(s, 0, 25);
  CHECK(ids(run_one_file_batches(s, checkpoint, 0s)) == event_ids(0, 25));
  // Batches 9 and 19 are compactions; after 19, entries before the compaction preceding the
  // last min_batches_to_retain (1) batches, 9, are deleted (Spark's deleteExpiredLog).
  auto expected = names(9, 24);
  CHECK(log_files(log) == expected);
  // A compact file holds every entry so far, each with its batch.
  const auto compact_file = sl::read_checkpoint_file(log / "19.compact");
  const std::string& compact = compact_file.content;
  const std::string& query_id = compact_file.query_id;  // the query that wrote the log
  std::vector<std::int64_t> batches;
  std::istringstream in(compact);
  for (std::string line; std::getline(in, line);) {
    const auto o = boost::json::parse(line).as_object();
    batches.push_back(o.at("batchId").as_int64());
    CHECK(o.at("path").as_string() == (s.in() / ("e" + std::to_string(1000 + batches.back()) + ".json")).string());
  }
  std::vector<std::int64_t> zero_to_19(20);
  for (int i = 0; i < 20; ++i) zero_to_19[static_cast<std::size_t>(i)] = i;
  CHECK(batches == zero_to_19);

  // The entries of one batch are found in its own file or in the compaction holding it.
  {
    auto src = sl::files::json_lines<Event>(s.in());
    src.open({.query_id = query_id, .index = 0, .checkpoint_dir = log, .min_batches_to_retain = 1});
    CHECK(ids(read_batch<Event>(src, {18}, {19})) == std::vector<std::string>{"e19"});  // 19.compact
    CHECK(ids(read_batch<Event>(src, {4}, {5})) == std::vector<std::string>{"e5"});     // 5 is gone: 9.compact
    CHECK(ids(read_batch<Event>(src, {21}, {22})) == std::vector<std::string>{"e22"});  // its own file
  }

  // A restart reads the latest compaction and the batches after it: nothing is read twice.
  put_events(s, 25, 6);
  CHECK(ids(run_one_file_batches(s, checkpoint, 0s)) == event_ids(25, 6));
  expected = names(19, 30);
  CHECK(log_files(log) == expected);
}

TEST_CASE("files source: a restart after a crash between a compaction and its deletions reads the compaction", "[files]") {
  scratch s("compact-crash");
  const std::string checkpoint = (s.root / "checkpoint").string();
  const fs::path log = fs::path(checkpoint) / "sources" / "0";
  put_events(s, 0, 25);
  // With the default cleanup delay (10 minutes) nothing is old enough to delete: the log is
  // what a crash right after writing 19.compact leaves (crash point file_source_log_compacted).
  CHECK(ids(run_one_file_batches(s, checkpoint, 10min)) == event_ids(0, 25));
  std::vector<std::string> expected;
  for (int i = 0; i < 25; ++i) {
    if (i == 9 || i == 19) expected.push_back(std::to_string(i) + ".compact");
    else expected.push_back(std::to_string(i));
  }
  CHECK(log_files(log) == expected);
  // Files a compaction supersedes are never read again: make one unreadable as JSON.
  { std::ofstream(log / "3", std::ios::trunc) << "not json\n"; }
  put_events(s, 25, 5);
  CHECK(ids(run_one_file_batches(s, checkpoint, 0s)) == event_ids(25, 5));
  // The next compaction (29) deletes them: before 19, the compaction preceding batch 29.
  expected = names(19, 29);
  CHECK(log_files(log) == expected);
  // A log that lacks a batch after its latest compaction is refused.
  const std::string query_id = sl::read_checkpoint_file(log / "29.compact").query_id;
  fs::remove(log / "29.compact");
  fs::remove(log / "25");
  auto src = sl::files::json_lines<Event>(s.in());
  CHECK_THROWS_WITH(src.open({.query_id = query_id, .index = 0, .checkpoint_dir = log}), Catch::Contains("lacks entry 25"));
}

// ---------------------------------------------------------------- files written in place
TEST_CASE("files source: a file that changes after it was read is reported in progress and as a warning", "[files]") {
  scratch s("in-place");
  const fs::path slow = s.path("slow.json");
  std::string all;
  for (int i = 0; i < 100; ++i) all += ev("s" + std::to_string(i)) + "\n";
  const std::size_t partial = all.find('\n', all.size() / 2) + 20;  // ten bytes into a line
  {
    std::ofstream out(slow, std::ios::binary);  // written in place, not renamed in
    out << all.substr(0, partial);
  }
  std::vector<std::string> warnings;
  const std::string checkpoint = (s.root / "checkpoint").string();
  auto start = [&](sl::memory_sink<Event>& sink, sl::files::bad_record_policy policy) {
    return sl::start(sl::files::json_lines<Event>(s.in(), {.on_bad_record = policy,
                                                           .on_warning = [&](const std::string& w) {
                                                             warnings.push_back(w);
                                                           }}) |
                         sink,
                     sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = checkpoint});
  };
  {
    // The file is taken as it is: its complete lines are rows; the partial last line (no
    // newline yet) is a record like any last line, here a bad one, skipped.
    sl::memory_sink<Event> sink;
    auto q = start(sink, sl::files::bad_record::skip);
    q.await_termination();
    const std::size_t complete = static_cast<std::size_t>(std::count(all.begin(), all.begin() + static_cast<long>(partial), '\n'));
    CHECK(sink.rows().size() == complete);
    CHECK(complete < 100);
    REQUIRE(q.last_progress());
    CHECK(q.last_progress()->sources.at(0).metrics.at("numFilesChangedAfterRead") == "0");
    CHECK(warnings.empty());
  }
  {
    std::ofstream out(slow, std::ios::binary | std::ios::app);  // the writer goes on
    out << all.substr(partial);
  }
  s.put("next.json", lines({ev("n1")}));
  {
    // The next run (after a restart here) sees the change: counted, and one warning naming the
    // file, its sizes and the rule. The rest of the file is not read.
    sl::memory_sink<Event> sink;
    auto q = start(sink, sl::files::bad_record::skip);
    q.await_termination();
    CHECK(ids(sink.rows()) == std::vector<std::string>{"n1"});
    REQUIRE(q.last_progress());
    CHECK(q.last_progress()->sources.at(0).metrics.at("numFilesChangedAfterRead") == "1");
    const auto json = boost::json::parse(q.last_progress()->json());
    CHECK(json.at("sources").at(0).at("metrics").at("numFilesChangedAfterRead").as_string() == "1");
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0], Catch::Contains(slow.string()) && Catch::Contains("changed after file batch 0") &&
                                Catch::Contains("size " + std::to_string(partial) + " -> " + std::to_string(all.size())) &&
                                Catch::Contains("rename them into the directory"));
  }
  {
    // Reported once: the same source object checks again and finds nothing new.
    auto src = sl::files::json_lines<Event>(s.in(), {.on_warning = [&](const std::string& w) { warnings.push_back(w); }});
    src.open({});
    const auto first = src.latest_offset(src.initial_offset(), sl::read_limit::all_available());
    std::ofstream(s.path("next.json"), std::ios::app) << ev("n2") << "\n";
    // Checked at most once a second (the first planning checked nothing: nothing was taken).
    CHECK(src.latest_offset(first, sl::read_limit::all_available()).batch == first.batch);
    CHECK(src.metrics().files_changed_after_read == 1);
    std::this_thread::sleep_for(1100ms);
    CHECK(src.latest_offset(first, sl::read_limit::all_available()).batch == first.batch);
    CHECK(src.metrics().files_changed_after_read == 1);
    CHECK(warnings.size() == 2);
  }
}

TEST_CASE("files source: a partial last line fails the batch with file:line under fail", "[files]") {
  scratch s("partial-line");
  const fs::path slow = s.path("slow.json");
  std::ofstream(slow, std::ios::binary) << ev("p1") << "\n" << ev("p2").substr(0, 25);
  const auto message = failure_of<Event>(sl::files::json_lines<Event>(s.in()));
  CHECK_THAT(message, Catch::Contains(slow.string() + ":2: "));
}

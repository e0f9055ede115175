// The exactly-once file sinks (sinks/files.hpp): layout and manifests, skipping committed
// batch ids (directly and across a restart), orphans, empty batches, and the written text
// checked by independent readers (Python's json and csv modules, when python3 is present).
#include <catch2/catch.hpp>

#include <boost/describe.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

namespace files_sink_test {
namespace sl = sluice;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Event {
  std::string event_id;
  sl::timestamp timestamp;
  std::int64_t user_id = 0;
  std::string event_type;
  double value = 0;
  friend bool operator==(const Event&, const Event&) = default;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_id, timestamp, user_id, event_type, value))

struct Note {
  std::int64_t id = 0;
  std::string text;
  std::optional<double> score;
  std::optional<std::string> tag;
  sl::timestamp at;
  bool flag = false;
  friend bool operator==(const Note&, const Note&) = default;
};
BOOST_DESCRIBE_STRUCT(Note, (), (id, text, score, tag, at, flag))

struct Nested {
  std::string name;
  std::vector<std::int64_t> values;
  std::optional<sl::time_window> window;
  std::vector<std::optional<double>> scores;
  float ratio = 0;
  friend bool operator==(const Nested&, const Nested&) = default;
};
BOOST_DESCRIBE_STRUCT(Nested, (), (name, values, window, scores, ratio))

// A fresh directory per test case, removed afterwards.
struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& tag) {
#ifdef SLUICE_TESTS_BINARY_DIR
    const fs::path base = fs::path(SLUICE_TESTS_BINARY_DIR) / "work";
#else
    const fs::path base = fs::temp_directory_path();
#endif
    path = base / ("files-sink-" + tag + "-" + sl::detail::random_uuid());
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& s) const { return path / s; }
};

Event ev(std::string id, std::chrono::seconds t, std::string type, double value) {
  return {std::move(id), sl::timestamp{std::chrono::sys_seconds(t)}, 7, std::move(type), value};
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// part-* data files in the directory (committed or not), by name.
std::vector<std::string> part_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.starts_with("part-") || name.starts_with(".part-")) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool have_python() {
  static const bool yes = std::system("python3 -c 'import csv, json' > /dev/null 2>&1") == 0;
  return yes;
}

// Runs a Python script with the data directory as argv[1]; returns its stdout parsed as JSON.
boost::json::value run_python(const fs::path& data_dir, const std::string& script, const std::string& args) {
  const auto script_path = fs::path(data_dir.string() + ".py");
  const auto out_path = fs::path(data_dir.string() + ".out.json");
  std::ofstream(script_path) << script;
  const std::string cmd =
      "python3 '" + script_path.string() + "' '" + data_dir.string() + "' " + args + " > '" + out_path.string() + "'";
  const int rc = std::system(cmd.c_str());
  const auto text = slurp(out_path);
  fs::remove(script_path);
  fs::remove(out_path);
  REQUIRE(rc == 0);
  return boost::json::parse(text);
}

// Independent readers: the manifests say which files count.
constexpr const char* python_manifest_files = R"(
import json, os, sys
def committed_files(d):
    meta = os.path.join(d, '_sluice_metadata')
    for b in sorted(int(n) for n in os.listdir(meta) if n.isdigit()):
        with open(os.path.join(meta, str(b)), encoding='utf-8') as f:
            lines = f.read().split('\n')
        assert lines[0] == 'v1', lines[0]
        for line in lines[1:]:
            if line:
                e = json.loads(line)
                p = os.path.join(d, e['path'])
                assert os.path.getsize(p) == e['size']
                yield p, e['rows']
)";

constexpr const char* python_json_reader = R"(
rows = []
for p, n in committed_files(sys.argv[1]):
    with open(p, encoding='utf-8') as f:
        got = [json.loads(line) for line in f.read().split('\n') if line]
    assert len(got) == n
    rows += got
json.dump(rows, sys.stdout)
)";

constexpr const char* python_csv_reader = R"(
import csv
header = sys.argv[2] == '1'
rows = []
for p, n in committed_files(sys.argv[1]):
    with open(p, newline='', encoding='utf-8') as f:
        got = list(csv.reader(f, delimiter=sys.argv[3], strict=True))
    if header:
        rows.append(got[0])
        got = got[1:]
    assert len(got) == n, (len(got), n)
    rows += got
json.dump(rows, sys.stdout)
)";

std::vector<Note> tricky_notes() {
  const sl::timestamp t{std::chrono::sys_seconds(1'705'314'600s) + 123ms};
  return {
      {1, "plain", 86.0, "a", t, true},
      {2, "comma, inside", std::nullopt, std::nullopt, t + 1s, false},
      {3, "say \"hi\"", 1e7, "", t + 2s, true},
      {4, "line\nbreak and\r\ncrlf", -0.5, "x;y", t + 3s, false},
      {5, "", 0.001, "\"", t + 4s, true},
      {6, "  spaces  ", 1.5e-5, "é ü 東京", t + 5s, false},
      {7, "semi;colon", 3.0, "trailing cr\r", t + 6s, true},
  };
}
}  // namespace files_sink_test

using namespace files_sink_test;

TEST_CASE("files sink: json lines rows land exactly once with one manifest per batch", "[files][sink]") {
  temp_dir dir("jsonl");
  sl::memory_stream<Event> in;
  auto q = sl::start(in | sl::files::json_lines_sink(dir.path), sl::output_mode::append);
  const std::vector<Event> first = {ev("e1", 10s, "click", 86.0), ev("e2", 11s, "view", 1.5)};
  const std::vector<Event> second = {ev("e3", 12s, "click", 1e7)};
  in.add_data(first);
  q.process_all_available();
  in.add_data(second);
  q.process_all_available();
  q.stop();

  const auto batches = sl::files::committed_batches(dir.path);
  REQUIRE(batches.size() == 2);
  CHECK(batches[0].batch_id == 0);
  CHECK(batches[1].batch_id == 1);
  REQUIRE(batches[0].files.size() == 1);
  REQUIRE(batches[1].files.size() == 1);
  CHECK(batches[0].files[0].rows == 2);
  CHECK(batches[1].files[0].rows == 1);
  for (const auto& b : batches) {
    const auto& f = b.files[0];
    const auto name = f.path.filename().string();
    CHECK(name.starts_with("part-0000" + std::to_string(b.batch_id) + "-"));
    CHECK(name.ends_with(".jsonl"));
    CHECK(name.size() == std::string("part-00000-").size() + 36 + std::string(".jsonl").size());
    CHECK(fs::file_size(f.path) == f.size);
  }
  // The manifest entry: a version line, then one JSON line per file, with a relative path.
  const auto manifest = lines_of(slurp(dir / "_sluice_metadata/0"));
  REQUIRE(manifest.size() == 2);
  CHECK(manifest[0] == "v1");
  const auto entry = boost::json::parse(manifest[1]).as_object();
  CHECK(entry.at("path").as_string() == batches[0].files[0].path.filename().string());
  CHECK(entry.at("size").to_number<std::uint64_t>() == batches[0].files[0].size);
  CHECK(entry.at("rows").to_number<std::int64_t>() == 2);
  CHECK(entry.size() == 3);

  // Each row is the JSON text sl::to_json_string writes (numbers as Spark writes them).
  const auto text = lines_of(slurp(batches[0].files[0].path));
  REQUIRE(text.size() == 2);
  CHECK(text[0] == sl::to_json_string(first[0]));
  CHECK(text[0] ==
        R"({"event_id":"e1","timestamp":"1970-01-01T00:00:10.000Z","user_id":7,"event_type":"click","value":86.0})");
  CHECK(lines_of(slurp(batches[1].files[0].path))[0].ends_with(R"("value":1.0E7})"));

  std::vector<Event> all = first;
  all.insert(all.end(), second.begin(), second.end());
  CHECK(sl::files::read_committed_json_lines<Event>(dir.path) == all);
  CHECK(sl::files::latest_committed_batch(dir.path) == std::optional<std::int64_t>(1));
  CHECK(part_files(dir.path).size() == 2);  // no temporaries left behind
}

TEST_CASE("files sink: a batch without rows commits a manifest entry without a data file", "[files][sink]") {
  temp_dir dir("empty");
  SECTION("through the engine: every row filtered out") {
    sl::memory_stream<Event> in;
    auto clicks = in | sl::filter([](const Event& e) { return e.event_type == "click"; });
    auto q = sl::start(clicks | sl::files::json_lines_sink(dir.path), sl::output_mode::append);
    in.add_data({ev("e1", 1s, "view", 1)});
    q.process_all_available();
    in.add_data({ev("e2", 2s, "click", 2)});
    q.process_all_available();
    q.stop();
    const auto batches = sl::files::committed_batches(dir.path);
    REQUIRE(batches.size() == 2);
    CHECK(batches[0].files.empty());
    CHECK(slurp(dir / "_sluice_metadata/0") == "v1\n");
    CHECK(batches[1].files.size() == 1);
    CHECK(part_files(dir.path).size() == 1);
    CHECK(sl::files::read_committed_json_lines<Event>(dir.path) == std::vector<Event>{ev("e2", 2s, "click", 2)});
  }
  SECTION("the bound sink on its own, CSV with a header") {
    auto sink = sl::files::csv_sink(dir.path, {.header = true}).bind<Event>();
    sink.add_batch(0, {});
    CHECK(slurp(dir / "_sluice_metadata/0") == "v1\n");
    CHECK(part_files(dir.path).empty());
    CHECK(sl::files::latest_committed_batch(dir.path) == std::optional<std::int64_t>(0));
    CHECK(sl::files::read_committed_csv<Event>(dir.path, {.header = true}).empty());
  }
}

TEST_CASE("files sink: a batch id already committed is skipped", "[files][sink]") {
  temp_dir dir("skip");
  const std::vector<Event> a = {ev("a", 1s, "click", 1)}, b = {ev("b", 2s, "click", 2)}, c = {ev("c", 3s, "view", 3)};
  auto sink = sl::files::json_lines_sink(dir.path).bind<Event>();
  sink.add_batch(0, a);
  sink.add_batch(0, a);  // offered again (a retried batch): nothing written
  sink.add_batch(0, b);  // even with other rows: batch 0 is committed
  CHECK(part_files(dir.path).size() == 1);

  // Another sink on the same directory (a restarted process) knows batch 0 from the manifest.
  auto restarted = sl::files::json_lines_sink(dir.path).bind<Event>();
  restarted.start({"query", "", sl::output_mode_kind::append});
  restarted.add_batch(0, b);
  restarted.add_batch(1, c);
  restarted.add_batch(1, c);
  CHECK(sl::files::read_committed_json_lines<Event>(dir.path) == std::vector<Event>{a[0], c[0]});
  CHECK(part_files(dir.path).size() == 2);
  // As Spark's file sink: an id at or below the latest committed one is skipped too.
  restarted.add_batch(0, c);
  CHECK(sl::files::committed_batches(dir.path).size() == 2);
  CHECK(sl::files::read_committed_json_lines<Event>(dir.path).size() == 2);
}

TEST_CASE("files sink: a query restarted from its checkpoint writes each row once", "[files][sink]") {
  temp_dir dir("restart");
  const auto out = dir / "out";
  const sl::query_options options{.checkpoint = (dir / "checkpoint").string()};
  const std::vector<Event> b0 = {ev("e0", 1s, "click", 1)}, b1 = {ev("e1", 2s, "view", 2), ev("e2", 3s, "click", 3)},
                           b2 = {ev("e3", 4s, "click", 4)}, b3 = {ev("e4", 5s, "view", 5)};
  sl::memory_stream<Event> in;
  {
    auto q = sl::start(in | sl::files::json_lines_sink(out), sl::output_mode::append, options);
    in.add_data(b0);
    q.process_all_available();
    in.add_data(b1);
    q.process_all_available();
    q.stop();
  }
  {  // a plain restart: batch ids go on from 2
    auto q = sl::start(in | sl::files::json_lines_sink(out), sl::output_mode::append, options);
    in.add_data(b2);
    q.process_all_available();
    q.stop();
  }
  REQUIRE(sl::files::committed_batches(out).size() == 3);
  // A crash after the sink committed batch 2 but before the checkpoint's commits/2: the
  // restarted query runs batch 2 again with the same rows; the sink skips it.
  REQUIRE(fs::remove(dir / "checkpoint/commits/2"));
  {
    auto q = sl::start(in | sl::files::json_lines_sink(out), sl::output_mode::append, options);
    q.process_all_available();
    in.add_data(b3);  // batch 3: new
    q.process_all_available();
    q.stop();
  }
  REQUIRE(fs::exists(dir / "checkpoint/commits/2"));
  std::vector<Event> all;
  for (const auto* b : {&b0, &b1, &b2, &b3}) all.insert(all.end(), b->begin(), b->end());
  CHECK(sl::files::read_committed_json_lines<Event>(out) == all);
  const auto batches = sl::files::committed_batches(out);
  REQUIRE(batches.size() == 4);
  CHECK(batches[3].batch_id == 3);
  CHECK(part_files(out).size() == 4);
}

TEST_CASE("files sink: orphan data files are ignored by readers and cleaned up", "[files][sink]") {
  temp_dir dir("orphans");
  const std::vector<Event> a = {ev("a", 1s, "click", 1)}, b = {ev("b", 2s, "click", 2)};
  sl::files::json_lines_sink(dir.path).bind<Event>().add_batch(0, a);
  // Files a crashed attempt left behind: a data file of the committed batch 0 that its
  // manifest does not list, a data file and a temporary of batch 1 (not committed yet).
  const auto garbage = R"({"event_id":"ghost","timestamp":"1970-01-01T00:00:09.000Z","user_id":7,"event_type":"x","value":9.0})"
                       "\n";
  const std::string orphan0 = "part-00000-" + sl::detail::random_uuid() + ".jsonl";
  const std::string orphan1 = "part-00001-" + sl::detail::random_uuid() + ".jsonl";
  const std::string temp1 = ".part-00001-" + sl::detail::random_uuid() + ".jsonl.tmp";
  for (const auto& name : {orphan0, orphan1, temp1}) std::ofstream(dir / name) << garbage;
  std::ofstream(dir / "_sluice_metadata/.0.4242.tmp") << "v1\n";  // a manifest temporary
  std::ofstream(dir / "notes.txt") << "not the sink's\n";
  std::ofstream(dir / "part-00001-not-a-uuid.jsonl") << "not the sink's either\n";

  // Readers only read what the manifests list.
  CHECK(sl::files::read_committed_json_lines<Event>(dir.path) == a);

  SECTION("deleted: at start when their batch is committed, after the commit otherwise") {
    auto sink = sl::files::json_lines_sink(dir.path).bind<Event>();
    sink.start({});
    CHECK_FALSE(fs::exists(dir / orphan0));
    CHECK_FALSE(fs::exists(dir / "_sluice_metadata/.0.4242.tmp"));
    CHECK(fs::exists(dir / orphan1));  // batch 1 is not committed: it might still be written
    CHECK(fs::exists(dir / temp1));
    sink.add_batch(1, b);  // a new attempt with a new uuid
    CHECK_FALSE(fs::exists(dir / orphan1));
    CHECK_FALSE(fs::exists(dir / temp1));
    CHECK(fs::exists(dir / "notes.txt"));
    CHECK(fs::exists(dir / "part-00001-not-a-uuid.jsonl"));
    CHECK(part_files(dir.path).size() == 3);  // two committed, the one with no uuid
  }
  SECTION("kept with delete_orphans = false, and still ignored") {
    auto sink = sl::files::json_lines_sink(dir.path, {.delete_orphans = false}).bind<Event>();
    sink.add_batch(1, b);
    CHECK(fs::exists(dir / orphan0));
    CHECK(fs::exists(dir / orphan1));
    CHECK(fs::exists(dir / temp1));
  }
  CHECK(sl::files::read_committed_json_lines<Event>(dir.path) == std::vector<Event>{a[0], b[0]});
  const auto batch1 = sl::files::committed_batches(dir.path).at(1);
  REQUIRE(batch1.files.size() == 1);
  CHECK(batch1.files[0].path.filename().string() != orphan1);
}

TEST_CASE("files sink: JSON lines text is sl::to_json_string's, read back by Python's json module", "[files][sink]") {
  temp_dir dir("pyjson");
  std::string control;
  for (int c = 1; c < 0x20; ++c) control += static_cast<char>(c);
  const std::vector<Nested> rows = {
      {"quote \" backslash \\ slash / " + control + " del \x7f é 東京", {1, -2, 3}, sl::time_window{}, {1.5, std::nullopt}, 1.1f},
      {"", {}, std::nullopt, {}, 0.25f},
  };
  auto sink = sl::files::json_lines_sink(dir.path, {.ignore_null_fields = false}).bind<Nested>();
  sink.add_batch(0, rows);
  auto text = lines_of(slurp(sl::files::committed_batches(dir.path).at(0).files.at(0).path));
  REQUIRE(text.size() == 2);
  // The same text as the JSON tree route, except floats keep their own digits (Spark: 1.1).
  auto expected0 = sl::to_json_string(rows[0]);
  const auto f = expected0.find("\"ratio\":");
  expected0 = expected0.substr(0, f) + "\"ratio\":1.1}";
  CHECK(text[0] == expected0);
  CHECK(text[1] == sl::to_json_string(rows[1]));
  CHECK(text[1].find(R"("window":null)") != std::string::npos);

  // Null fields are left out by default, as Spark's JSON writer does.
  temp_dir dir2("pyjson-nulls");
  sl::files::json_lines_sink(dir2.path).bind<Nested>().add_batch(0, rows);
  const auto text2 = lines_of(slurp(sl::files::committed_batches(dir2.path).at(0).files.at(0).path));
  CHECK(text2[1] == R"({"name":"","values":[],"scores":[],"ratio":0.25})");
  CHECK(text2[0].find(R"("scores":[1.5,null])") != std::string::npos);  // array elements stay
  const auto back = sl::files::read_committed_json_lines<Nested>(dir2.path);
  REQUIRE(back.size() == 2);
  CHECK(back[0] == rows[0]);
  CHECK(back[1] == rows[1]);

  // An independent reader: Python's json module, following the manifests itself.
  sl::memory_stream<Note> in;
  auto q = sl::start(in | sl::files::json_lines_sink(dir / "notes"), sl::output_mode::append);
  const auto notes = tricky_notes();
  in.add_data(std::vector<Note>(notes.begin(), notes.begin() + 3));
  q.process_all_available();
  in.add_data(std::vector<Note>(notes.begin() + 3, notes.end()));
  q.process_all_available();
  q.stop();
  CHECK(sl::files::read_committed_json_lines<Note>(dir / "notes") == notes);
  if (!have_python()) {
    WARN("python3 not found: the independent JSON check is skipped");
    return;
  }
  const auto py = run_python(dir / "notes", std::string(python_manifest_files) + python_json_reader, "");
  REQUIRE(py.as_array().size() == notes.size());
  for (std::size_t i = 0; i < notes.size(); ++i) {
    const auto& o = py.as_array()[i].as_object();
    INFO("row " << i);
    CHECK(o.at("id").to_number<std::int64_t>() == notes[i].id);
    CHECK(o.at("text").as_string() == notes[i].text);
    CHECK(o.contains("score") == notes[i].score.has_value());
    if (notes[i].score) CHECK(o.at("score").to_number<double>() == *notes[i].score);
    CHECK(o.contains("tag") == notes[i].tag.has_value());
    if (notes[i].tag) CHECK(o.at("tag").as_string() == *notes[i].tag);
    CHECK(sl::parse_timestamp(o.at("at").as_string()) == std::optional<sl::timestamp>(notes[i].at));
    CHECK(o.at("flag").as_bool() == notes[i].flag);
  }
}

TEST_CASE("files sink: CSV quoting round trip, checked with Python's csv module", "[files][sink]") {
  temp_dir dir("csv");
  const auto notes = tricky_notes();
  const bool header = GENERATE(false, true);
  const char delimiter = GENERATE(',', ';');
  INFO("header " << header << ", delimiter " << delimiter);
  const sl::files::csv_sink_options options{.header = header, .delimiter = delimiter};
  sl::memory_stream<Note> in;
  auto q = sl::start(in | sl::files::csv_sink(dir.path, options), sl::output_mode::append);
  in.add_data(std::vector<Note>(notes.begin(), notes.begin() + 4));
  q.process_all_available();
  in.add_data(std::vector<Note>(notes.begin() + 4, notes.end()));
  q.process_all_available();
  q.stop();

  const auto batches = sl::files::committed_batches(dir.path);
  REQUIRE(batches.size() == 2);
  const auto first_file = slurp(batches[0].files.at(0).path);
  const std::string d(1, delimiter);
  const std::string expected_first_row = "1" + d + "plain" + d + "86.0" + d + "a" + d + "2024-01-15T10:30:00.123Z" + d + "true\n";
  if (header) {
    CHECK(first_file.starts_with("id" + d + "text" + d + "score" + d + "tag" + d + "at" + d + "flag\n" + expected_first_row));
  } else {
    CHECK(first_file.starts_with(expected_first_row));
  }
  // RFC 4180 quoting; null is an empty field, an empty string "".
  // (the comma needs quotes only when it is the delimiter)
  const std::string comma_text = delimiter == ',' ? "\"comma, inside\"" : "comma, inside";
  CHECK(first_file.find("2" + d + comma_text + d + d + d) != std::string::npos);
  CHECK(first_file.find("3" + d + "\"say \"\"hi\"\"\"" + d + "1.0E7" + d + "\"\"" + d) != std::string::npos);
  CHECK(first_file.find("\"line\nbreak and\r\ncrlf\"") != std::string::npos);

  // sluice's reader, with the same options, gives back every row exactly, nulls included.
  CHECK(sl::files::read_committed_csv<Note>(dir.path, options) == notes);

  if (!have_python()) {
    WARN("python3 not found: the independent CSV check is skipped");
    return;
  }
  const auto py = run_python(dir.path, std::string(python_manifest_files) + python_csv_reader,
                             std::string(header ? "1" : "0") + " '" + d + "'");
  auto rows = py.as_array();
  if (header) {  // one header per file, first in it
    REQUIRE(rows.size() == notes.size() + 2);
    const boost::json::array names = {"id", "text", "score", "tag", "at", "flag"};
    CHECK(rows[0].as_array() == names);
    CHECK(rows[5].as_array() == names);
    rows.erase(rows.begin() + 5);
    rows.erase(rows.begin());
  }
  REQUIRE(rows.size() == notes.size());
  for (std::size_t i = 0; i < notes.size(); ++i) {
    INFO("row " << i);
    const auto& r = rows[i].as_array();
    REQUIRE(r.size() == 6);
    CHECK(r[0].as_string() == std::to_string(notes[i].id));
    CHECK(r[1].as_string() == notes[i].text);
    CHECK(r[2].as_string() == (notes[i].score ? sl::detail::java_floating_string(*notes[i].score) : ""));
    CHECK(r[3].as_string() == notes[i].tag.value_or(""));
    CHECK(sl::parse_timestamp(r[4].as_string()) == std::optional<sl::timestamp>(notes[i].at));
    CHECK(r[5].as_string() == (notes[i].flag ? "true" : "false"));
  }
}

TEST_CASE("files sink: CSV quote_all, line separator and max_rows_per_file", "[files][sink]") {
  temp_dir dir("csv-options");
  using R = sl::row<sl::field<"k", std::string>, sl::field<"n", std::int64_t>, sl::field<"x", std::optional<double>>>;
  std::vector<R> rows;
  for (int i = 0; i < 5; ++i)
    rows.push_back(R{{"k" + std::to_string(i)}, {i}, {i % 2 ? std::optional<double>(i * 0.5) : std::nullopt}});
  const sl::files::csv_sink_options options{
      .header = true, .quote_all = true, .line_separator = "\r\n", .max_rows_per_file = 2};
  auto sink = sl::files::csv_sink(dir.path, options).bind<R>();
  sink.add_batch(0, rows);
  const auto batches = sl::files::committed_batches(dir.path);
  REQUIRE(batches.size() == 1);
  REQUIRE(batches[0].files.size() == 3);  // 2 + 2 + 1 rows, each file with its header
  CHECK(batches[0].files[0].rows == 2);
  CHECK(batches[0].files[2].rows == 1);
  CHECK(slurp(batches[0].files[0].path) == "\"k\",\"n\",\"x\"\r\n\"k0\",\"0\",\r\n\"k1\",\"1\",\"0.5\"\r\n");
  CHECK(slurp(batches[0].files[2].path) == "\"k\",\"n\",\"x\"\r\n\"k4\",\"4\",\r\n");
  CHECK(sl::files::read_committed_csv<R>(dir.path, options) == rows);
  CHECK_THROWS_WITH(sl::files::read_committed_csv<R>(dir.path, {.header = false}),
                    Catch::Contains(":1: column 'n': 'n' is not an integer"));
}

TEST_CASE("files sink: windowed aggregation in append mode writes each closed window once", "[files][sink]") {
  temp_dir dir("windows");
  sl::memory_stream<Event> in;
  auto counts = in | sl::with_watermark(sl::col<"timestamp">, 5s) |
                sl::group_by(sl::window(sl::col<"timestamp">, 10s), sl::col<"event_type">) |
                sl::aggregate(sl::count().as<"n">(), sl::avg(sl::col<"value">).as<"avg_value">());
  using R = decltype(counts)::row_type;
  auto q = sl::start(counts | sl::files::json_lines_sink(dir.path), sl::output_mode::append);
  in.add_data({ev("a", 1s, "click", 1), ev("b", 2s, "click", 3), ev("c", 3s, "view", 86)});
  q.process_all_available();
  in.add_data({ev("d", 21s, "click", 5)});  // watermark -> 16s: window [0, 10) closes
  q.process_all_available();
  q.stop();

  const auto rows = sl::files::read_committed_json_lines<R>(dir.path);
  REQUIRE(rows.size() == 2);
  for (const auto& r : rows) CHECK(sl::get<"window">(r) == sl::time_window{sl::timestamp{0}, sl::timestamp{10'000'000}});
  const auto batches = sl::files::committed_batches(dir.path);
  REQUIRE(batches.size() >= 2);
  CHECK(batches[0].files.empty());  // nothing closed in batch 0
  std::vector<sl::files::committed_file> files;
  for (const auto& b : batches) files.insert(files.end(), b.files.begin(), b.files.end());
  REQUIRE(files.size() == 1);  // one batch closed the window; the others committed no file
  const auto text = slurp(files[0].path);
  CHECK(text.find(R"({"window":{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:00:10.000Z"},"event_type":"view","n":1,"avg_value":86.0})") !=
        std::string::npos);
}

TEST_CASE("files sink: readers name the file of a bad manifest, a truncated file or a bad record", "[files][sink]") {
  temp_dir dir("bad");
  auto sink = sl::files::json_lines_sink(dir.path).bind<Event>();
  sink.add_batch(0, std::vector<Event>{ev("a", 1s, "click", 1), ev("b", 2s, "click", 2)});
  const auto file = sl::files::committed_batches(dir.path).at(0).files.at(0).path;
  const auto original = slurp(file);

  SECTION("a truncated data file") {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << original.substr(0, original.size() - 10);
    CHECK_THROWS_WITH(sl::files::read_committed_json_lines<Event>(dir.path),
                      Catch::Contains(file.string()) && Catch::Contains("truncated or replaced"));
  }
  SECTION("a record that does not fit the row type, or no JSON") {
    const std::string name = "part-00001-" + sl::detail::random_uuid() + ".jsonl";
    const std::string bad = original.substr(0, original.find('\n') + 1) +
                            R"({"event_id":"c","timestamp":"1970-01-01T00:00:03.000Z","user_id":"x","event_type":"v","value":1.0})" "\n";
    std::ofstream(dir / name, std::ios::binary) << bad;
    std::ofstream(dir / "_sluice_metadata/1") << "v1\n{\"path\":\"" << name << "\",\"size\":" << bad.size()
                                              << ",\"rows\":2}\n";
    CHECK_THROWS_WITH(sl::files::read_committed_json_lines<Event>(dir.path),
                      Catch::Contains(name + ":2: field 'user_id': expected an integer"));
    std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << std::string(bad.size() - 1, 'x') << "\n";
    CHECK_THROWS_WITH(sl::files::read_committed_json_lines<Event>(dir.path),
                      Catch::Contains(name + ":1: malformed JSON"));
  }
  SECTION("a file listed but missing") {
    fs::remove(file);
    CHECK_THROWS_WITH(sl::files::read_committed_json_lines<Event>(dir.path),
                      Catch::Contains(file.string()) && Catch::Contains("listed in the manifest of batch 0"));
  }
  SECTION("a manifest that is not one") {
    std::ofstream(dir / "_sluice_metadata/1") << "{\"path\":\"x\"}\n";
    CHECK_THROWS_WITH(sl::files::committed_batches(dir.path),
                      Catch::Contains("_sluice_metadata/1:1: not a sluice file sink manifest"));
    std::ofstream(dir / "_sluice_metadata/1", std::ios::trunc) << "v7\n";
    CHECK_THROWS_WITH(sl::files::committed_batches(dir.path), Catch::Contains("manifest version 'v7' is not supported"));
    std::ofstream(dir / "_sluice_metadata/1", std::ios::trunc) << "v1\n{\"path\":3}\n";
    CHECK_THROWS_WITH(sl::files::committed_batches(dir.path), Catch::Contains("_sluice_metadata/1:2: malformed manifest line"));
  }
}

TEST_CASE("files sink: describes itself as Spark's FileSink and takes append mode only", "[files][sink]") {
  using S = decltype(sl::files::json_lines_sink("x").bind<Event>());
  using C = decltype(sl::files::csv_sink("x").bind<Event>());
  STATIC_REQUIRE(S::supports(sl::output_mode_kind::append));
  STATIC_REQUIRE_FALSE(S::supports(sl::output_mode_kind::update));
  STATIC_REQUIRE_FALSE(C::supports(sl::output_mode_kind::complete));
  temp_dir dir("describe");
  CHECK(sl::files::json_lines_sink(dir.path).bind<Event>().description() == "FileSink[" + dir.path.string() + "]");
  CHECK_THROWS_AS(sl::files::csv_sink(dir.path, {.delimiter = '"'}).bind<Event>(), std::invalid_argument);
}

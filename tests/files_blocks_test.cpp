// sluice/sources/files.hpp: a large JSON-lines file cut into blocks, each a partition of the
// batch (json_lines_options::max_partition_bytes, min_partitions). Whatever the cuts, the
// rows come out as one thread reading the files in turn reads them, bad records name the file
// and the line counted from its start, skip counts and dead letters are exact, and the batch
// takes (and commits) whole files. CSV files are cut only without multi_line, each block
// given the file's header.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "files_test_support.hpp"
#include "partition_support.hpp"

namespace sl = sluice;
namespace fs = std::filesystem;

namespace files_blocks_test {

struct Item {
  std::int64_t id = 0;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, name))

bool operator==(const Item& a, const Item& b) { return std::tie(a.id, a.name) == std::tie(b.id, b.name); }

struct scratch : sluice_test::files_scratch {
  explicit scratch(std::string_view tag) : files_scratch("sluice-blocks", tag) {}
};

using sluice_test::slurp;

std::string item(std::int64_t id, std::string_view name) {
  return R"({"id": )" + std::to_string(id) + R"(, "name": ")" + std::string(name) + R"("})";
}

// `count` lines: good records with multi-byte UTF-8 names, CRLF endings, blank lines, and a
// bad record where bad(line) says; no newline after the last one.
template <class Bad>
std::string make_lines(std::int64_t count, Bad&& bad) {
  std::string out;
  for (std::int64_t line = 1; line <= count; ++line) {
    if (bad(line)) out += R"({"id": "not a number", "name": "x"})";
    else if (line % 11 == 0) out += "";
    else out += item(line, line % 3 == 0 ? "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80" : "plain");
    if (line % 4 == 0) out += '\r';
    if (line < count) out += '\n';
  }
  return out;
}

// The source's partitions of its first batch (taking every file in the directory), read in
// turn on this thread: the engine's single-threaded path.
struct batch_read {
  std::vector<Item> rows;
  std::vector<std::size_t> rows_per_partition;
  std::size_t partitions = 0;
  sl::files::source_metrics metrics;
};
batch_read read_batch(const fs::path& dir, sl::files::json_lines_options o) {
  auto src = sl::files::json_lines<Item>(dir, std::move(o));
  const auto start = src.initial_offset();
  const auto end = src.latest_offset(start, sl::read_limit::all_available());
  batch_read out;
  const auto parts = src.partitions(start, end);
  out.partitions = parts.size();
  for (const auto& p : parts) {
    const auto before = out.rows.size();
    src.read(p, [&](Item&& r) { out.rows.push_back(std::move(r)); });
    out.rows_per_partition.push_back(out.rows.size() - before);
  }
  out.metrics = src.metrics();
  return out;
}

}  // namespace files_blocks_test

using namespace files_blocks_test;

TEST_CASE("files blocks: a large file is cut into blocks after the small files before it, in file order", "[files][blocks]") {
  scratch s("plan");
  // names in time order: a, then big, then c (the source takes files oldest first, then by name)
  s.write("a-small.json", item(1, "a") + "\n");
  s.write("b-big.json", make_lines(2000, [](std::int64_t) { return false; }));
  s.write("c-small.json", item(2, "c") + "\n");
  s.write("d-big.json.gz", std::string(5000, 'x'));  // compressed: never cut
  const auto big = static_cast<std::int64_t>(fs::file_size(s.root / "in" / "b-big.json"));

  auto src = sl::files::json_lines<Item>(s.root / "in", {.glob = "*.json*", .max_partition_bytes = 4096});
  const auto start = src.initial_offset();
  const auto end = src.latest_offset(start, sl::read_limit::all_available());
  const auto parts = src.partitions(start, end);
  REQUIRE(parts.size() > 4);
  std::int64_t covered = 0;
  std::size_t blocks = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (p.path.filename() != "b-big.json") {
      CHECK(p.blocks == nullptr);
      continue;
    }
    REQUIRE(p.blocks != nullptr);
    CHECK(p.block == blocks);
    CHECK(p.begin == covered);  // consecutive, in order
    CHECK(p.end - p.begin <= 4096);
    covered = p.end;
    ++blocks;
  }
  CHECK(covered == big);
  CHECK(blocks == (static_cast<std::size_t>(big) + 4095) / 4096);
  // whole files keep the source's order around the blocks
  std::vector<std::string> names;
  for (const auto& p : parts)
    if (names.empty() || names.back() != p.path.filename().string()) names.push_back(p.path.filename().string());
  CHECK(names.size() == 4);

  // CSV records may hold newlines in quotes (multi_line, the default): never cut
  scratch c("csv");
  std::string csv;
  for (int i = 0; i < 2000; ++i) csv += std::to_string(i) + ",\"x\ny\"\n";
  c.write("big.csv", csv);
  auto csv_src = sl::files::csv<Item>(c.root / "in", {.max_partition_bytes = 4096});
  const auto ce = csv_src.latest_offset(csv_src.initial_offset(), sl::read_limit::all_available());
  CHECK(csv_src.partitions(csv_src.initial_offset(), ce).size() == 1);
  // unless told records are lines (multi_line false)
  auto lines_src = sl::files::csv<Item>(c.root / "in", {.multi_line = false, .max_partition_bytes = 4096});
  const auto le = lines_src.latest_offset(lines_src.initial_offset(), sl::read_limit::all_available());
  CHECK(lines_src.partitions(lines_src.initial_offset(), le).size() > 1);
}

TEST_CASE("files blocks: the block size follows Spark's maxSplitBytes, in a multiple of the parallelism", "[files][blocks]") {
  namespace d = sl::files::detail;
  constexpr std::int64_t MiB = 1 << 20;
  // one 100 MB file and 7 small ones, 2 workers: 132 MB with open costs, 66 per core, capped at 32 MiB
  const std::int64_t total = 100'000'000 + 7 * 100'000 + 8 * d::open_cost_bytes;
  const auto split = d::max_split_bytes(sl::files::default_max_partition_bytes, total, 2);
  CHECK(split == 32 * MiB);
  CHECK(d::blocks_for(100'000'000, split, 2) == 4);  // 3 by size, rounded up to a multiple of 2
  CHECK(d::blocks_for(100'000, split, 2) == 1);
  CHECK(d::blocks_for(100'000'000, split, 1) == 3);
  // a small batch on many workers: per core, but never below the open cost
  CHECK(d::max_split_bytes(32 * MiB, 10 * MiB + d::open_cost_bytes, 2) == 7 * MiB);
  CHECK(d::max_split_bytes(32 * MiB, 5 * MiB, 8) == d::open_cost_bytes);
  // an explicit block size below the open cost wins
  CHECK(d::max_split_bytes(1000, 100 * MiB, 1) == 1000);
  CHECK(d::compressed_name("x.json.gz"));
  CHECK_FALSE(d::compressed_name("x.json"));
}

TEST_CASE("files blocks: any cut, inside a UTF-8 character or between CR and LF, reads the rows of the whole file",
          "[files][blocks]") {
  scratch s("cuts");
  // no newline after the last line; a long last line, so the last blocks start no line
  const std::string bytes = make_lines(12, [](std::int64_t l) { return l == 7; }) + "\n" + item(99, std::string(300, 'z'));
  const auto file = s.write("f.json", bytes);
  REQUIRE(bytes.back() != '\n');
  const auto whole = read_batch(s.root / "in", {.on_bad_record = sl::files::bad_record::skip});
  REQUIRE(whole.partitions == 1);
  REQUIRE(whole.rows.size() == 11);  // 13 lines: line 11 blank, line 7 bad
  CHECK(whole.metrics.bad_records_skipped == 1);
  bool cut_in_char = false, cut_in_crlf = false, empty_block = false;
  for (std::int64_t size = 3; size <= 300; ++size) {
    INFO("max_partition_bytes " << size);
    const auto got = read_batch(s.root / "in", {.on_bad_record = sl::files::bad_record::skip, .max_partition_bytes = size});
    CHECK(got.rows == whole.rows);
    CHECK(got.metrics.bad_records_skipped == 1);
    CHECK(got.metrics.files_read == 1);
    for (std::size_t k = 1; k < got.partitions; ++k) {
      const auto at = static_cast<std::size_t>(static_cast<unsigned __int128>(bytes.size()) * k / got.partitions);
      if ((static_cast<unsigned char>(bytes[at]) & 0xC0) == 0x80) cut_in_char = true;
      if (bytes[at - 1] == '\r' && bytes[at] == '\n') cut_in_crlf = true;
    }
    if (got.partitions > 1 && got.rows_per_partition.back() == 0) empty_block = true;
  }
  CHECK(cut_in_char);  // the sweep did cut where it was meant to
  CHECK(cut_in_crlf);
  CHECK(empty_block);
}

TEST_CASE("files blocks: a bad record in the third block names the file and its line from the file's start",
          "[files][blocks]") {
  scratch s("fail");
  const auto file = s.write("f.json", make_lines(3000, [](std::int64_t l) { return l == 1900; }));
  const auto size = static_cast<std::int64_t>(fs::file_size(file));
  // four blocks: line 1900 is in the third
  auto src = sl::files::json_lines<Item>(s.root / "in", {.max_partition_bytes = size / 4 + 1});
  const auto start = src.initial_offset();
  const auto end = src.latest_offset(start, sl::read_limit::all_available());
  const auto parts = src.partitions(start, end);
  REQUIRE(parts.size() == 4);
  std::vector<Item> rows;
  src.read(parts[0], [&](Item&& r) { rows.push_back(std::move(r)); });
  src.read(parts[1], [&](Item&& r) { rows.push_back(std::move(r)); });
  REQUIRE(!rows.empty());
  CHECK(rows.back().id < 1900);
  // read alone, as a worker may: its line number does not wait for the blocks before it
  try {
    src.read(parts[2], [](Item&&) {});
    FAIL("no error");
  } catch (const sl::files::bad_record_error& e) {
    CHECK(e.file() == file.string());
    CHECK(e.line() == 1900);
    CHECK(std::string(e.what()).starts_with(file.string() + ":1900: "));
  }
  // through a query on 2 workers: the same error
  for (const std::size_t p : {1, 2}) {
    sl::memory_sink<Item> sink;
    auto q = sl::start(sl::files::json_lines<Item>(s.root / "in", {.max_partition_bytes = size / 4 + 1}) | sink,
                       sl::output_mode::append, {.trigger = sl::trigger::available_now(), .parallelism = p});
    CHECK_THROWS_WITH(q.await_termination(), Catch::Contains(file.string() + ":1900: "));
  }
}

TEST_CASE("files blocks: a large file beside small ones, parallelism 1, 2 and 4: the same rows in the same order",
          "[files][blocks][parallel]") {
  scratch s("query");
  std::vector<Item> expected;  // one thread reading the files in turn
  auto add = [&](const std::string& name, const std::string& bytes) {
    s.write(name, bytes);
    auto rows = sl::files::read_json_lines_file<Item>(s.root / "in" / name, {.decode_threads = 1});
    expected.insert(expected.end(), rows.begin(), rows.end());
  };
  // same modification time for all is possible: names order them then
  add("a-small.json", item(-1, "first") + "\n" + item(-2, "second") + "\n");
  add("b-big.json", make_lines(40'000, [](std::int64_t) { return false; }));
  for (int i = 0; i < 6; ++i) add("c-small-" + std::to_string(i) + ".json", item(1'000'000 + i, "small") + "\n");
  // the source orders by modification time first: give them increasing times
  {
    auto t = fs::last_write_time(s.root / "in" / "a-small.json");
    int k = 0;
    for (const auto* name : {"a-small.json", "b-big.json", "c-small-0.json", "c-small-1.json", "c-small-2.json",
                             "c-small-3.json", "c-small-4.json", "c-small-5.json"})
      fs::last_write_time(s.root / "in" / name, t + std::chrono::seconds(++k));
  }
  REQUIRE(expected.size() > 30'000);
  for (const std::int64_t block : {std::int64_t{64} << 10, sl::files::default_max_partition_bytes}) {
    for (const std::size_t p : {1, 2, 4}) {
      INFO("max_partition_bytes " << block << ", parallelism " << p);
      sl::memory_sink<Item> sink;
      auto q = sl::start(sl::files::json_lines<Item>(s.root / "in", {.max_partition_bytes = block}) | sink,
                         sl::output_mode::append, {.trigger = sl::trigger::available_now(), .parallelism = p});
      q.await_termination();
      CHECK(sink.rows() == expected);
    }
  }
  // In a batch on workers, the big file's blocks are a multiple of their number (they spread
  // evenly); at the default size it stays whole (bytes per core below the 4 MiB open cost).
  REQUIRE(fs::file_size(s.root / "in" / "b-big.json") < std::uintmax_t{4} << 20);
  for (const std::size_t workers : {2, 3}) {
    for (const std::int64_t block : {std::int64_t{64} << 10, sl::files::default_max_partition_bytes}) {
      INFO(workers << " workers, max_partition_bytes " << block);
      sluice_test::thread_tasks tasks(workers);
      sl::batch_context ctx;
      ctx.tasks = &tasks;
      const sl::detail::batch_scope running(ctx);
      auto src = sl::files::json_lines<Item>(s.root / "in", {.max_partition_bytes = block});
      const auto end = src.latest_offset(src.initial_offset(), sl::read_limit::all_available());
      std::size_t big_blocks = 0;
      for (const auto& p : src.partitions(src.initial_offset(), end)) big_blocks += p.blocks != nullptr;
      if (block == sl::files::default_max_partition_bytes) {
        CHECK(big_blocks == 0);
      } else {
        CHECK(big_blocks > 1);
        CHECK(big_blocks % workers == 0);
      }
    }
  }
}

TEST_CASE("files blocks: skip counts and dead letters are those of the whole file, each file counted once",
          "[files][blocks]") {
  scratch s("dlq");
  const auto file = s.write("f.json", make_lines(5000, [](std::int64_t l) { return l % 97 == 0 || l == 4999; }));
  const auto size = static_cast<std::int64_t>(fs::file_size(file));
  const auto whole = read_batch(s.root / "in", {.on_bad_record = sl::files::dead_letter(s.root / "whole")});
  REQUIRE(whole.metrics.bad_records_dead_lettered == 5000 / 97 + 1);
  const std::string reasons = slurp(s.root / "whole" / "f.json.bad.reasons");
  REQUIRE(reasons.find("\"line\":4999") != std::string::npos);
  for (const std::int64_t block : {size / 7, size / 3, std::int64_t{500}}) {
    INFO("max_partition_bytes " << block);
    const auto dir = s.root / ("blocks-" + std::to_string(block));
    const auto got = read_batch(s.root / "in", {.on_bad_record = sl::files::dead_letter(dir), .max_partition_bytes = block});
    REQUIRE(got.partitions > 2);
    CHECK(got.rows == whole.rows);
    CHECK(got.metrics.files_read == 1);
    CHECK(got.metrics.bad_records_dead_lettered == whole.metrics.bad_records_dead_lettered);
    CHECK(slurp(dir / "f.json.bad") == slurp(s.root / "whole" / "f.json.bad"));
    CHECK(slurp(dir / "f.json.bad.reasons") == reasons);
    const auto skipped = read_batch(s.root / "in", {.on_bad_record = sl::files::bad_record::skip, .max_partition_bytes = block});
    CHECK(skipped.metrics.bad_records_skipped == whole.metrics.bad_records_dead_lettered);
  }
  // blocks ending out of order (as on workers): the dead letters still come out in file order
  auto src = sl::files::json_lines<Item>(s.root / "in", {.on_bad_record = sl::files::dead_letter(s.root / "reversed"),
                                                         .max_partition_bytes = size / 5});
  const auto end = src.latest_offset(src.initial_offset(), sl::read_limit::all_available());
  auto parts = src.partitions(src.initial_offset(), end);
  REQUIRE(parts.size() > 2);
  std::reverse(parts.begin(), parts.end());
  for (const auto& p : parts) {
    src.read(p, [](Item&&) {});
    if (p.block != 0) CHECK_FALSE(fs::exists(s.root / "reversed" / "f.json.bad.reasons"));  // committed with the last
  }
  CHECK(slurp(s.root / "reversed" / "f.json.bad.reasons") == reasons);
  CHECK(src.metrics().files_read == 1);
}

TEST_CASE("files blocks: blocks of 1 MiB or more read on the query's thread are decoded on several threads",
          "[files][blocks][parallel-decode]") {
  scratch s("threads");
  const auto file = s.write("f.json", make_lines(110'000, [](std::int64_t l) { return l % 4999 == 0; }));
  const auto size = static_cast<std::int64_t>(fs::file_size(file));
  REQUIRE(size > (std::int64_t{3} << 20));
  const auto whole = read_batch(s.root / "in", {.on_bad_record = sl::files::dead_letter(s.root / "whole"),
                                                .decode_threads = 1});
  REQUIRE(whole.partitions == 1);
  const std::int64_t block = size / 3 + 1;  // 3 blocks of over 1 MiB
  const auto got = read_batch(s.root / "in", {.on_bad_record = sl::files::dead_letter(s.root / "blocks"),
                                              .decode_threads = 2, .max_partition_bytes = block});
  REQUIRE(got.partitions == 3);
  CHECK(got.rows == whole.rows);
  CHECK(got.metrics.bad_records_dead_lettered == whole.metrics.bad_records_dead_lettered);
  CHECK(slurp(s.root / "blocks" / "f.json.bad.reasons") == slurp(s.root / "whole" / "f.json.bad.reasons"));
  CHECK(slurp(s.root / "blocks" / "f.json.bad") == slurp(s.root / "whole" / "f.json.bad"));
  // under fail, the first bad record of the last block, numbered from the file's start
  auto src = sl::files::json_lines<Item>(s.root / "in", {.decode_threads = 2, .max_partition_bytes = block});
  const auto end = src.latest_offset(src.initial_offset(), sl::read_limit::all_available());
  const auto parts = src.partitions(src.initial_offset(), end);
  REQUIRE(parts.size() == 3);
  std::vector<Item> rows;
  try {
    src.read(parts[2], [&](Item&& r) { rows.push_back(std::move(r)); });
    FAIL("no error");
  } catch (const sl::files::bad_record_error& e) {
    REQUIRE(!rows.empty());
    CHECK(e.line() % 4999 == 0);
    CHECK(e.line() > rows.front().id);
    CHECK(e.line() - rows.back().id < 4999);  // the first bad record after the block's first rows
  }
}

namespace files_blocks_test {
struct Person {
  std::string name;
  std::int64_t age = 0;
  std::optional<std::string> note;
};
BOOST_DESCRIBE_STRUCT(Person, (), (name, age, note))
bool operator==(const Person& a, const Person& b) {
  return std::tie(a.name, a.age, a.note) == std::tie(b.name, b.age, b.note);
}

// Every row of the first batch of a CSV source over `dir`, its partitions read in turn.
struct csv_read {
  std::vector<Person> rows;
  std::size_t partitions = 0;
  sl::files::source_metrics metrics;
};
csv_read read_csv(const fs::path& dir, sl::files::csv_options o) {
  auto src = sl::files::csv<Person>(dir, std::move(o));
  const auto end = src.latest_offset(src.initial_offset(), sl::read_limit::all_available());
  csv_read out;
  const auto parts = src.partitions(src.initial_offset(), end);
  out.partitions = parts.size();
  for (const auto& p : parts) src.read(p, [&](Person&& r) { out.rows.push_back(std::move(r)); });
  out.metrics = src.metrics();
  return out;
}
}  // namespace files_blocks_test

TEST_CASE("files blocks: CSV without multi_line is cut like JSON lines, each block given the file's header",
          "[files][blocks][csv]") {
  scratch s("csv");
  // blank lines before the header; columns named in another order; quoted fields with
  // delimiters and doubled quotes, multi-byte UTF-8, CRLF, a bad record; no final newline
  std::string text = "\n\r\nage,note,name\r\n";
  for (int i = 1; i <= 40; ++i) {
    if (i == 23) text += "x,not a number,bad";
    else if (i % 7 == 0) text += "";
    else
      text += std::to_string(i) + ",\"a, \"\"quoted\"\" caf\xC3\xA9 \xF0\x9F\x98\x80\"," + "name" + std::to_string(i);
    if (i % 3 == 0) text += '\r';
    if (i < 40) text += '\n';
  }
  s.write("p.csv", text);
  const auto whole = read_csv(s.root / "in", {.on_bad_record = sl::files::bad_record::skip, .header = true});
  REQUIRE(whole.partitions == 1);  // multi_line (the default): never cut
  REQUIRE(whole.rows.size() == 34);
  CHECK(whole.metrics.bad_records_skipped == 1);
  const auto one_line =
      read_csv(s.root / "in", {.on_bad_record = sl::files::bad_record::skip, .header = true, .multi_line = false});
  CHECK(one_line.rows == whole.rows);
  for (std::int64_t size = 3; size <= 200; ++size) {
    INFO("max_partition_bytes " << size);
    const auto got = read_csv(s.root / "in", {.on_bad_record = sl::files::bad_record::skip, .header = true,
                                              .multi_line = false, .max_partition_bytes = size});
    REQUIRE(got.partitions > 1);
    CHECK(got.rows == whole.rows);
    CHECK(got.metrics.bad_records_skipped == 1);
    CHECK(got.metrics.files_read == 1);
  }
  // under fail, the bad record in a later block: its line from the file's start (3 header lines)
  auto src = sl::files::csv<Person>(s.root / "in", {.header = true, .multi_line = false, .max_partition_bytes = 200});
  const auto end = src.latest_offset(src.initial_offset(), sl::read_limit::all_available());
  std::string error;
  try {
    for (const auto& p : src.partitions(src.initial_offset(), end)) src.read(p, [](Person&&) {});
  } catch (const sl::files::bad_record_error& e) {
    error = e.what();
    CHECK(e.line() == 3 + 23);
  }
  CHECK(error.find("p.csv:26: ") != std::string::npos);
}

TEST_CASE("files blocks: CSV without multi_line: a newline in quotes ends the record, and a bad header fails every block",
          "[files][blocks][csv]") {
  scratch s("csv-bad");
  s.write("q.csv", "bob,30,\"two\nlines\"\nann,40,x\n");
  const auto multi = read_csv(s.root / "in", {.on_bad_record = sl::files::bad_record::skip});
  REQUIRE(multi.rows.size() == 2);  // the default reads the quoted newline
  CHECK(multi.rows[0].note == "two\nlines");
  const auto lines = read_csv(s.root / "in", {.on_bad_record = sl::files::bad_record::skip, .multi_line = false});
  CHECK(lines.rows == std::vector<Person>{{"ann", 40, "x"}});
  CHECK(lines.metrics.bad_records_skipped == 2);  // `bob,30,"two` and `lines"`

  scratch h("csv-header");
  std::string text = "name,name,age\n";
  for (int i = 0; i < 50; ++i) text += "n" + std::to_string(i) + ",m," + std::to_string(i) + "\n";
  h.write("h.csv", text);
  const auto whole = read_csv(h.root / "in", {.on_bad_record = sl::files::bad_record::skip, .header = true});
  REQUIRE(whole.rows.empty());
  REQUIRE(whole.metrics.bad_records_skipped == 51);
  const auto cut = read_csv(h.root / "in", {.on_bad_record = sl::files::bad_record::skip, .header = true,
                                            .multi_line = false, .max_partition_bytes = 64});
  REQUIRE(cut.partitions > 3);
  CHECK(cut.rows.empty());
  CHECK(cut.metrics.bad_records_skipped == 51);  // the header once, every record after it
}

// sluice/sources/files.hpp: JSON-lines files of 1 MiB or more decoded on several threads
// (decode_threads), each block of the file cut at line boundaries. Everything must come out
// as from one thread: the rows in file order, the first bad record in file order with its
// file:line, skipped counts, dead letters byte for byte; blank lines, CRLF, a byte order mark,
// a last line without a newline, lines longer than the buffer or than max_line_bytes.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "files_test_support.hpp"

namespace sl = sluice;
namespace fs = std::filesystem;

namespace files_parallel_decode_test {

struct Item {
  std::int64_t id = 0;
  std::string name;
  std::optional<double> score;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, name, score))

bool operator==(const Item& a, const Item& b) {
  return std::tie(a.id, a.name, a.score) == std::tie(b.id, b.name, b.score);
}

struct scratch : sluice_test::files_scratch {
  explicit scratch(std::string_view tag) : files_scratch("sluice-parallel-decode", tag) {}
};

// A generated JSON-lines file and what is known about its lines.
struct generated {
  std::string bytes;
  std::int64_t lines = 0;        // lines written, the last one counted even without a newline
  std::int64_t rows = 0;         // lines that are good records
  std::vector<std::int64_t> bad; // line numbers (from 1) of the bad records written
};

// `count` lines of about 100 bytes: good records with every spelling the decoder meets (extra
// fields, null and absent optionals, escapes, CRLF), blank and whitespace-only lines, and a bad
// record wherever is_bad(line) says; no newline after the last line.
generated make_lines(std::int64_t count, const std::function<bool(std::int64_t)>& is_bad, bool bom = false) {
  generated g;
  std::mt19937_64 rng(42);
  if (bom) g.bytes += "\xEF\xBB\xBF";
  for (std::int64_t line = 1; line <= count; ++line) {
    const auto kind = rng() % 20;
    std::string l;
    if (is_bad(line)) {
      // alternately malformed JSON, a wrong type and invalid UTF-8
      l = line % 3 == 0   ? R"({"id": 1, "name": "unterminated)"
          : line % 3 == 1 ? R"({"id": "not a number", "name": "x"})"
                          : "{\"id\": 1, \"name\": \"\xC3\x28\"}";
      g.bad.push_back(line);
    } else if (kind == 0) {
      l = "";
    } else if (kind == 1) {
      l = " \t ";
    } else {
      l = R"({"id": )" + std::to_string(line) + R"(, "name": "item \")" + std::to_string(rng() % 100000) +
          R"(\" padding padding padding")";
      if (kind % 3 == 0) l += R"(, "score": null)";
      else if (kind % 3 == 1) l += R"(, "score": )" + std::to_string(static_cast<double>(rng() % 1000) / 8);
      if (kind == 5) l += R"(, "extra": {"nested": [1, 2, 3]})";
      l += "}";
      ++g.rows;
    }
    if (kind == 7 || kind == 8) l += '\r';  // CRLF
    g.bytes += l;
    if (line < count) g.bytes += '\n';
  }
  g.lines = count;
  return g;
}

std::vector<Item> read_with(const fs::path& file, std::size_t threads, sl::files::bad_record policy = sl::files::bad_record::fail,
                            std::int64_t* skipped = nullptr, std::size_t max_line_bytes = sl::files::default_max_line_bytes) {
  return sl::files::read_json_lines_file<Item>(
      file, {.on_bad_record = policy, .max_line_bytes = max_line_bytes, .skipped = skipped, .decode_threads = threads});
}

// The rows of one file read through the streaming source's read(), as the engine calls it.
struct source_read {
  std::vector<Item> rows;
  sl::files::source_metrics metrics;
};
source_read read_source(const fs::path& file, sl::files::json_lines_options options) {
  auto src = sl::files::json_lines<Item>(file.parent_path(), std::move(options));
  source_read out;
  src.read(sl::files::partition{file, static_cast<std::int64_t>(fs::file_size(file)), 0, 0},
           [&](Item&& r) { out.rows.push_back(std::move(r)); });
  out.metrics = src.metrics();
  return out;
}

using sluice_test::slurp;

TEST_CASE("files parallel decode: split_at_lines cuts after newlines and loses nothing", "[files][parallel-decode]") {
  using sl::files::detail::split_at_lines;
  std::vector<std::string_view> pieces;
  for (const std::string text : {"a\nbb\nccc\ndddd\n", "a\nbb\nccc\ndddd", "no newline at all", "\n\n\n\n\n", "x"}) {
    for (std::size_t n = 1; n <= 7; ++n) {
      split_at_lines(text, n, pieces);
      CHECK(pieces.size() <= n);
      std::string joined;
      for (std::size_t i = 0; i < pieces.size(); ++i) {
        CHECK(!pieces[i].empty());
        if (i + 1 < pieces.size()) CHECK(pieces[i].back() == '\n');
        joined += pieces[i];
      }
      CHECK(joined == text);
    }
  }
  split_at_lines("aaaa\nbbbb\ncccc\ndddd\n", 4, pieces);
  CHECK(pieces == std::vector<std::string_view>{"aaaa\n", "bbbb\n", "cccc\n", "dddd\n"});  // targets at line starts
  split_at_lines("aaaaaaaaaaaaaaaaaaa\nbbbbbbbbbbb\n", 4, pieces);  // targets inside a line: it runs to its end
  CHECK(pieces == std::vector<std::string_view>{"aaaaaaaaaaaaaaaaaaa\n", "bbbbbbbbbbb\n"});
}

TEST_CASE("files parallel decode: 1, 2, 3 and 4 threads read the same rows as one", "[files][parallel-decode]") {
  scratch s("rows");
  // more than one block with 2 threads (4 MiB of buffer per thread), and a BOM.
  const auto g = make_lines(200'000, [](std::int64_t) { return false; }, true);
  const auto file = s.write("big.json", g.bytes);
  REQUIRE(fs::file_size(file) > 3 * sl::files::detail::parallel_block_bytes_per_thread);

  const auto one = read_with(file, 1);
  REQUIRE(static_cast<std::int64_t>(one.size()) == g.rows);
  CHECK(std::is_sorted(one.begin(), one.end(), [](const Item& a, const Item& b) { return a.id < b.id; }));  // file order
  for (std::size_t threads : {2, 3, 4}) {
    INFO("threads " << threads);
    const auto many = read_with(file, threads);
    CHECK(many.size() == one.size());
    CHECK(many == one);
  }
  CHECK(read_with(file, 0) == one);  // the default: one per core
}

TEST_CASE("files parallel decode: the first bad line in file order fails the read with its file:line", "[files][parallel-decode]") {
  scratch s("fail");
  constexpr std::int64_t count = 60'000;  // ~6 MiB
  for (const std::int64_t bad_line : {std::int64_t{3}, count / 2 + 17, count * 9 / 10, count - 1, count}) {
    INFO("bad line " << bad_line);
    // a second bad line later on must not be the one reported
    const auto g = make_lines(count, [&](std::int64_t l) { return l == bad_line || l == bad_line + 5; });
    const auto file = s.write("bad.json", g.bytes);
    std::optional<sl::files::bad_record_error> single, parallel;
    try {
      read_with(file, 1);
    } catch (const sl::files::bad_record_error& e) {
      single = e;
    }
    try {
      read_with(file, 4);
    } catch (const sl::files::bad_record_error& e) {
      parallel = e;
    }
    REQUIRE(single);
    REQUIRE(parallel);
    CHECK(single->line() == bad_line);
    CHECK(parallel->line() == bad_line);
    CHECK(parallel->file() == file.string());
    CHECK(std::string(parallel->what()) == single->what());

    // the streaming source: the same error, and the same rows emitted before it, none after
    std::vector<Item> emitted[2];
    for (std::size_t threads : {1, 4}) {
      auto& rows = emitted[threads == 4];
      auto src = sl::files::json_lines<Item>(file.parent_path(), {.decode_threads = threads});
      try {
        src.read(sl::files::partition{file, static_cast<std::int64_t>(fs::file_size(file)), 0, 0},
                 [&](Item&& r) { rows.push_back(std::move(r)); });
        FAIL("no error");
      } catch (const sl::files::bad_record_error& e) {
        CHECK(e.line() == bad_line);
        CHECK(std::string(e.what()) == single->what());
      }
      if (!rows.empty()) CHECK(rows.back().id < bad_line);
    }
    CHECK(emitted[1] == emitted[0]);
    if (bad_line > 1000) CHECK(emitted[0].size() > 500);
  }
}

TEST_CASE("files parallel decode: skipped bad records, oversize lines and their counts are the same", "[files][parallel-decode]") {
  scratch s("skip");
  // bad lines near the start, around the middle, late and last; plus lines over max_line_bytes
  auto g = make_lines(50'000, [](std::int64_t l) { return l < 4 || l % 997 == 0 || l > 49'990; });
  std::string long_line = R"({"id": 7, "name": ")" + std::string(300, 'x') + R"("})";
  g.bytes = long_line + "\n" + g.bytes + "\n" + long_line + "\n" + long_line;  // a last oversize line without '\n'
  const auto file = s.write("skip.json", g.bytes);

  std::int64_t skipped_one = 0, skipped_many = 0;
  const auto one = read_with(file, 1, sl::files::bad_record::skip, &skipped_one, 200);
  const auto many = read_with(file, 4, sl::files::bad_record::skip, &skipped_many, 200);
  CHECK(skipped_one == static_cast<std::int64_t>(g.bad.size()) + 3);
  CHECK(skipped_many == skipped_one);
  CHECK(static_cast<std::int64_t>(one.size()) == g.rows);
  CHECK(many == one);

  // fail on the first oversize line: line 1 either way
  try {
    read_with(file, 4, sl::files::bad_record::fail, nullptr, 200);
    FAIL("no error");
  } catch (const sl::files::bad_record_error& e) {
    CHECK(e.line() == 1);
    CHECK(e.reason() == "line of " + std::to_string(long_line.size()) + " bytes is longer than max_line_bytes (200)");
  }
}

TEST_CASE("files parallel decode: the source's skip and dead letters are byte for byte the same", "[files][parallel-decode]") {
  scratch s("dlq");
  auto g = make_lines(40'000, [](std::int64_t l) { return l % 1500 == 0 || l == 39'999; });
  const std::string long_line = R"({"id": 9, "name": ")" + std::string(5000, 'y') + R"("})";
  g.bytes = g.bytes.substr(0, g.bytes.size() / 2) + "\n" + long_line + "\n" + g.bytes.substr(g.bytes.size() / 2);
  const auto file = s.write("dlq.json", g.bytes);

  const auto skip1 = read_source(file, {.on_bad_record = sl::files::bad_record::skip, .max_line_bytes = 4096, .decode_threads = 1});
  const auto skip4 = read_source(file, {.on_bad_record = sl::files::bad_record::skip, .max_line_bytes = 4096, .decode_threads = 4});
  CHECK(skip1.metrics.bad_records_skipped >= static_cast<std::int64_t>(g.bad.size()) + 1);
  CHECK(skip4.metrics.bad_records_skipped == skip1.metrics.bad_records_skipped);
  CHECK(skip4.metrics.rows == skip1.metrics.rows);
  CHECK(skip4.rows == skip1.rows);

  const auto dlq1 = read_source(file, {.on_bad_record = sl::files::dead_letter(s.root / "bad1"), .max_line_bytes = 4096,
                                       .decode_threads = 1});
  const auto dlq4 = read_source(file, {.on_bad_record = sl::files::dead_letter(s.root / "bad4"), .max_line_bytes = 4096,
                                       .decode_threads = 4});
  CHECK(dlq4.rows == dlq1.rows);
  CHECK(dlq4.metrics.bad_records_dead_lettered == dlq1.metrics.bad_records_dead_lettered);
  const auto bad1 = slurp(s.root / "bad1" / "dlq.json.bad"), bad4 = slurp(s.root / "bad4" / "dlq.json.bad");
  CHECK(bad1.find(long_line + "\n") != std::string::npos);
  CHECK(bad4 == bad1);
  const auto reasons1 = slurp(s.root / "bad1" / "dlq.json.bad.reasons");
  const auto reasons4 = slurp(s.root / "bad4" / "dlq.json.bad.reasons");
  CHECK(std::count(reasons1.begin(), reasons1.end(), '\n') == dlq1.metrics.bad_records_dead_lettered);
  CHECK(reasons4 == reasons1);  // line numbers included
}

TEST_CASE("files parallel decode: a line longer than the buffer is read as one thread reads it", "[files][parallel-decode]") {
  scratch s("huge");
  // 2 threads: an 8 MiB buffer; a 9 MiB line in the middle must still parse (default
  // max_line_bytes), and be a bad record once max_line_bytes is smaller
  auto g = make_lines(30'000, [](std::int64_t) { return false; });
  const std::string huge = R"({"id": 0, "name": ")" + std::string(9u << 20, 'z') + R"("})";
  const auto half = g.bytes.find('\n', g.bytes.size() / 2) + 1;
  g.bytes = g.bytes.substr(0, half) + huge + "\n" + g.bytes.substr(half);
  const auto file = s.write("huge.json", g.bytes);

  const auto one = read_with(file, 1);
  const auto two = read_with(file, 2);
  REQUIRE(static_cast<std::int64_t>(one.size()) == g.rows + 1);
  CHECK(two == one);

  std::int64_t skipped1 = 0, skipped2 = 0;
  const auto small1 = read_with(file, 1, sl::files::bad_record::skip, &skipped1, 1u << 20);
  const auto small2 = read_with(file, 2, sl::files::bad_record::skip, &skipped2, 1u << 20);
  CHECK(skipped1 == 1);
  CHECK(skipped2 == 1);
  CHECK(small2 == small1);
  CHECK(static_cast<std::int64_t>(small1.size()) == g.rows);
}

TEST_CASE("files parallel decode: small files and decode_threads 1 stay on the calling thread", "[files][parallel-decode]") {
  using sl::files::detail::decode_threads_for;
  CHECK(decode_threads_for(4, sl::files::detail::parallel_min_file_bytes - 1) == 1);
  CHECK(decode_threads_for(4, sl::files::detail::parallel_min_file_bytes) == 4);
  CHECK(decode_threads_for(1, std::int64_t{1} << 30) == 1);
  CHECK(decode_threads_for(0, std::int64_t{1} << 30) >= 1);
  CHECK(decode_threads_for(0, std::int64_t{1} << 30) <= sl::files::detail::max_default_decode_threads);
}

}  // namespace files_parallel_decode_test

namespace files_parallel_decode_test {

TEST_CASE("files parallel decode: on the query's workers, the same rows, errors and dead letters", "[files][parallel-decode][parallel]") {
  scratch s("workers");
  auto g = make_lines(50'000, [](std::int64_t l) { return l % 1700 == 0; });
  const auto file = s.write("w.json", g.bytes);
  const auto one = read_source(file, {.on_bad_record = sl::files::bad_record::skip, .decode_threads = 1});
  REQUIRE(static_cast<std::int64_t>(one.rows.size()) == g.rows);

  // A batch with workers, as the engine runs one: the source's read on the query's thread cuts
  // the file into the workers' tasks.
  sl::worker_pool pool(3);
  sl::batch_context ctx;
  ctx.tasks = &pool;
  const sl::detail::batch_scope running(ctx);
  for (const std::size_t threads : {0, 2}) {
    INFO("decode_threads " << threads);
    const auto many = read_source(file, {.on_bad_record = sl::files::bad_record::skip, .decode_threads = threads});
    CHECK(many.rows == one.rows);
    CHECK(many.metrics.bad_records_skipped == one.metrics.bad_records_skipped);
    const auto dlq1 = read_source(file, {.on_bad_record = sl::files::dead_letter(s.root / ("bad1-" + std::to_string(threads))),
                                         .decode_threads = 1});
    const auto dlq = read_source(file, {.on_bad_record = sl::files::dead_letter(s.root / ("bad-" + std::to_string(threads))),
                                        .decode_threads = threads});
    CHECK(dlq.rows == dlq1.rows);
    CHECK(slurp(s.root / ("bad-" + std::to_string(threads)) / "w.json.bad.reasons") ==
          slurp(s.root / ("bad1-" + std::to_string(threads)) / "w.json.bad.reasons"));
    // Under fail: the first bad line in file order, rows before it only.
    std::vector<Item> rows;
    auto src = sl::files::json_lines<Item>(file.parent_path(), {.decode_threads = threads});
    try {
      src.read(sl::files::partition{file, static_cast<std::int64_t>(fs::file_size(file)), 0, 0},
               [&](Item&& r) { rows.push_back(std::move(r)); });
      FAIL("no error");
    } catch (const sl::files::bad_record_error& e) {
      CHECK(e.line() == 1700);
    }
    for (const auto& r : rows) CHECK(r.id < 1700);
  }
}

TEST_CASE("files parallel decode: a query reads a batch's files at once, rows in file order", "[files][parallel]") {
  scratch s("query");
  // one large file (cut across the workers when read alone) and small ones
  const auto big = make_lines(30'000, [](std::int64_t) { return false; });
  s.write("a-big.json", big.bytes);
  for (int i = 0; i < 6; ++i)
    s.write("b-small-" + std::to_string(i) + ".json",
            R"({"id": )" + std::to_string(i) + R"(, "name": "small"})" + "\n" + R"({"id": )" + std::to_string(100 + i) +
                R"(, "name": "small"})" + "\n");
  std::vector<Item> expected;
  for (const std::size_t p : {1, 2, 4}) {
    for (const std::int64_t per_trigger : {1, 3}) {
      INFO("parallelism " << p << ", files per trigger " << per_trigger);
      sl::memory_sink<Item> sink;
      auto q = sl::start(sl::files::json_lines<Item>(s.root / "in", {.max_files_per_trigger = per_trigger}) | sink,
                         sl::output_mode::append, {.trigger = sl::trigger::available_now(), .parallelism = p});
      q.await_termination();
      auto rows = sink.rows();
      CHECK(static_cast<std::int64_t>(rows.size()) == big.rows + 12);
      if (p == 1 && per_trigger == 1) expected = rows;
      else CHECK(rows == expected);  // files in the source's order, each file's rows in order
    }
  }
}

}  // namespace files_parallel_decode_test

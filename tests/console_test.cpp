// sluice/sinks/console.hpp: exactly Spark's console sink output (ConsoleSink + Dataset.show).
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace console_test {
struct Event {
  std::string event_type;
  std::int64_t event_count = 0;
  double value = 0;
  sl::timestamp ts;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_type, event_count, value, ts))

struct Misc {
  std::optional<std::int32_t> maybe;
  bool flag = false;
  std::vector<std::int64_t> list;
  float ratio = 0;
};
BOOST_DESCRIBE_STRUCT(Misc, (), (maybe, flag, list, ratio))

struct Narrow {
  std::int32_t a = 0;
};
BOOST_DESCRIBE_STRUCT(Narrow, (), (a))

const std::string banner = "-------------------------------------------\n";

// Prints one batch through the console sink bound to Row.
template <class Row>
std::string show(std::vector<Row> rows, sl::console_options options = {}, std::int64_t batch_id = 0) {
  std::ostringstream out;
  options.out = &out;
  auto sink = sl::console(options).template bind<Row>();
  sink.add_batch(batch_id, std::span<const Row>(rows.data(), rows.size()));
  return out.str();
}

sl::timestamp ts(const char* text) { return *sl::parse_timestamp(text); }
}  // namespace console_test

using namespace console_test;

TEST_CASE("console: the batch banner and a right-aligned table", "[console]") {
  const std::vector<Event> rows = {{"click", 3, 1.0, ts("2024-01-15T10:30:00")},
                                   {"view", 12, 0.25, ts("2024-01-15T10:31:05")}};
  CHECK(show(rows, {}, 7) ==
        "-------------------------------------------\n"
        "Batch: 7\n"
        "-------------------------------------------\n"
        "+----------+-----------+-----+-------------------+\n"
        "|event_type|event_count|value|                 ts|\n"
        "+----------+-----------+-----+-------------------+\n"
        "|     click|          3|  1.0|2024-01-15 10:30:00|\n"
        "|      view|         12| 0.25|2024-01-15 10:31:05|\n"
        "+----------+-----------+-----+-------------------+\n"
        "\n");
  // A fraction of a second makes a timestamp longer than 20 characters: truncated.
  const std::vector<Event> fraction = {{"click", 3, 1.0, ts("2024-01-15T10:31:05.5")}};
  CHECK(show(fraction).find("|2024-01-15 10:31:...|") != std::string::npos);
  CHECK(banner.size() == 44);  // 43 dashes and a newline
}

TEST_CASE("console: columns are at least 3 wide, and an empty batch shows the header", "[console]") {
  CHECK(show(std::vector<Narrow>{{1}, {-2}}) == banner + "Batch: 0\n" + banner +
                                                    "+---+\n"
                                                    "|  a|\n"
                                                    "+---+\n"
                                                    "|  1|\n"
                                                    "| -2|\n"
                                                    "+---+\n"
                                                    "\n");
  CHECK(show(std::vector<Narrow>{}, {}, 3) == banner + "Batch: 3\n" + banner +
                                                  "+---+\n"
                                                  "|  a|\n"
                                                  "+---+\n"
                                                  "+---+\n"
                                                  "\n");
}

TEST_CASE("console: truncate cuts cells over 20 characters to 17 and '...'", "[console]") {
  const std::vector<Event> rows = {{"abcdefghijklmnopqrstuvwxyz", 1, 1.0, ts("2024-01-15T10:30:00")},
                                   {"exactly-twenty-chars", 2, 2.0, ts("2024-01-15T10:30:00")}};
  const std::string text = show(rows);
  CHECK(text.find("|abcdefghijklmnopq...|") != std::string::npos);
  CHECK(text.find("|exactly-twenty-chars|") != std::string::npos);
  CHECK(text.find("abcdefghijklmnopqr") == std::string::npos);
  // Multi-byte characters count as one.
  const std::vector<Event> utf8 = {{"\xC3\xA9t\xC3\xA9", 1, 1.0, ts("2024-01-15T10:30:00")}};
  CHECK(show(utf8).find("|       \xC3\xA9t\xC3\xA9|") != std::string::npos);
}

TEST_CASE("console: truncate=false prints whole cells, left-aligned", "[console]") {
  const std::vector<Event> rows = {{"abcdefghijklmnopqrstuvwxyz", 1, 1.0, ts("2024-01-15T10:30:00")},
                                   {"x", 22, 0.5, ts("2024-01-15T10:30:00.123")}};
  CHECK(show(rows, {.truncate = false}) == banner + "Batch: 0\n" + banner +
                                               "+--------------------------+-----------+-----+-----------------------+\n"
                                               "|event_type                |event_count|value|ts                     |\n"
                                               "+--------------------------+-----------+-----+-----------------------+\n"
                                               "|abcdefghijklmnopqrstuvwxyz|1          |1.0  |2024-01-15 10:30:00    |\n"
                                               "|x                         |22         |0.5  |2024-01-15 10:30:00.123|\n"
                                               "+--------------------------+-----------+-----+-----------------------+\n"
                                               "\n");
}

TEST_CASE("console: only showing top N rows", "[console]") {
  std::vector<Narrow> rows;
  for (int i = 0; i < 25; ++i) rows.push_back({i});
  const std::string twenty = show(rows);
  CHECK(twenty.find("| 19|\n+---+\nonly showing top 20 rows\n\n") != std::string::npos);
  CHECK(twenty.find("| 20|") == std::string::npos);
  const std::string one = show(rows, {.num_rows = 1});
  CHECK(one == banner + "Batch: 0\n" + banner + "+---+\n|  a|\n+---+\n|  0|\n+---+\nonly showing top 1 row\n\n");
  // Exactly num_rows rows: no footer.
  rows.resize(20);
  CHECK(show(rows).find("only showing") == std::string::npos);
}

TEST_CASE("console: windows as {start, end}, truncated like any cell", "[console]") {
  using Row = sl::row<sl::field<"window", sl::time_window>, sl::field<"count", std::int64_t>>;
  const std::vector<Row> rows = {{{sl::time_window{ts("2024-01-15T10:30:00"), ts("2024-01-15T10:35:00")}}, {3}}};
  CHECK(show(rows) == banner + "Batch: 0\n" + banner +
                          "+--------------------+-----+\n"
                          "|              window|count|\n"
                          "+--------------------+-----+\n"
                          "|{2024-01-15 10:30...|    3|\n"
                          "+--------------------+-----+\n"
                          "\n");
  CHECK(show(rows, {.truncate = false}) == banner + "Batch: 0\n" + banner +
                                               "+------------------------------------------+-----+\n"
                                               "|window                                    |count|\n"
                                               "+------------------------------------------+-----+\n"
                                               "|{2024-01-15 10:30:00, 2024-01-15 10:35:00}|3    |\n"
                                               "+------------------------------------------+-----+\n"
                                               "\n");
}

TEST_CASE("console: doubles print as Java's Double.toString", "[console]") {
  using sl::detail::java_double_string;
  CHECK(java_double_string(1.0) == "1.0");
  CHECK(java_double_string(0.5) == "0.5");
  CHECK(java_double_string(-2.25) == "-2.25");
  CHECK(java_double_string(100.0) == "100.0");
  CHECK(java_double_string(123.456) == "123.456");
  CHECK(java_double_string(0.1 + 0.2) == "0.30000000000000004");
  CHECK(java_double_string(9999999.0) == "9999999.0");
  CHECK(java_double_string(1.0e7) == "1.0E7");
  CHECK(java_double_string(1.5e7) == "1.5E7");
  CHECK(java_double_string(12345678.9) == "1.23456789E7");
  CHECK(java_double_string(0.001) == "0.001");
  CHECK(java_double_string(1.0e-4) == "1.0E-4");
  CHECK(java_double_string(1.234e-4) == "1.234E-4");
  CHECK(java_double_string(-1.0e-10) == "-1.0E-10");
  CHECK(java_double_string(1.0e100) == "1.0E100");
  CHECK(java_double_string(std::numeric_limits<double>::max()) == "1.7976931348623157E308");
  CHECK(java_double_string(0.0) == "0.0");
  CHECK(java_double_string(-0.0) == "-0.0");
  CHECK(java_double_string(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  CHECK(java_double_string(std::numeric_limits<double>::infinity()) == "Infinity");
  CHECK(java_double_string(-std::numeric_limits<double>::infinity()) == "-Infinity");
}

TEST_CASE("console: nulls, booleans, arrays and floats as Spark shows them", "[console]") {
  const std::vector<Misc> rows = {{std::nullopt, true, {1, 2, 3}, 1.1f}, {42, false, {}, 1.0e7f}};
  CHECK(show(rows) == banner + "Batch: 0\n" + banner +
                          "+-----+-----+---------+-----+\n"
                          "|maybe| flag|     list|ratio|\n"
                          "+-----+-----+---------+-----+\n"
                          "| null| true|[1, 2, 3]|  1.1|\n"
                          "|   42|false|       []|1.0E7|\n"
                          "+-----+-----+---------+-----+\n"
                          "\n");
}

TEST_CASE("console: rows that are not records show as one column named value", "[console]") {
  CHECK(show(std::vector<std::int64_t>{5, 123456}) == banner + "Batch: 0\n" + banner +
                                                          "+------+\n"
                                                          "| value|\n"
                                                          "+------+\n"
                                                          "|     5|\n"
                                                          "|123456|\n"
                                                          "+------+\n"
                                                          "\n");
}

TEST_CASE("console: one table per batch of a running query", "[console]") {
  std::ostringstream out;
  sl::memory_stream<Event> events;
  auto q = sl::start(events | sl::group_by(sl::col<"event_type">) | sl::aggregate(sl::count()) |
                         sl::console({.out = &out}),
                     // One state partition: the groups in the table's order (several give them
                     // partition by partition, an order this test would have to spell out).
                     sl::output_mode::complete, {.shuffle_partitions = 1});
  events.add_data({{"click", 0, 0, {}}, {"click", 0, 0, {}}});
  q.process_all_available();
  events.add_data({{"view", 0, 0, {}}});
  q.process_all_available();
  q.stop();
  CHECK(out.str() == banner + "Batch: 0\n" + banner +
                         "+----------+-----+\n"
                         "|event_type|count|\n"
                         "+----------+-----+\n"
                         "|     click|    2|\n"
                         "+----------+-----+\n"
                         "\n" +
                         banner + "Batch: 1\n" + banner +
                         "+----------+-----+\n"
                         "|event_type|count|\n"
                         "+----------+-----+\n"
                         "|     click|    2|\n"
                         "|      view|    1|\n"
                         "+----------+-----+\n"
                         "\n");
}

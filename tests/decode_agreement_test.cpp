// JSON (the Boost.JSON path and the simdjson path) and CSV accept the same values: one table of
// inputs, run through all three decoders of the file sources, with the same accept / refuse
// decision and the same value (docs/semantics.md, "Decoding"). Then: range errors and
// duplicate names as bad records (file:line, and skip counts them), through the real source.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;
namespace fsd = sluice::files::detail;

namespace decode_agreement_test {

// The value under test as field "v"; the Boost twin has a field simdjson never decodes (a raw
// JSON value), so its lines always take the Boost.JSON path.
template <class T>
using fast_row = sl::row<sl::field<"v", T>>;
template <class T>
using boost_row = sl::row<sl::field<"v", T>, sl::field<"raw", std::optional<boost::json::value>>>;

template <class T>
struct decoded {
  bool accepted = false;
  T value{};
  std::string reason;
};

template <class Row, class T = typename boost::mp11::mp_front<sl::columns_of<Row>>::type>
decoded<T> through_json(const std::string& line) {
  fsd::json_lines_parser<Row> parser;
  Row row{};
  decoded<T> out;
  out.accepted = parser.parse(line, 1, row, out.reason) == fsd::parse_result::row;
  if (out.accepted) out.value = sl::get<"v">(row);
  return out;
}

template <class T>
decoded<T> through_csv(const std::string& record) {
  fsd::csv_parser<fast_row<T>> parser({}, false);
  fast_row<T> row{};
  decoded<T> out;
  out.accepted = parser.parse(record, 1, row, out.reason) == fsd::parse_result::row;
  if (out.accepted) out.value = sl::get<"v">(row);
  return out;
}

template <class T>
bool same_value(const T& a, const T& b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return a == b && std::signbit(a) == std::signbit(b);
  } else {
    return a == b;
  }
}

// One input: `text` is a JSON literal (a string in JSON when `quoted`) and a CSV field;
// `expected` is the value all decoders give, or nothing when all refuse it.
template <class T>
void check_agree(const std::string& text, bool quoted, std::optional<T> expected) {
  const std::string line = R"({"v":)" + (quoted ? "\"" + text + "\"" : text) + "}";
  INFO("JSON line " << line << ", CSV field " << text);
  const auto boost = through_json<boost_row<T>, T>(line);
  const auto json = through_json<fast_row<T>, T>(line);
  const auto csv = through_csv<T>(text);
  INFO("Boost path: " << boost.reason << "; simdjson build: " << json.reason << "; CSV: " << csv.reason);
  CHECK(boost.accepted == expected.has_value());
  CHECK(json.accepted == expected.has_value());
  CHECK(csv.accepted == expected.has_value());
  if (expected) {
    CHECK(same_value(boost.value, *expected));
    CHECK(same_value(json.value, *expected));
    CHECK(same_value(csv.value, *expected));
  } else {
    CHECK(json.reason == boost.reason);  // the simdjson path hands refusals to the Boost path
    CHECK_THAT(boost.reason, Catch::StartsWith("field 'v': "));
    CHECK_THAT(csv.reason, Catch::StartsWith("field 'v': "));
  }
#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
  // The simdjson path proper: it never takes what is refused, and what it takes is right.
  sl::detail::simd::line_decoder<fast_row<T>> fast;
  fast_row<T> row{};
  const bool taken = fast.decode_line(line, row);
  if (!expected) CHECK_FALSE(taken);
  if (taken && expected) CHECK(same_value(sl::get<"v">(row), *expected));
#endif
}

// A JSON-only input (numbers for timestamps: CSV has only text, and reads timestamps as text).
template <class T>
void check_json(const std::string& literal, std::optional<T> expected, const std::string& reason = "") {
  const std::string line = R"({"v":)" + literal + "}";
  INFO("JSON line " << line);
  const auto boost = through_json<boost_row<T>, T>(line);
  const auto json = through_json<fast_row<T>, T>(line);
  CHECK(boost.accepted == expected.has_value());
  CHECK(json.accepted == expected.has_value());
  CHECK(json.reason == boost.reason);
  if (expected) {
    CHECK(same_value(boost.value, *expected));
    CHECK(same_value(json.value, *expected));
  } else if (!reason.empty()) {
    CHECK(boost.reason == reason);
  }
}

template <class T>
std::optional<T> refused() {
  return std::nullopt;
}

struct Inner {
  std::int32_t a = 0;
};
BOOST_DESCRIBE_STRUCT(Inner, (), (a))
struct Outer {
  std::int64_t id = 0;
  std::vector<Inner> items;
  std::optional<Inner> one;
};
BOOST_DESCRIBE_STRUCT(Outer, (), (id, items, one))
struct OuterBoost {
  std::int64_t id = 0;
  std::vector<Inner> items;
  std::optional<Inner> one;
};
BOOST_DESCRIBE_STRUCT(OuterBoost, (), (id, items, one))

struct Reading {
  std::string sensor;
  std::int32_t level = 0;
  sl::timestamp at;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (sensor, level, at))

struct scratch {
  fs::path root;
  explicit scratch(std::string_view tag) {
    static std::atomic<int> counter{0};
    std::random_device rd;
    root = fs::temp_directory_path() / ("sluice-decode-" + std::string(tag) + "-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(counter++) + "-" + std::to_string(rd()));
    fs::create_directories(root / "in");
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  fs::path in() const { return root / "in"; }
  void put(const std::string& name, const std::string& bytes) const {
    const fs::path tmp = root / ("." + name);
    std::ofstream(tmp, std::ios::binary) << bytes;
    fs::rename(tmp, in() / name);
  }
};

template <class Src>
std::vector<Reading> run(Src src) {
  sl::memory_sink<Reading> sink;
  auto q = sl::start(src | sink, sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  q.await_termination();
  return sink.rows();
}

template <class Src>
std::string failure_of(Src src) {
  sl::memory_sink<Reading> sink;
  auto q = sl::start(src | sink, sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  try {
    q.await_termination();
  } catch (const sl::streaming_query_error& e) {
    return e.what();
  }
  FAIL("the query did not fail");
  return {};
}

}  // namespace decode_agreement_test

#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
template <>
inline constexpr bool sluice::detail::simd::enabled_for<decode_agreement_test::OuterBoost> = false;
#endif

using namespace decode_agreement_test;

TEST_CASE("decoding: JSON and CSV agree on integers, their ranges and non-integers", "[decode]") {
  check_agree<std::int8_t>("127", false, 127);
  check_agree<std::int8_t>("-128", false, -128);
  check_agree<std::int8_t>("128", false, refused<std::int8_t>());
  check_agree<std::int8_t>("-129", false, refused<std::int8_t>());
  check_agree<std::int16_t>("32767", false, 32767);
  check_agree<std::int16_t>("-32769", false, refused<std::int16_t>());
  check_agree<std::int32_t>("2147483647", false, 2147483647);
  check_agree<std::int32_t>("-2147483648", false, -2147483647 - 1);
  check_agree<std::int32_t>("-0", false, 0);
  check_agree<std::int32_t>("2147483648", false, refused<std::int32_t>());
  check_agree<std::int32_t>("3000000000", false, refused<std::int32_t>());
  // Integers are written as integers (Spark's JSON and CSV readers too): no fraction, no exponent.
  check_agree<std::int32_t>("3e9", false, refused<std::int32_t>());
  check_agree<std::int32_t>("3000000000.0", false, refused<std::int32_t>());
  check_agree<std::int32_t>("3.0", false, refused<std::int32_t>());
  check_agree<std::int32_t>("3.5", false, refused<std::int32_t>());
  check_agree<std::int32_t>("1E2", false, refused<std::int32_t>());
  check_agree<std::int32_t>("1e400", false, refused<std::int32_t>());
  check_agree<std::int64_t>("9223372036854775807", false, std::numeric_limits<std::int64_t>::max());
  check_agree<std::int64_t>("-9223372036854775808", false, std::numeric_limits<std::int64_t>::min());
  check_agree<std::int64_t>("9223372036854775808", false, refused<std::int64_t>());
  check_agree<std::int64_t>("-9223372036854775809", false, refused<std::int64_t>());
  check_agree<std::int64_t>("100000000000000000000", false, refused<std::int64_t>());
  check_agree<std::uint8_t>("255", false, 255);
  check_agree<std::uint8_t>("256", false, refused<std::uint8_t>());
  check_agree<std::uint8_t>("-1", false, refused<std::uint8_t>());
  check_agree<std::uint16_t>("65535", false, 65535);
  check_agree<std::uint16_t>("65536", false, refused<std::uint16_t>());
  check_agree<std::uint32_t>("4294967295", false, 4294967295u);
  check_agree<std::uint32_t>("4294967296", false, refused<std::uint32_t>());
  check_agree<std::uint64_t>("18446744073709551615", false, std::numeric_limits<std::uint64_t>::max());
  check_agree<std::uint64_t>("18446744073709551616", false, refused<std::uint64_t>());
  check_agree<std::uint64_t>("-1", false, refused<std::uint64_t>());
}

TEST_CASE("decoding: JSON and CSV agree on floats, doubles, their ranges and NaN / Infinity", "[decode]") {
  check_agree<double>("0.1", false, 0.1);
  check_agree<double>("-0.0", false, -0.0);
  check_agree<double>("12", false, 12.0);
  check_agree<double>("1.7976931348623157e308", false, std::numeric_limits<double>::max());
  check_agree<double>("4.9e-324", false, std::numeric_limits<double>::denorm_min());
  check_agree<double>("123456789012345678901234567890", false, 1.2345678901234568e29);
  // Beyond the range: refused, never infinity. Below it: zero, keeping the sign (as Java).
  check_agree<double>("1.8e308", false, refused<double>());
  check_agree<double>("1e400", false, refused<double>());
  check_agree<double>("-1e400", false, refused<double>());
  check_agree<double>("1e-400", false, 0.0);
  check_agree<double>("-1e-400", false, -0.0);
  check_agree<float>("1.5", false, 1.5f);
  check_agree<float>("16777217", false, 16777216.0f);
  check_agree<float>("3.4028235e38", false, std::numeric_limits<float>::max());
  check_agree<float>("3.5e38", false, refused<float>());
  check_agree<float>("-3.5e38", false, refused<float>());
  check_agree<float>("1e400", false, refused<float>());
  check_agree<float>("1e-50", false, 0.0f);
  check_agree<float>("-1e-50", false, -0.0f);
  // NaN and infinities: JSON has them only as strings (as Jackson and sluice write them).
  check_agree<double>("NaN", true, std::numeric_limits<double>::quiet_NaN());
  check_agree<double>("Infinity", true, std::numeric_limits<double>::infinity());
  check_agree<double>("-Infinity", true, -std::numeric_limits<double>::infinity());
  check_agree<double>("inf", true, std::numeric_limits<double>::infinity());
  check_agree<float>("NaN", true, std::numeric_limits<float>::quiet_NaN());
  check_agree<float>("-Infinity", true, -std::numeric_limits<float>::infinity());
  check_agree<double>("hello", true, refused<double>());
  check_agree<double>("1.5x", true, refused<double>());
}

TEST_CASE("decoding: JSON and CSV agree on timestamp text, and JSON numbers are range-checked seconds", "[decode]") {
  check_agree<sl::timestamp>("2024-01-15T10:30:00Z", true, *sl::parse_timestamp("2024-01-15T10:30:00Z"));
  check_agree<sl::timestamp>("9999-12-31T23:59:59.999999Z", true, sl::timestamp{253402300799999999});
  check_agree<sl::timestamp>("0000-01-01T00:00:00Z", true, sl::timestamp{-62167219200000000});
  check_agree<sl::timestamp>("9999-12-31T23:59:59-18:00", true, sl::timestamp{253402365599000000});
  check_agree<sl::timestamp>("+10000-01-01T00:00:00Z", true, refused<sl::timestamp>());
  check_agree<sl::timestamp>("10000-01-01", true, refused<sl::timestamp>());
  check_agree<sl::timestamp>("2024-02-30", true, refused<sl::timestamp>());
  check_agree<sl::timestamp>("1700000000", true, refused<sl::timestamp>());  // text must be ISO-8601

  const std::string range = " out of range for a timestamp (seconds since the epoch, -9223372036854 to 9223372036854)";
  check_json<sl::timestamp>("1700000000", sl::timestamp{1700000000000000});
  check_json<sl::timestamp>("1.5", sl::timestamp{1500000});
  check_json<sl::timestamp>("-2", sl::timestamp{-2000000});
  check_json<sl::timestamp>("9223372036854", sl::timestamp{9223372036854000000});
  check_json<sl::timestamp>("-9223372036854", sl::timestamp{-9223372036854000000});
  check_json<sl::timestamp>("9223372036854.7", sl::timestamp{std::llround(9223372036854.7 * 1e6)});
  check_json<sl::timestamp>("9223372036854.775", refused<sl::timestamp>());  // 2^63 microseconds exactly
  check_json<sl::timestamp>("9223372036855", refused<sl::timestamp>(), "field 'v': number 9223372036855" + range);
  check_json<sl::timestamp>("9223372036854.777", refused<sl::timestamp>());
  check_json<sl::timestamp>("1e30", refused<sl::timestamp>(), "field 'v': number 1.0E30" + range);
  check_json<sl::timestamp>("-1e30", refused<sl::timestamp>(), "field 'v': number -1.0E30" + range);
  check_json<sl::timestamp>("18446744073709551615", refused<sl::timestamp>());
  check_json<sl::timestamp>("1e400", refused<sl::timestamp>(), "field 'v': number beyond 1.8E308" + range);
}

TEST_CASE("decoding: range errors name the field and the value", "[decode]") {
  CHECK(through_json<boost_row<std::int32_t>>(R"({"v":3e9})").reason ==
        "field 'v': expected an integer, got a number with a fraction or an exponent (3.0E9)");
  CHECK(through_json<boost_row<std::int32_t>>(R"({"v":3000000000})").reason == "field 'v': integer 3000000000 out of range");
  CHECK(through_json<boost_row<std::int64_t>>(R"({"v":100000000000000000000})").reason ==
        "field 'v': integer 1.0E20 out of range");
  CHECK(through_json<boost_row<double>>(R"({"v":1e400})").reason ==
        "field 'v': number beyond 1.8E308 out of range for a double");
  CHECK(through_json<boost_row<float>>(R"({"v":3.5e38})").reason == "field 'v': number 3.5E38 out of range for a float");
  CHECK(through_json<boost_row<double>>(R"({"v":"1.5"})").reason ==
        "field 'v': expected a number, got the string \"1.5\" (strings are read only as NaN, Infinity or -Infinity)");
  CHECK(through_csv<double>("1e400").reason == "field 'v': number '1e400' out of range for a double (column 1)");
  CHECK(through_csv<std::int32_t>("3000000000").reason == "field 'v': integer '3000000000' out of range (column 1)");
  CHECK(through_csv<std::int32_t>("3.0").reason == "field 'v': expected an integer, got '3.0' (column 1)");
}

TEST_CASE("decoding: a JSON key the row type reads, given twice, is refused by both paths", "[decode]") {
  auto both = [](const std::string& line) {
    const auto fast = through_json<fast_row<std::int32_t>, std::int32_t>(line);
    const auto boost = through_json<boost_row<std::int32_t>, std::int32_t>(line);
    CHECK(fast.accepted == boost.accepted);
    CHECK(fast.reason == boost.reason);
    CHECK(fast.value == boost.value);
    return boost;
  };
  CHECK(both(R"({"v":1,"v":2})").reason == "field 'v': given twice in one object (a duplicate key)");
  CHECK(both(R"({"v":1,"x":0,"v":1})").reason == "field 'v': given twice in one object (a duplicate key)");
  CHECK(both(R"({"v":1,"x\u0000y":0,"v":1})").reason == "field 'v': given twice in one object (a duplicate key)");
  CHECK(both(R"({"v":1,"\u0076":2})").reason == "field 'v': given twice in one object (a duplicate key)");
  // Keys the row type does not read are ignored, repeated or not, however deep.
  auto ok = both(R"({"x":1,"v":7,"x":2,"deep":{"a":[{"b":1,"b":2}],"a":3}})");
  CHECK(ok.accepted);
  CHECK(ok.value == 7);
  ok = both(R"({"x":{"a":{}},"v":8,"x":{"b":2}})");
  CHECK(ok.accepted);
  CHECK(ok.value == 8);
  // A repeated key beyond the first 16 keys of an object (found by sorting).
  std::string wide = R"({"v":5)";
  for (int i = 0; i < 40; ++i) wide += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
  CHECK(both(wide + "}").accepted);
  CHECK(both(wide + R"(,"v":6})").reason == "field 'v': given twice in one object (a duplicate key)");

  // Nested records and arrays: the path names where.
  auto nested = [](const std::string& line) {
    fsd::json_lines_parser<Outer> fast;
    fsd::json_lines_parser<OuterBoost> boost;
    Outer a{};
    OuterBoost b{};
    std::string ra, rb;
    const auto x = fast.parse(line, 1, a, ra);
    const auto y = boost.parse(line, 1, b, rb);
    CHECK(static_cast<int>(x) == static_cast<int>(y));
    CHECK(ra == rb);
    return rb;
  };
  CHECK(nested(R"({"id":1,"items":[{"a":1},{"a":2,"a":3}]})") ==
        "field 'items[1].a': given twice in one object (a duplicate key)");
  CHECK(nested(R"({"id":1,"items":[],"one":{"a":2,"b":0,"a":3}})") ==
        "field 'one.a': given twice in one object (a duplicate key)");
  CHECK(nested(R"({"id":1,"items":[{"a":1,"b":[{"c":1,"c":2}]}],"other":[{"a":1,"a":2}]})").empty());
  CHECK(nested(R"({"id":1,"items":[],"id":2})") == "field 'id': given twice in one object (a duplicate key)");
  // the value dropped with the first "one" held an object: the count of objects differs
  CHECK(nested(R"({"id":1,"items":[],"one":{"a":1},"one":{"a":2}})") ==
        "field 'one': given twice in one object (a duplicate key)");
  CHECK(nested(R"({"id":1,"items":[[],{"a":1}],"one":{"a":1}})") == "field 'items[0]': expected an object, got an array");
}

TEST_CASE("decoding: a CSV header naming a column the row type reads twice is refused", "[decode]") {
  auto header = [](const std::string& line) {
    fsd::csv_parser<Reading> p({}, true);
    Reading r{};
    std::string reason;
    const auto result = p.parse(line, 1, r, reason);
    return result == fsd::parse_result::bad ? reason : std::string();
  };
  CHECK(header("sensor,level,at").empty());
  CHECK(header("sensor,level,at,x,x,,").empty());     // columns no field reads may repeat
  CHECK(header("sensor,level,at,LEVEL").empty());     // an exact match is not ambiguous
  CHECK(header("sensor,level,at,level") ==
        "the header names column 'level' twice (columns 2 'level' and 4 'level')");
  CHECK(header("sensor,Level,at,LEVEL") ==
        "the header names column 'level' twice (columns 2 'Level' and 4 'LEVEL')");
}

TEST_CASE("decoding: range errors and duplicates are bad records: file:line, skip, dead letter", "[decode][files]") {
  const std::string good1 = R"({"sensor":"a","level":1,"at":"2024-01-15T10:30:00Z"})";
  const std::string good2 = R"({"sensor":"b","level":2,"at":1705314600})";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"sensor":"c","level":3e9,"at":"2024-01-15T10:30:00Z"})",
       "field 'level': expected an integer, got a number with a fraction or an exponent (3.0E9)"},
      {R"({"sensor":"d","level":3000000000,"at":"2024-01-15T10:30:00Z"})", "field 'level': integer 3000000000 out of range"},
      {R"({"sensor":"e","level":1,"at":1e30})",
       "field 'at': number 1.0E30 out of range for a timestamp (seconds since the epoch, -9223372036854 to 9223372036854)"},
      {R"({"sensor":"f","level":1,"level":2,"at":1})", "field 'level': given twice in one object (a duplicate key)"},
  };
  for (const auto& [line, reason] : bad) {
    INFO(line);
    scratch s("fail");
    s.put("r.json", good1 + "\n" + line + "\n" + good2 + "\n");
    CHECK_THAT(failure_of(sl::files::json_lines<Reading>(s.in())),
               Catch::Contains((s.in() / "r.json").string() + ":2: " + reason));
  }
  {
    scratch s("skip");
    std::string text = good1 + "\n";
    for (const auto& [line, reason] : bad) text += line + "\n";
    s.put("r.json", text + good2 + "\n");
    auto src = sl::files::json_lines<Reading>(s.in(), {.on_bad_record = sl::files::bad_record::skip});
    const auto rows = run(src);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].sensor == "a");
    CHECK(rows[1].sensor == "b");
    CHECK(rows[1].at == sl::timestamp{1705314600000000});
    CHECK(src.metrics().bad_records_skipped == 4);
    CHECK(src.metrics().rows == 2);
  }
  {
    scratch s("dlq");
    s.put("r.json", good1 + "\n" + bad[1].first + "\n");
    const fs::path dlq = s.root / "dlq";
    auto src = sl::files::json_lines<Reading>(s.in(), {.on_bad_record = sl::files::dead_letter(dlq)});
    CHECK(run(src).size() == 1);
    std::ifstream reasons(dlq / "r.json.bad.reasons");
    std::string reason_line;
    std::getline(reasons, reason_line);
    CHECK_THAT(reason_line, Catch::Contains(R"("line":2,"reason":"field 'level': integer 3000000000 out of range")"));
  }
  {  // CSV: a value out of range is skipped and counted; a duplicate header column fails with file:1
    scratch s("csv");
    s.put("r.csv", "sensor,level,at\na,1,2024-01-15T10:30:00Z\nb,3000000000,2024-01-15T10:30:00Z\nc,2,2024-01-15\n");
    auto src = sl::files::csv<Reading>(s.in(), {.on_bad_record = sl::files::bad_record::skip, .header = true});
    CHECK(run(src).size() == 2);
    CHECK(src.metrics().bad_records_skipped == 1);
    scratch d("csvdup");
    d.put("d.csv", "sensor,level,at,level\na,1,2024-01-15T10:30:00Z,2\n");
    CHECK_THAT(failure_of(sl::files::csv<Reading>(d.in(), {.header = true})),
               Catch::Contains((d.in() / "d.csv").string() +
                               ":1: the header names column 'level' twice (columns 2 'level' and 4 'level')"));
  }
}

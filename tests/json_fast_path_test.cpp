// The simdjson fast path of JSON-lines decoding (codec/simdjson_decode.hpp) against the
// Boost.JSON path, line by line: same rows, same errors, and the fast path really taking the
// plain lines (and only handing the others over).
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace sl = sluice;
namespace fsd = sluice::files::detail;

namespace fast_path_test {

struct Inner {
  std::int32_t a;
  std::optional<std::string> b;
};
BOOST_DESCRIBE_STRUCT(Inner, (), (a, b))

// Two identical row types: the first may take the fast path, the second never does.
#define SLUICE_FAST_PATH_ROW(Name)                                                             \
  struct Name {                                                                                \
    std::string id;                                                                            \
    sl::timestamp ts;                                                                          \
    std::int64_t n;                                                                            \
    double x;                                                                                  \
    bool flag;                                                                                 \
    std::optional<std::int16_t> small;                                                         \
    std::vector<double> xs;                                                                    \
    std::optional<Inner> inner;                                                                \
    bool operator==(const Name&) const = default;                                              \
  };                                                                                           \
  BOOST_DESCRIBE_STRUCT(Name, (), (id, ts, n, x, flag, small, xs, inner))
SLUICE_FAST_PATH_ROW(FastRow);
SLUICE_FAST_PATH_ROW(BoostRow);
#undef SLUICE_FAST_PATH_ROW

bool operator==(const Inner& l, const Inner& r) { return l.a == r.a && l.b == r.b; }

}  // namespace fast_path_test

template <>
inline constexpr bool sluice::detail::simd::enabled_for<fast_path_test::BoostRow> = false;

namespace {
using fast_path_test::BoostRow;
using fast_path_test::FastRow;

struct outcome {
  fsd::parse_result result;
  std::string reason;
  BoostRow row;  // FastRow's fields copied over, to compare
};

template <class Row>
outcome decode_with(std::string_view line) {
  fsd::json_lines_parser<Row> parser;
  Row row{};
  std::string reason;
  const auto result = parser.parse(line, 7, row, reason);
  outcome o{result, reason, {}};
  if (result == fsd::parse_result::row)
    o.row = BoostRow{row.id, row.ts, row.n, row.x, row.flag, row.small, row.xs, row.inner};
  return o;
}

bool fast_path_takes(std::string_view line) {
  sl::detail::simd::line_decoder<FastRow> decoder;
  FastRow row{};
  return decoder.decode_line(line, row);
}

void check_same(const std::string& line) {
  INFO("line: " << line);
  const auto fast = decode_with<FastRow>(line);
  const auto slow = decode_with<BoostRow>(line);
  CHECK(static_cast<int>(fast.result) == static_cast<int>(slow.result));
  CHECK(fast.reason == slow.reason);
  if (fast.result == fsd::parse_result::row && slow.result == fsd::parse_result::row) CHECK(fast.row == slow.row);
}

const std::string plain =
    R"({"id":"e1","ts":"2024-01-15T10:30:00.123456","n":42,"x":1.5,"flag":true,"small":7,"xs":[1,2.5],"inner":{"a":3,"b":"q"}})";
}  // namespace

TEST_CASE("json fast path decodes plain lines as the Boost path does") {
  const std::vector<std::string> lines = {
      plain,
      // extra fields of every kind are ignored; optionals absent or null
      R"({"extra":{"deep":[1,{"k":null}]},"id":"e2","ts":"2024-02-29 23:59:60Z","n":-9223372036854775808,"x":-0.0,"flag":false,"xs":[],"inner":null})",
      R"({"id":"e\u00e9\n","ts":"2024-01-15T10:30:00.123Z","n":0,"x":1e300,"flag":true,"small":null,"xs":[-1e-300]})",
      // numbers for timestamps are seconds since the epoch; integers for doubles
      R"({"id":"e3","ts":1705314600.25,"n":18446744073709551615,"x":12,"flag":true,"xs":[3]})",
      R"({"id":"e4","ts":1705314600,"n":1,"x":123456789012345678901234567890,"flag":true,"xs":[]})",
      R"(  {"id":"e5","ts":"2024-01-15","n":1,"x":0.1,"flag":true,"xs":[],"inner":{"a":-2147483648}}  )",
      "{\"id\":\"e6\",\"ts\":\"2024-01-15T10:30:00+01:00\",\"n\":1,\"x\":0.1,\"flag\":true,\"xs\":[]}\r",
  };
  for (const auto& line : lines) check_same(line);
  CHECK(fast_path_takes(lines[0]));
  CHECK(fast_path_takes(lines[1]));
  CHECK(fast_path_takes(lines[2]));
  CHECK(fast_path_takes(lines[5]));
}

TEST_CASE("json fast path hands odd lines to the Boost path, which words the error") {
  const std::vector<std::string> lines = {
      "",
      "   ",
      "[1,2]",
      "42",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":[]} {})",  // extra data
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":[],)",      // trailing comma
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true)",               // truncated
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":[],"other":tru})",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":[],"other":"a	b"})",  // raw tab
      R"({"ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":[]})",                 // missing id
      R"({"id":null,"ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":[]})",       // null required
      R"({"id":"a","id":"b","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":[]})",  // duplicate
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":3.0,"x":1,"flag":true,"xs":[]})",     // 3.0 as integer
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":3.5,"x":1,"flag":true,"xs":[]})",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"small":40000,"xs":[]})",  // range
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":18446744073709551616,"x":1,"flag":true,"xs":[]})",
      R"({"id":"e1","ts":"2024-02-30T10:30:00.000Z","n":1,"x":1,"flag":true,"xs":[]})",  // no such day
      R"({"id":"e1","ts":"2023-02-29T10:30:00.000000","n":1,"x":1,"flag":true,"xs":[]})",
      R"({"id":"e1","ts":"2024-01-15T24:30:00.000000","n":1,"x":1,"flag":true,"xs":[]})",
      R"({"id":"e1","ts":"2024-01-15X10:30:00.000000","n":1,"x":1,"flag":true,"xs":[]})",
      R"({"id":"e1","ts":"2024-01-1a","n":1,"x":1,"flag":true,"xs":[]})",
      R"({"id":"e1","ts":true,"n":1,"x":1,"flag":true,"xs":[]})",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":"1","flag":true,"xs":[]})",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":1,"xs":[]})",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":[1,"2"]})",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":{}})",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":[],"inner":{"b":"x"}})",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1e999,"flag":true,"xs":[]})",
      // out of range: seconds beyond 64-bit microseconds, an integer written with an exponent
      R"({"id":"e1","ts":1e30,"n":1,"x":1,"flag":true,"xs":[]})",
      R"({"id":"e1","ts":18446744073709551615,"n":1,"x":1,"flag":true,"xs":[]})",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":3e9,"x":1,"flag":true,"xs":[]})",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":[],"inner":{"a":1,"a":2}})",
      R"({"id":"e1","ts":"2024-01-15T10:30:00","n":1,"x":1,"flag":true,"xs":[]}// comment)",
      // invalid UTF-8: a lone continuation byte, an overlong form, a surrogate, above U+10FFFF, truncated
      "{\"id\":\"\x80\",\"ts\":\"2024-01-15\",\"n\":1,\"x\":1,\"flag\":true,\"xs\":[]}",
      "{\"id\":\"\xC0\xAF\",\"ts\":\"2024-01-15\",\"n\":1,\"x\":1,\"flag\":true,\"xs\":[]}",
      "{\"id\":\"\xED\xA0\x80\",\"ts\":\"2024-01-15\",\"n\":1,\"x\":1,\"flag\":true,\"xs\":[]}",
      "{\"id\":\"\xF4\x90\x80\x80\",\"ts\":\"2024-01-15\",\"n\":1,\"x\":1,\"flag\":true,\"xs\":[]}",
      "{\"id\":\"\xE2\x82\",\"ts\":\"2024-01-15\",\"n\":1,\"x\":1,\"flag\":true,\"xs\":[]}",
  };
  for (const auto& line : lines) {
    check_same(line);
    INFO("line: " << line);
    CHECK_FALSE(fast_path_takes(line));
  }
  // both paths agree that these are bad, with the same reason
  CHECK(decode_with<FastRow>(lines[9]).reason == "field 'id': missing required field");
  CHECK(decode_with<FastRow>(lines[10]).reason == "field 'id': null for a required field");
}

TEST_CASE("json fast path and Boost agree on nesting depth limits") {
  for (int depth = 28; depth <= 36; ++depth) {
    std::string nested = std::string(static_cast<std::size_t>(depth), '[') + std::string(static_cast<std::size_t>(depth), ']');
    check_same(R"({"id":"e","ts":"2024-01-15","n":1,"x":1,"flag":true,"xs":[],"deep":)" + nested + "}");
  }
}

TEST_CASE("json fast path reads common timestamp layouts as parse_timestamp does") {
  std::mt19937_64 rng(11);
  const char* layouts[] = {"%04d-%02d-%02dT%02d:%02d:%02d.%06d", "%04d-%02d-%02d %02d:%02d:%02d.%06dZ",
                           "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", "%04d-%02d-%02dT%02d:%02d:%02d.%03d"};
  int compared = 0;
  for (int i = 0; i < 20000; ++i) {
    const int layout = static_cast<int>(rng() % 4);
    const bool millis = layout >= 2;
    char buf[64];
    std::snprintf(buf, sizeof buf, layouts[layout], static_cast<int>(1890 + rng() % 300), static_cast<int>(rng() % 14),
                  static_cast<int>(rng() % 33), static_cast<int>(rng() % 26), static_cast<int>(rng() % 62),
                  static_cast<int>(rng() % 62), static_cast<int>(rng() % (millis ? 1000 : 1000000)));
    std::string s(buf);
    if (rng() % 8 == 0) s[rng() % s.size()] = "9x:-. T"[rng() % 7];  // damage one character
    INFO(s);
    const auto fast = sl::detail::simd::parse_common_timestamp(s);
    const auto slow = sl::parse_timestamp(s);
    REQUIRE(fast.has_value() == slow.has_value());
    if (fast) REQUIRE(fast->micros == slow->micros);
    ++compared;
  }
  for (const char* s : {"2000-02-29T00:00:00.000000", "1900-02-29T00:00:00.000000", "2100-02-29T00:00:00.000Z",
                        "2024-12-31T23:59:60.999999Z", "2024-12-31T23:59:60.999999z", "0000-01-01T00:00:00.000"}) {
    INFO(s);
    const auto fast = sl::detail::simd::parse_common_timestamp(s);
    const auto slow = sl::parse_timestamp(s);
    REQUIRE(fast.has_value() == slow.has_value());
    if (fast) CHECK(fast->micros == slow->micros);
  }
  CHECK(compared == 20000);
  CHECK(sl::detail::simd::parse_common_timestamp("2000-02-29T00:00:00.000000").has_value());
  CHECK_FALSE(sl::detail::simd::parse_common_timestamp("1900-02-29T00:00:00.000000").has_value());
}

TEST_CASE("json fast path reads a timestamp of the minute it read before as parse_timestamp does") {
  // The decoder keeps the last minute it accepted; what follows in the same minute reads only
  // its seconds and fraction: damaged ones, second 60 and 61, and the other layouts must still
  // agree with parse_timestamp.
  std::mt19937_64 rng(5);
  sl::detail::simd::timestamp_cache cache;
  const char* minutes[] = {"2024-01-15T10:30", "2024-01-15 10:30", "2024-02-29T23:59", "2023-02-28T00:00"};
  int hits = 0;
  for (int i = 0; i < 20000; ++i) {
    char buf[64];
    const bool millis = rng() % 2 == 0;
    std::snprintf(buf, sizeof buf, millis ? "%s:%02d.%03d" : "%s:%02d.%06d", minutes[(i / 100) % 4],
                  static_cast<int>(rng() % 63), static_cast<int>(rng() % (millis ? 1000 : 1000000)));
    std::string s(buf);
    if (rng() % 3 == 0) s += 'Z';
    if (rng() % 6 == 0) s[16 + rng() % (s.size() - 16)] = "9x:-. T"[rng() % 7];  // damage the seconds or fraction
    if (rng() % 50 == 0) s[rng() % 16] = "9x:-. T"[rng() % 7];  // or the minute
    INFO(s);
    const bool warm = cache.valid && std::string_view(cache.minute, 16) == std::string_view(s).substr(0, 16);
    const auto fast = sl::detail::simd::parse_common_timestamp(s, &cache);
    const auto slow = sl::parse_timestamp(s);
    REQUIRE(fast.has_value() == slow.has_value());
    if (fast) REQUIRE(fast->micros == slow->micros);
    hits += warm ? 1 : 0;
  }
  CHECK(hits > 10000);  // most of them read with the minute kept
}

namespace {
// What a line decodes to alone: taken or not, and the row.
struct taken_row {
  bool taken = false;
  FastRow row{};
};

taken_row alone(std::string_view line) {
  sl::detail::simd::line_decoder<FastRow> decoder;
  taken_row t;
  t.taken = decoder.decode_line(line, t.row);
  return t;
}
}  // namespace

TEST_CASE("json fast path decodes the lines of a block each as it decodes alone") {
  // Blocks of plain lines mixed with odd ones: objects cut over two lines, two objects on one
  // line, scalars, blank lines, invalid UTF-8, an unterminated string, deep nesting. A document
  // of the block's stream must be taken for a line only when it is that line's alone.
  const std::string row1 = R"({"id":"a","ts":"2024-01-15T10:30:00.000001","n":1,"x":0.5,"flag":true,"xs":[]})";
  const std::string row2 = R"({"xs":[1,2],"flag":false,"x":-2,"n":7,"ts":"2024-01-15T10:30:59.999999Z","id":"b","small":3})";
  const std::vector<std::string> pool = {
      row1, row2, plain, "  " + row1 + " \r", "", "   ", "\r", "42", "[1,2]", "\"s\"", row1 + " " + row2, row1 + row2,
      row1 + " x", R"({"id":"c","ts":"2024-01-15T10:30:00.000001","n":1,)", R"("x":0.5,"flag":true,"xs":[]})",
      R"({"id":"unterminated,"ts":"2024-01-15","n":1,"x":1,"flag":true,"xs":[]})", "{\"id\":\"\x80\",\"ts\":\"2024-01-15\"}",
      R"({"id":"e","ts":"2024-01-15","n":1,"x":1,"flag":true,"xs":[],"deep":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})",
      R"({"id":"d","ts":"2024-01-15T10:31:00.5Z","n":1,"x":1,"flag":true,"xs":[]})",  // not a common layout
      R"({"id":"a","id":"b","ts":"2024-01-15","n":1,"x":1,"flag":true,"xs":[]})", "{", "}", "{}", "]",
      R"({"id":"e","ts":"2024-01-15T10:30:61.000000","n":1,"x":1,"flag":true,"xs":[]})"};
  std::mt19937_64 rng(17);
  for (int round = 0; round < 60; ++round) {
    // Mostly plain lines, and a few odd ones; some blocks larger than a window (256 KiB).
    const std::size_t count = round % 10 == 0 ? 6000 : 1 + rng() % 60;
    std::vector<std::string> lines;
    for (std::size_t i = 0; i < count; ++i)
      lines.push_back(rng() % 4 == 0 ? pool[rng() % pool.size()] : (rng() % 2 ? row1 : row2));
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    if (rng() % 2 == 0 && !text.empty()) text.pop_back();  // the last line without its newline
    std::string buffer = text + std::string(64, 'x');     // readable bytes after the block
    const std::string_view block(buffer.data(), text.size());
    sl::detail::simd::line_decoder<FastRow> decoder;
    decoder.begin_block(block);
    std::size_t at = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::string_view line = block.substr(at, lines[i].size());
      at += lines[i].size() + 1;
      if (rng() % 50 == 0) continue;  // a line the caller skips (too long, say)
      INFO("round " << round << ", line " << i << ": " << lines[i]);
      FastRow row{};
      const bool taken = decoder.decode_line(line, row);
      const auto expected = alone(line);
      REQUIRE(taken == expected.taken);
      if (taken) REQUIRE(row == expected.row);
    }
    decoder.end_block();
  }
  // Through the parser, with the Boost path behind: the same results and reasons.
  std::string text;
  for (int i = 0; i < 200; ++i) text += pool[static_cast<std::size_t>(i) % pool.size()] + "\n";
  std::string buffer = text + std::string(64, ' ');
  fsd::json_lines_parser<FastRow> parser;
  parser.begin_block(std::string_view(buffer.data(), text.size()));
  std::size_t at = 0;
  int rows = 0;
  for (int i = 0; i < 200; ++i) {
    const auto& l = pool[static_cast<std::size_t>(i) % pool.size()];
    const std::string_view line(buffer.data() + at, l.size());
    at += l.size() + 1;
    INFO("line " << i << ": " << l);
    FastRow row{};
    std::string reason;
    const auto result = parser.parse(line, i + 1, row, reason);
    const auto expected = decode_with<BoostRow>(line);
    REQUIRE(static_cast<int>(result) == static_cast<int>(expected.result));
    REQUIRE(reason == expected.reason);
    if (result == fsd::parse_result::row) {
      ++rows;
      REQUIRE(BoostRow{row.id, row.ts, row.n, row.x, row.flag, row.small, row.xs, row.inner} == expected.row);
    }
  }
  parser.end_block();
  CHECK(rows > 0);
}

#else

TEST_CASE("json fast path not built: simdjson was not found") {
  WARN("sluice::simdjson is not available (install libsimdjson-dev): only the Boost.JSON path is tested");
  CHECK_FALSE(sluice::files::detail::parse_result::row == sluice::files::detail::parse_result::bad);
}

#endif

// sluice/time.hpp: parsing and formatting timestamps, durations.
#include <catch2/catch.hpp>

#include <sluice/time.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace {
constexpr std::int64_t us_per_s = 1'000'000;
// 2024-01-15T10:30:00Z
constexpr std::int64_t jan15 = 1705314600LL * us_per_s;

std::int64_t parsed(const char* text) {
  const auto t = sl::parse_timestamp(text);
  INFO("text: " << text);
  REQUIRE(t.has_value());
  return t->micros;
}
}  // namespace

TEST_CASE("parse_timestamp: ISO-8601 and Spark forms, UTC by default", "[time]") {
  CHECK(parsed("2024-01-15T10:30:00") == jan15);
  CHECK(parsed("2024-01-15 10:30:00") == jan15);
  CHECK(parsed("2024-01-15T10:30:00Z") == jan15);
  CHECK(parsed("2024-01-15T10:30:00z") == jan15);
  CHECK(parsed("2024-01-15T10:30") == jan15);
  CHECK(parsed("2024-01-15") == jan15 - (10 * 3600 + 30 * 60) * us_per_s);
  CHECK(parsed("1970-01-01T00:00:00Z") == 0);
  CHECK(parsed("1970-01-01") == 0);
  CHECK(parsed("2000-02-29T00:00:00Z") == 951782400LL * us_per_s);  // leap day
  CHECK(parsed("2038-01-19T03:14:08Z") == 2147483648LL * us_per_s);  // past 32-bit time_t
}

TEST_CASE("parse_timestamp: UTC offsets", "[time]") {
  CHECK(parsed("2024-01-15T12:30:00+02:00") == jan15);
  CHECK(parsed("2024-01-15T12:30:00+0200") == jan15);
  CHECK(parsed("2024-01-15T12:30:00+02") == jan15);
  CHECK(parsed("2024-01-15T05:00:00-05:30") == jan15);
  CHECK(parsed("2024-01-15T05:00:00-0530") == jan15);
  CHECK(parsed("2024-01-16T00:00:00+13:30") == jan15);  // crosses a day backwards
  CHECK(parsed("2024-01-14T22:30:00-12:00") == jan15);  // crosses a day forwards
  CHECK(parsed("2024-01-15T10:30:00.25+01:00") == jan15 - 3600 * us_per_s + 250'000);
  CHECK(parsed("2024-01-16T04:30:00+18:00") == jan15);
  CHECK(parsed("2024-01-14T16:30:00-18:00") == jan15);
}

TEST_CASE("parse_timestamp: fractional seconds, microsecond precision", "[time]") {
  CHECK(parsed("2024-01-15T10:30:00.1") == jan15 + 100'000);
  CHECK(parsed("2024-01-15T10:30:00.123") == jan15 + 123'000);
  CHECK(parsed("2024-01-15 10:30:00.123456") == jan15 + 123'456);
  CHECK(parsed("2024-01-15T10:30:00.000001Z") == jan15 + 1);
  CHECK(parsed("2024-01-15T10:30:00.000000") == jan15);
  // Beyond microseconds (Spark's precision) the extra digits are cut, not rounded.
  CHECK(parsed("2024-01-15T10:30:00.1234569") == jan15 + 123'456);
}

TEST_CASE("parse_timestamp: before 1970", "[time]") {
  CHECK(parsed("1969-12-31T23:59:59Z") == -us_per_s);
  CHECK(parsed("1969-12-31T23:59:59.5Z") == -500'000);
  CHECK(parsed("1969-12-31T23:59:59.999999Z") == -1);
  CHECK(parsed("1960-01-01") == -315619200LL * us_per_s);
  CHECK(parsed("1900-03-01T00:00:00Z") == -2203891200LL * us_per_s);  // 1900 is not a leap year
  CHECK(parsed("0001-01-01T00:00:00Z") == -62135596800LL * us_per_s);
  CHECK(parsed("1970-01-01T00:30:00+01:00") == -1800 * us_per_s);
}

TEST_CASE("parse_timestamp: invalid text is nullopt", "[time]") {
  const char* bad[] = {
      "",
      "garbage",
      "2024",
      "2024-01",
      "24-01-15",
      "2024-1-15",
      "2024-01-5",
      "2024/01/15",
      "2024-00-10",
      "2024-13-01",
      "2024-01-00",
      "2024-01-32",
      "2024-02-30",           // no such day
      "2023-02-29",           // not a leap year
      "1900-02-29",           // centuries are not, unless divisible by 400
      "2024-04-31",
      "2024-01-15T",
      "2024-01-15T10",
      "2024-01-15T10:3",
      "2024-01-15T24:00:00",
      "2024-01-15T10:60:00",
      "2024-01-15T10:30:61",
      "2024-01-15T10:30:00.",   // a dot without digits
      "2024-01-15T10:30:00.12a",
      "2024-01-15T10:30:00+",
      "2024-01-15T10:30:00+5",
      "2024-01-15T10:30:00+05:",
      "2024-01-15T10:30:00+05:3",
      "2024-01-15T10:30:00+05:75",  // minutes out of range
      "2024-01-15T10:30:00+18:01",  // beyond java.time's +-18:00
      "2024-01-15T10:30:00-19:00",
      "2024-01-15T10:30:00Zjunk",
      "2024-01-15T10:30:00 ",
      " 2024-01-15T10:30:00",
      "2024-01-15X10:30:00",
  };
  for (const char* text : bad) {
    INFO("text: '" << text << "'");
    CHECK_FALSE(sl::parse_timestamp(text).has_value());
  }
}

TEST_CASE("format_timestamp: ISO-8601 UTC with milliseconds or microseconds", "[time]") {
  CHECK(sl::format_timestamp(sl::timestamp{jan15}) == "2024-01-15T10:30:00.000Z");
  CHECK(sl::format_timestamp(sl::timestamp{jan15 + 123'000}) == "2024-01-15T10:30:00.123Z");
  CHECK(sl::format_timestamp(sl::timestamp{jan15 + 123'456}) == "2024-01-15T10:30:00.123456Z");
  CHECK(sl::format_timestamp(sl::timestamp{jan15 + 1}) == "2024-01-15T10:30:00.000001Z");
  CHECK(sl::format_timestamp(sl::timestamp{0}) == "1970-01-01T00:00:00.000Z");
  CHECK(sl::to_string(sl::timestamp{0}) == "1970-01-01T00:00:00.000Z");
}

TEST_CASE("format_timestamp: before 1970 rounds towards the past", "[time]") {
  CHECK(sl::format_timestamp(sl::timestamp{-1}) == "1969-12-31T23:59:59.999999Z");
  CHECK(sl::format_timestamp(sl::timestamp{-500'000}) == "1969-12-31T23:59:59.500Z");
  CHECK(sl::format_timestamp(sl::timestamp{-us_per_s}) == "1969-12-31T23:59:59.000Z");
  CHECK(sl::format_timestamp(sl::timestamp{-86400 * us_per_s}) == "1969-12-31T00:00:00.000Z");
  CHECK(sl::format_timestamp(sl::timestamp{-2203891200LL * us_per_s}) == "1900-03-01T00:00:00.000Z");
  CHECK(sl::format_timestamp(sl::timestamp{-62135596800LL * us_per_s}) == "0001-01-01T00:00:00.000Z");
  CHECK(sl::format_timestamp(sl::timestamp{-1}, true) == "1969-12-31 23:59:59.999999");
}

TEST_CASE("format_timestamp: Spark's show() style", "[time]") {
  CHECK(sl::format_timestamp(sl::timestamp{jan15}, true) == "2024-01-15 10:30:00");
  CHECK(sl::format_timestamp(sl::timestamp{jan15 + 100'000}, true) == "2024-01-15 10:30:00.1");
  CHECK(sl::format_timestamp(sl::timestamp{jan15 + 123'000}, true) == "2024-01-15 10:30:00.123");
  CHECK(sl::format_timestamp(sl::timestamp{jan15 + 123'450}, true) == "2024-01-15 10:30:00.12345");
  CHECK(sl::format_timestamp(sl::timestamp{jan15 + 1}, true) == "2024-01-15 10:30:00.000001");
}

TEST_CASE("parse_timestamp and format_timestamp round trip", "[time]") {
  const std::int64_t samples[] = {0,
                                   1,
                                   -1,
                                   999'999,
                                   -999'999,
                                   jan15,
                                   jan15 + 123'456,
                                   jan15 + 7'000,
                                   -500'000,
                                   -315619200LL * us_per_s + 42,
                                   951782400LL * us_per_s,      // 2000-02-29
                                   4102444799LL * us_per_s + 999'999,  // 2099-12-31T23:59:59.999999
                                   253402300799LL * us_per_s,   // 9999-12-31T23:59:59
                                   -62135596800LL * us_per_s};  // 0001-01-01
  for (auto us : samples) {
    const sl::timestamp t{us};
    INFO("micros: " << us << " iso: " << sl::format_timestamp(t));
    CHECK(sl::parse_timestamp(sl::format_timestamp(t)) == t);
    CHECK(sl::parse_timestamp(sl::format_timestamp(t, true)) == t);
  }
  // Midnight-ish instants every 37 days over +-80 years (leap years and 2000 included).
  for (std::int64_t day = -800; day <= 800; day += 1) {
    const sl::timestamp t{day * 86400 * us_per_s * 37 + 12'345};
    REQUIRE(sl::parse_timestamp(sl::format_timestamp(t)) == t);
  }
}

TEST_CASE("timestamp arithmetic and chrono interop", "[time]") {
  const sl::timestamp t{jan15};
  CHECK((t + 5min).micros == jan15 + 300 * us_per_s);
  CHECK((t - 1500ms).micros == jan15 - 1'500'000);
  CHECK(((t + 10s) - t) == sl::duration{10 * us_per_s});
  CHECK(t < t + 1us);
  const std::chrono::sys_seconds secs{std::chrono::seconds{1705314600}};
  CHECK(sl::timestamp(secs) == t);
  CHECK(t.to_sys_time() == secs);
  CHECK(sl::timestamp::from_micros(42).micros == 42);
}

TEST_CASE("format_duration: the largest exact unit", "[time]") {
  CHECK(sl::format_duration(10min) == "10 minutes");
  CHECK(sl::format_duration(1min) == "1 minute");
  CHECK(sl::format_duration(2h) == "2 hours");
  CHECK(sl::format_duration(90s) == "90 seconds");
  CHECK(sl::format_duration(1s) == "1 second");
  CHECK(sl::format_duration(1500ms) == "1500 ms");
  CHECK(sl::format_duration(sl::duration{7}) == "7 us");
  CHECK(sl::format_duration(sl::duration{0}) == "0 ms");
}

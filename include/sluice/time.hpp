// Event time: timestamps in microseconds since the epoch (UTC, Spark's precision),
// durations from std::chrono, and the window type produced by sl::window.
#pragma once
#include <boost/describe.hpp>
#include <chrono>
#include <cmath>
#include <compare>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice {

using duration = std::chrono::microseconds;

// A point in event time: microseconds since 1970-01-01T00:00:00Z.
struct timestamp {
  std::int64_t micros = 0;

  constexpr timestamp() = default;
  constexpr explicit timestamp(std::int64_t microseconds_since_epoch) : micros(microseconds_since_epoch) {}
  template <class Duration>
  constexpr timestamp(std::chrono::sys_time<Duration> t)  // NOLINT: implicit on purpose
      : micros(std::chrono::duration_cast<duration>(t.time_since_epoch()).count()) {}

  static constexpr timestamp from_micros(std::int64_t us) { return timestamp{us}; }
  static timestamp now() { return timestamp{std::chrono::system_clock::now()}; }
  constexpr std::chrono::sys_time<duration> to_sys_time() const {
    return std::chrono::sys_time<duration>{duration{micros}};
  }

  constexpr auto operator<=>(const timestamp&) const = default;

  template <class Rep, class Period>
  friend constexpr timestamp operator+(timestamp t, std::chrono::duration<Rep, Period> d) {
    return timestamp{t.micros + std::chrono::duration_cast<duration>(d).count()};
  }
  template <class Rep, class Period>
  friend constexpr timestamp operator-(timestamp t, std::chrono::duration<Rep, Period> d) {
    return timestamp{t.micros - std::chrono::duration_cast<duration>(d).count()};
  }
  friend constexpr duration operator-(timestamp a, timestamp b) { return duration{a.micros - b.micros}; }
};

// A time window [start, end), as Spark's `window` struct column (named "window" in rows).
struct time_window {
  timestamp start;
  timestamp end;
  constexpr auto operator<=>(const time_window&) const = default;
};
BOOST_DESCRIBE_STRUCT(time_window, (), (start, end))

namespace detail {
// Howard Hinnant's days_from_civil / civil_from_days, proleptic Gregorian.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
struct civil { std::int64_t y; unsigned m, d; };
constexpr civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}
constexpr std::int64_t floor_mod(std::int64_t a, std::int64_t b) { return a - floor_div(a, b) * b; }

// Seconds since the epoch (JSON numbers for a timestamp) as a timestamp; nullopt when the
// microseconds do not fit in 64 bits (beyond about 292,000 years either side of 1970).
constexpr std::optional<timestamp> timestamp_from_seconds(std::int64_t s) {
  constexpr std::int64_t limit = INT64_MAX / 1'000'000;
  if (s > limit || s < -limit) return std::nullopt;  // INT64_MIN's 808 microseconds are not worth a case
  return timestamp{s * 1'000'000};
}
inline std::optional<timestamp> timestamp_from_seconds(double s) {
  const double us = s * 1e6;  // to the nearest microsecond, as before; NaN and infinity fail below
  if (!(us >= -0x1p63 && us < 0x1p63)) return std::nullopt;
  return timestamp{static_cast<std::int64_t>(std::llround(us))};
}
inline constexpr const char* timestamp_seconds_range = "seconds since the epoch, -9223372036854 to 9223372036854";
}  // namespace detail

// Parses ISO-8601 / Spark timestamp text: "2024-01-15T10:30:00", "2024-01-15 10:30:00.123456",
// with an optional "Z" or "+hh:mm" / "-hh:mm" / "+hhmm" offset (no offset means UTC), or a date alone.
// Returns nullopt when the text is not a timestamp.
inline std::optional<timestamp> parse_timestamp(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&](int n, std::int64_t& out) {
    out = 0;
    for (int k = 0; k < n; ++k, ++i) {
      if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  auto expect = [&](char c) { return i < s.size() && s[i] == c ? (++i, true) : false; };
  std::int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
  if (!digits(4, y) || !expect('-') || !digits(2, mo) || !expect('-') || !digits(2, d)) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  {  // the day must exist in that month ("2023-02-29" and "2024-04-31" are not dates)
    constexpr int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > month_days[mo - 1] + (mo == 2 && leap)) return std::nullopt;
  }
  if (i < s.size() && (s[i] == 'T' || s[i] == ' ')) {
    ++i;
    if (!digits(2, h) || !expect(':') || !digits(2, mi)) return std::nullopt;
    if (expect(':')) {
      if (!digits(2, sec)) return std::nullopt;
      if (expect('.')) {
        int n = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
          if (n < 6) frac = frac * 10 + (s[i] - '0');
          ++n, ++i;
        }
        if (n == 0) return std::nullopt;
        for (; n < 6; ++n) frac *= 10;
      }
    }
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
  }
  std::int64_t offset_minutes = 0;
  if (i < s.size()) {
    if (s[i] == 'Z' || s[i] == 'z') {
      ++i;
    } else if (s[i] == '+' || s[i] == '-') {
      const int sign = s[i] == '-' ? -1 : 1;
      ++i;
      std::int64_t oh, om = 0;
      if (!digits(2, oh)) return std::nullopt;
      if (expect(':')) {
        if (!digits(2, om)) return std::nullopt;
      } else if (i < s.size()) {
        if (!digits(2, om)) return std::nullopt;
      }
      if (om > 59 || oh * 60 + om > 18 * 60) return std::nullopt;  // java.time's range: -18:00 .. +18:00
      offset_minutes = sign * (oh * 60 + om);
    }
  }
  if (i != s.size()) return std::nullopt;
  const std::int64_t days = detail::days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_minutes * 60;
  return timestamp{secs * 1'000'000 + frac};
}

// Formats as ISO-8601 UTC with milliseconds, or microseconds where they are not zero:
// "2024-01-15T10:30:00.000Z" (the JSON form Spark writes).
// With `sql_style`, formats like Spark's show(): "2024-01-15 10:30:00" with trailing zero
// fraction digits removed.
inline std::string format_timestamp(timestamp t, bool sql_style = false) {
  const std::int64_t secs = detail::floor_div(t.micros, 1'000'000);
  const std::int64_t frac = detail::floor_mod(t.micros, 1'000'000);
  const auto days = detail::floor_div(secs, 86400);
  const auto sod = detail::floor_mod(secs, 86400);
  const auto c = detail::civil_from_days(days);
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u%c%02lld:%02lld:%02lld", static_cast<long long>(c.y), c.m,
                        c.d, sql_style ? ' ' : 'T', static_cast<long long>(sod / 3600),
                        static_cast<long long>(sod / 60 % 60), static_cast<long long>(sod % 60));
  std::string out(buf, static_cast<std::size_t>(n));
  if (sql_style) {
    if (frac != 0) {
      std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(frac));
      std::string f(buf);
      while (f.back() == '0') f.pop_back();
      out += f;
    }
    return out;
  }
  if (frac % 1000 == 0)
    std::snprintf(buf, sizeof buf, ".%03lldZ", static_cast<long long>(frac / 1000));
  else
    std::snprintf(buf, sizeof buf, ".%06lldZ", static_cast<long long>(frac));
  return out + buf;
}

inline std::string to_string(timestamp t) { return format_timestamp(t); }

// Human-readable duration for messages and progress ("10 minutes", "1500 ms").
inline std::string format_duration(duration d) {
  const auto us = d.count();
  auto plural = [](long long v, const char* unit) {
    return std::to_string(v) + " " + unit + (v == 1 ? "" : "s");
  };
  if (us % 3'600'000'000LL == 0 && us != 0) return plural(us / 3'600'000'000LL, "hour");
  if (us % 60'000'000LL == 0 && us != 0) return plural(us / 60'000'000LL, "minute");
  if (us % 1'000'000LL == 0 && us != 0) return plural(us / 1'000'000LL, "second");
  if (us % 1000 == 0) return std::to_string(us / 1000) + " ms";
  return std::to_string(us) + " us";
}

}  // namespace sluice

template <>
struct std::hash<sluice::timestamp> {
  std::size_t operator()(sluice::timestamp t) const noexcept { return std::hash<std::int64_t>{}(t.micros); }
};
template <>
struct std::hash<sluice::time_window> {
  std::size_t operator()(const sluice::time_window& w) const noexcept {
    return std::hash<std::int64_t>{}(w.start.micros) * 0x9E3779B97F4A7C15ull ^ std::hash<std::int64_t>{}(w.end.micros);
  }
};

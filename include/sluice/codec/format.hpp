// Text for values as Spark's Dataset.show prints them: timestamps "2024-01-15 10:30:00",
// windows "{start, end}", doubles as Java's Double.toString, null for empty optionals.
#pragma once
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>

#include "../schema.hpp"
#include "../time.hpp"
#include "../detail/traits.hpp"

namespace sluice::detail {

// Java's Double.toString (Float.toString for a float): shortest round-trip digits of the
// value's own type; "1.0", "0.001", "1.0E7", "1.234E-4"; a float 1.1f is "1.1".
template <class F>
  requires std::is_floating_point_v<F>
std::string java_floating_string(F v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  const double a = std::fabs(v);
  if (a >= 1e-3 && a < 1e7) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    std::string s(buf, end);
    if (s.find('.') == std::string::npos) s += ".0";
    return s;
  }
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string s(buf, end);  // e.g. 1.5e+07, 1e-05
  const auto e = s.find('e');
  std::string mantissa = s.substr(0, e);
  if (mantissa.find('.') == std::string::npos) mantissa += ".0";
  int exponent = std::stoi(s.substr(e + 1));
  return mantissa + "E" + std::to_string(exponent);
}
inline std::string java_double_string(double v) { return java_floating_string(v); }

template <class T>
std::string cell_text(const T& v) {
  if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
  else if constexpr (std::is_floating_point_v<T>) return java_floating_string(v);
  else if constexpr (std::is_arithmetic_v<T>) return std::to_string(v);
  else if constexpr (std::is_convertible_v<const T&, std::string_view>) return std::string(std::string_view(v));
  else if constexpr (std::is_same_v<T, timestamp>) return format_timestamp(v, true);
  else if constexpr (is_optional_v<T>) return v ? cell_text(*v) : std::string("null");
  else if constexpr (is_vector_v<T>) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + cell_text(v[i]);
    return s + "]";
  } else if constexpr (record<T>) {
    std::string s = "{";
    bool first = true;
    for_each_field(v, [&](std::string_view, const auto& x) {
      s += (first ? "" : ", ") + cell_text(x);
      first = false;
    });
    return s + "}";
  } else {
    static_assert(always_false_v<T>, "sluice: no text form for this column type");
  }
}

// Display width: UTF-8 code points.
inline std::size_t text_width(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}
}  // namespace sluice::detail

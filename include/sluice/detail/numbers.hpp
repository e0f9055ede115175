// Number conversions shared by the JSON and CSV decoders, so that both accept the same values:
// floating-point text (CSV fields, and the "NaN" / "Infinity" strings JSON writers use for
// what JSON lacks) and the range of a float.
#pragma once
#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace sluice::detail {

// Doubles at or beyond this magnitude round to infinity as a float (FLT_MAX plus half its
// last place: the tie goes to the even neighbour, which is infinity).
inline constexpr double float_overflow_at = 0x1.ffffffp+127;

// A finite double as F: false when it does not fit (a float beyond +-3.4E38). Magnitudes too
// small for F round to zero or a subnormal, as any decimal number rounds to the nearest F.
template <class F>
inline bool narrow_floating(double d, F& out) {
  if constexpr (std::is_same_v<F, float>) {
    if (!(std::abs(d) < float_overflow_at) && !std::isnan(d)) return false;
  }
  out = static_cast<F>(d);
  return true;
}

enum class number_text { ok, invalid, out_of_range };

// Text as a floating-point number: decimal (an optional leading '+', as Java's parseDouble
// takes), or "nan", "inf", "infinity" in any case with an optional sign. A magnitude beyond
// F's range is out_of_range (never infinity); one too small becomes zero (or a subnormal),
// keeping its sign, as Java and every JSON parser round it.
template <class F>
number_text parse_floating(std::string_view t, F& out) {
  std::string_view digits = t;
  if (digits.size() > 1 && digits[0] == '+') digits.remove_prefix(1);
  const char* const first = digits.data();
  const char* const last = first + digits.size();
  F v{};
  const auto [end, ec] = std::from_chars(first, last, v);
  if (end != last || (ec != std::errc() && ec != std::errc::result_out_of_range)) return number_text::invalid;
  if (ec == std::errc()) {
    out = v;
    return number_text::ok;
  }
  // Out of range: overflow or underflow. The decimal exponent of the first significant
  // digit tells which (the text is well-formed: from_chars read all of it).
  const char* p = first;
  const bool negative = *p == '-';
  if (negative) ++p;
  long magnitude = 0;  // the value is below 10^magnitude and at least 10^(magnitude - 1)
  bool significant = false;
  for (; p != last && *p >= '0' && *p <= '9'; ++p)
    if (significant || *p != '0') significant = true, ++magnitude;
  if (p != last && *p == '.') {
    for (++p; p != last && *p >= '0' && *p <= '9'; ++p) {
      if (significant) continue;
      if (*p == '0') --magnitude;
      else significant = true;
    }
  }
  if (p != last && (*p == 'e' || *p == 'E')) {
    ++p;
    const bool negative_exponent = p != last && *p == '-';
    if (p != last && (*p == '-' || *p == '+')) ++p;
    long exponent = 0;
    if (std::from_chars(p, last, exponent).ec != std::errc() || exponent > (1L << 40)) exponent = 1L << 40;
    magnitude += negative_exponent ? -exponent : exponent;
  }
  if (magnitude > 0) return number_text::out_of_range;
  out = negative ? -F{0} : F{0};
  return number_text::ok;
}

}  // namespace sluice::detail

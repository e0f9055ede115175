// Compile-time strings usable as template arguments: column names live in types.
#pragma once
#include <algorithm>
#include <cstddef>
#include <string_view>

namespace sluice {

template <std::size_t N>
struct fixed_string {
  char data[N]{};
  constexpr fixed_string() = default;
  constexpr fixed_string(const char (&text)[N]) { std::copy_n(text, N, data); }
  constexpr std::string_view view() const { return {data, N - 1}; }
  constexpr operator std::string_view() const { return view(); }
  static constexpr std::size_t size() { return N - 1; }
  template <std::size_t M>
  constexpr bool operator==(const fixed_string<M>& other) const {
    return view() == other.view();
  }
};

namespace detail {
// Concatenation at compile time, for default names such as "avg(value)".
template <fixed_string... Parts>
consteval auto concat() {
  constexpr std::size_t total = (Parts.size() + ... + 0) + 1;
  fixed_string<total> out{};
  std::size_t pos = 0;
  ((std::copy_n(Parts.data, Parts.size(), out.data + pos), pos += Parts.size()), ...);
  out.data[total - 1] = '\0';
  return out;
}

// A fixed_string from a constexpr C string (Boost.Describe's member names).
template <std::size_t N>
consteval auto to_fixed(const char* text) {
  fixed_string<N + 1> out{};
  std::copy_n(text, N, out.data);
  return out;
}

consteval std::size_t c_strlen(const char* text) {
  std::size_t n = 0;
  while (text[n] != '\0') ++n;
  return n;
}
}  // namespace detail
}  // namespace sluice

// Hashing for grouping keys: tuples of column values, mixed so that open addressing works
// well even when std::hash is the identity (integers).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

namespace sluice::detail {
constexpr std::uint64_t mix64(std::uint64_t x) {  // murmur3's fmix64
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// std::hash, unmixed: the identity for integers.
template <class T>
std::uint64_t raw_hash_of(const T& v) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) return std::hash<std::string_view>{}(v);
  else return static_cast<std::uint64_t>(std::hash<T>{}(v));
}

template <class T>
std::uint64_t hash_value_of(const T& v) {
  return mix64(raw_hash_of(v));
}

// One multiply per column and one final mix: a key's hash is on the per-row path.
struct key_hash {
  using is_avalanching = void;
  template <class... T>
  std::size_t operator()(const std::tuple<T...>& t) const {
    std::uint64_t h = 0x9E3779B97F4A7C15ULL;
    std::apply([&](const auto&... v) { ((h = (h ^ raw_hash_of(v)) * 0xff51afd7ed558ccdULL), ...); }, t);
    return static_cast<std::size_t>(mix64(h));
  }
};
}  // namespace sluice::detail

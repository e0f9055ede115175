// Small type traits shared by the library.
#pragma once
#include <optional>
#include <vector>

namespace sluice::detail {
template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;
template <class T>
inline constexpr bool is_vector_v = false;
template <class T, class A>
inline constexpr bool is_vector_v<std::vector<T, A>> = true;

template <class...>
inline constexpr bool always_false_v = false;
}  // namespace sluice::detail

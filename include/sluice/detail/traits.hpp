// Small type traits shared by the library.
#pragma once
#include <concepts>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
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

// Rows of type T given as any input range: a container, a std or a range-v3 view.
template <class R, class T>
concept rows_range = std::ranges::input_range<R> && std::constructible_from<T, std::ranges::range_reference_t<R>>;

// The rows as a vector (a vector rvalue is moved, not copied).
template <class T, rows_range<T> R>
std::vector<T> to_rows(R&& rows) {
  if constexpr (std::is_same_v<std::remove_cvref_t<R>, std::vector<T>>) {
    return std::forward<R>(rows);
  } else {
    std::vector<T> out;
    if constexpr (std::ranges::sized_range<R>) out.reserve(static_cast<std::size_t>(std::ranges::size(rows)));
    for (auto&& r : rows) out.emplace_back(std::forward<decltype(r)>(r));
    return out;
  }
}
}  // namespace sluice::detail

// <sluice/range_v3.hpp>: sluice with range-v3 (opt-in: not in the umbrella, for compile time;
// docs/interop.md). The core already takes rows as any std::ranges::input_range, which
// range-v3's views are: memory_stream::add_data, sl::static_table, sl::testing::add_data,
// sl::from_range, and flat_map functions returning a view. This header adds what range-v3
// itself must be told:
//
//   sink.view() | ranges::views::filter(...)      // a memory sink's rows: a range-v3 view too
//   sl::from_range(ranges::views::iota(0))        // refused at compile time: an infinite range
//
//   auto events = sl::from_range(ranges::views::iota(0, 100)
//                                | ranges::views::transform([](int i) { return Event{...}; }));
#pragma once
#include <range/v3/range/concepts.hpp>
#include <range/v3/range/traits.hpp>

#include "sinks/memory.hpp"
#include "sources/from_range.hpp"

// A memory sink's snapshot owns its rows and copies in O(1): a view for range-v3 as well, so
// `sink.view() | ranges::views::...` composes from a temporary.
template <class T>
inline constexpr bool ranges::enable_view<sluice::shared_rows<T>> = true;

namespace sluice {
// range-v3's infinite views (views::iota(0), views::repeat, views::cycle...) are unbounded:
// sl::from_range refuses them.
template <class R>
  requires(ranges::range<R> && ranges::is_infinite<R>::value)
inline constexpr bool unbounded_range<R> = true;
}  // namespace sluice

// sl::window(column, duration[, slide[, start_offset]]): a grouping key that puts each row in
// the windows [k*slide + start_offset, + duration) containing its event time (Spark's
// window()). Tumbling when slide == duration, sliding when slide < duration.
//
// A sliding window aggregates each row once, into a slice of gcd(duration, slide), and
// combines slices into windows (ops/aggregate.hpp). `.with_per_window_copies()` instead puts
// the row into each of its duration / slide windows, as Spark does: same results, kept to
// compare against (benchmarks/sliding_window.cpp) and as the reference in tests.
#pragma once
#include <chrono>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "../detail/config.hpp"
#include "../detail/fastmod.hpp"
#include "../time.hpp"
#include "column.hpp"

namespace sluice {

// MaySlide: built by the sliding overload. The tumbling overload's spec never slides, so the
// aggregation compiles without the sliced path and its per-row test (worth 20% there).
template <class Sel, bool MaySlide = true>
struct window_spec {
  static constexpr bool may_slide = MaySlide;
  Sel column;
  duration length;
  duration slide;
  duration start_offset;
  detail::fast_modulus slide_mod{slide.count() > 0 ? slide.count() : 1};
  bool per_window_copies = false;

  // Spark's method for a sliding window: the row is copied into every window containing it.
  window_spec with_per_window_copies() const {
    window_spec w = *this;
    w.per_window_copies = true;
    return w;
  }

  // Calls f(start) for the start of every window containing t, latest first.
  template <class F>
  SLUICE_ALWAYS_INLINE void for_each_window_start(std::int64_t t, F&& f) const {
    const std::int64_t len = length.count(), step = slide.count();
    const std::int64_t last_start = t - slide_mod.floor_mod(t - start_offset.count());
    if (!MaySlide || len == step) {  // tumbling: exactly one window (known when built by the tumbling overload)
      f(last_start);
      return;
    }
    for (std::int64_t s = last_start; s > t - len; s -= step) f(s);
  }
  // Calls f(time_window) for every window containing t, latest first.
  template <class F>
  void for_each_window(std::int64_t t, F&& f) const {
    const std::int64_t len = length.count();
    for_each_window_start(t, [&](std::int64_t s) { f(time_window{timestamp{s}, timestamp{s + len}}); });
  }
};

namespace detail {
inline void validate_window(duration length, duration slide, duration start_offset) {
  if (length.count() <= 0)
    throw std::invalid_argument("sluice::window: the window duration must be positive, got " + format_duration(length));
  if (slide.count() <= 0)
    throw std::invalid_argument("sluice::window: the slide duration must be positive, got " + format_duration(slide));
  if (slide > length)
    throw std::invalid_argument("sluice::window: the slide duration (" + format_duration(slide) +
                                ") must be less than or equal to the window duration (" + format_duration(length) + ")");
  if ((start_offset.count() < 0 ? -start_offset : start_offset) >= slide)
    throw std::invalid_argument("sluice::window: the absolute value of the start offset (" +
                                format_duration(start_offset) + ") must be less than the slide duration (" +
                                format_duration(slide) + ")");
}
}  // namespace detail

// Tumbling window.
template <class Sel, class R1, class P1>
window_spec<detail::selector_t<Sel>, false> window(Sel&& column, std::chrono::duration<R1, P1> length) {
  const auto l = std::chrono::duration_cast<duration>(length);
  detail::validate_window(l, l, duration{0});
  return {detail::to_selector(std::forward<Sel>(column)), l, l, duration{0}};
}

// Sliding window (tumbling when slide == length), optionally shifted by start_offset.
template <class Sel, class R1, class P1, class R2, class P2, class R3 = std::int64_t, class P3 = std::micro>
window_spec<detail::selector_t<Sel>> window(Sel&& column, std::chrono::duration<R1, P1> length,
                                      std::chrono::duration<R2, P2> slide,
                                      std::chrono::duration<R3, P3> start_offset = duration{0}) {
  const auto l = std::chrono::duration_cast<duration>(length);
  const auto s = std::chrono::duration_cast<duration>(slide);
  const auto o = std::chrono::duration_cast<duration>(start_offset);
  detail::validate_window(l, s, o);
  return {detail::to_selector(std::forward<Sel>(column)), l, s, o};
}

}  // namespace sluice

// Compiler hints for the per-row hot path.
#pragma once

// On small functions and lambdas called once per row through several template layers, where
// GCC's inliner gives up and leaves a call per row (measured in benchmarks/window_aggregate).
#if defined(__GNUC__) || defined(__clang__)
#define SLUICE_ALWAYS_INLINE __attribute__((always_inline))
#else
#define SLUICE_ALWAYS_INLINE
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define SLUICE_FLATTEN __attribute__((flatten))
#else
#define SLUICE_FLATTEN
#endif

namespace sluice::detail {
// Appends a row to a batch buffer (std::vector) with vector's own code inlined: at the end of a
// long fused chain GCC otherwise leaves emplace_back as a call per row (measured: the 3-stage
// chain on 32-byte rows took 1.6x the hand loop's time). The growth path is inlined too, once
// per buffer, off the hot path.
template <class Buffer, class Row>
SLUICE_FLATTEN inline void append_row(Buffer& buffer, Row&& row) {
  buffer.emplace_back(static_cast<Row&&>(row));
}
}  // namespace sluice::detail

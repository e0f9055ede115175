// Compiler hints for the per-row hot path.
#pragma once

// On small functions and lambdas called once per row through several template layers, where
// GCC's inliner gives up and leaves a call per row (measured in benchmarks/window_aggregate).
#if defined(__GNUC__) || defined(__clang__)
#define SLUICE_ALWAYS_INLINE __attribute__((always_inline))
#else
#define SLUICE_ALWAYS_INLINE
#endif

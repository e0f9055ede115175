// Compile modes (docs/architecture.md, "Separate compilation").
//
// Separate (SLUICE_SEPARATE_COMPILATION defined in every translation unit, as linking the CMake
// target sluice::sluice, the default, does): the headers only declare the engine's
// non-template functions; their definitions, in include/sluice/impl/*.ipp, are compiled once,
// by the one source file that includes <sluice/src.hpp> (the library's src/sluice.cpp).
//
// Header-only (no macro: sluice::header_only, or a plain -I include): every function is
// defined in the headers, the engine's non-template ones `inline`, and every translation unit
// that starts a query compiles and optimizes the engine again.
#pragma once

#if defined(SLUICE_SEPARATE_COMPILATION)
#define SLUICE_HEADER_ONLY 0
#define SLUICE_DECL
#else
#define SLUICE_HEADER_ONLY 1
#define SLUICE_DECL inline
#endif

// Recovery and error paths: optimized for size, laid out away from the batch loop.
#if defined(__GNUC__)
#define SLUICE_COLD [[gnu::cold]]
#else
#define SLUICE_COLD
#endif

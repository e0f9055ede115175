// expect: static assertion failed: harness self-check
// Proves the compile-fail harness (tests/fail/check_compile_fail.cmake) works: this file must
// fail to compile, and the first error line must match the regex on line 1.
#include <sluice/sluice.hpp>

static_assert(false, "harness self-check");

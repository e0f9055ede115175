// Catch2 v2 main for sluice_tests (compiled once, as the OBJECT library sluice_catch_main).
// Test cases live in the other tests/*.cpp files.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

// File connectors, kept out of the umbrella header (they cost about 0.4 s of compile time
// per translation unit that includes them; see docs/performance.md):
//
//   #include <sluice/sluice.hpp>
//   #include <sluice/files.hpp>
//
//   auto events = sl::files::json_lines<Event>("input/", {.max_files_per_trigger = 1});
//   auto users  = sl::files::read_json_lines_file<User>("users.jsonl");
//   ... | sl::files::json_lines_sink("data/events")
//
// With the CMake target sluice::simdjson, JSON lines are decoded by simdjson (faster), with
// Boost.JSON as the fallback that words errors.
#pragma once

#include "sluice.hpp"

#include "sources/files.hpp"
#include "sources/read_files.hpp"
#include "sinks/files.hpp"

// sluice: Spark Structured Streaming for C++20 -- umbrella header.
//
//   auto q = sl::start(events | sl::with_watermark(sl::col<"timestamp">, 10min)
//                             | sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">)
//                             | sl::aggregate(sl::count().as<"event_count">())
//                             | sl::console(),
//                      sl::output_mode::update);
//
// Not included here, to keep compile times down (docs/performance.md): the file connectors
// (#include <sluice/files.hpp>), the socket source (<sluice/sources/socket.hpp>), the range
// source sl::from_range (<sluice/sources/from_range.hpp>), the Boost.Hana and range-v3 interop
// (<sluice/hana.hpp>, <sluice/range_v3.hpp>) and the optional components.
#pragma once

#include "time.hpp"
#include "schema.hpp"
#include "codec/json.hpp"
#include "engine/control.hpp"
#include "graph/pipe.hpp"

#include "ops/column.hpp"
#include "ops/expr.hpp"
#include "ops/current_time.hpp"
#include "ops/map.hpp"
#include "ops/filter.hpp"
#include "ops/flat_map.hpp"
#include "ops/watermark.hpp"
#include "ops/window.hpp"
#include "ops/aggregates.hpp"
#include "ops/aggregate.hpp"
#include "ops/session_window.hpp"
#include "ops/union.hpp"
#include "ops/sort.hpp"
#include "ops/select.hpp"
#include "ops/join.hpp"
#include "ops/dedup.hpp"
#include "ops/stream_join.hpp"
#include "ops/group_state.hpp"
#include "ops/map_groups_with_state.hpp"
#include "ops/expect.hpp"
#include "ops/late_rows.hpp"
#include "ops/transform_with_state.hpp"

#include "graph/source.hpp"
#include "sources/slices.hpp"
#include "sources/memory.hpp"
#include "sources/rate.hpp"

#include "sinks/memory.hpp"
#include "sinks/console.hpp"
#include "sinks/foreach_batch.hpp"
#include "sinks/two_phase.hpp"

#include "engine/options.hpp"
#include "engine/progress.hpp"
#include "engine/query.hpp"
#include "engine/start.hpp"
#include "engine/listener.hpp"

#include "manage/manager.hpp"

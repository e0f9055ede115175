// Compile-time facts about a graph, computed node by node (each bound stage's
// transform(Up::props)) and read by the stages bound after it and by sl::start's rules.
#pragma once
#include <string_view>

namespace sluice {

// Compile-time facts about a graph, used by the rules checked in sl::start and by stages.
struct graph_props {
  bool has_watermark = false;
  // Name of the column the nearest upstream with_watermark is on; empty when unknown
  // (a member pointer or a function) or lost behind an opaque map.
  std::string_view watermark_column{};
  bool aggregated = false;
  bool aggregation_watermarked = false;  // grouped on a window/event time that carries a watermark
  bool session_window = false;  // an aggregation grouped by sl::session_window
  int stateful_stages = 0;        // aggregations (deduplication does not count: it may precede one)
  bool sort_or_limit_on_stream = false;  // a sort or limit with no aggregation before it
  bool sort_or_limit_after_aggregation = false;
  // [flat_]map_groups_with_state (ops/map_groups_with_state.hpp): how many, which kinds and
  // operator output modes, after an aggregation, an event-time timeout without a watermark.
  int group_state_stages = 0;
  bool map_groups_with_state = false;
  bool group_state_update_mode = false;  // a flat_map_groups_with_state in update mode
  bool group_state_append_mode = false;  // a flat_map_groups_with_state in append mode
  bool group_state_after_aggregation = false;
  bool group_state_event_time_without_watermark = false;
};
}  // namespace sluice

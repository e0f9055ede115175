// Compile-time facts about a stream that the stages bound after it read (which column carries
// event time, for a window or a deduplication key). Each bound stage computes them from its
// upstream's, `static constexpr graph_props transform(graph_props)`. The query's shape (which
// stages, in which order, under which output mode) is not here: it is the node's list of stages
// (graph/stages.hpp), and the rules over it are predicates in the operators' files.
#pragma once
#include <string_view>

namespace sluice {

struct graph_props {
  bool has_watermark = false;
  // Name of the column the nearest upstream with_watermark is on; empty when unknown
  // (a member pointer or a function) or lost behind an opaque map.
  std::string_view watermark_column{};
};

}  // namespace sluice

// sl::start(source | ... | sink, sl::output_mode::X, options): checks Spark's
// UnsupportedOperationChecker rules that depend only on the graph and the output mode at
// compile time, then runs the query.
#pragma once
#include <memory>
#include <type_traits>
#include <utility>

#include "../detail/traits.hpp"
#include "../graph/plan.hpp"
#include "options.hpp"
#include "query.hpp"

namespace sluice {
namespace detail {
template <class Plan, output_mode_kind Mode>
constexpr bool check_rules() {
  constexpr graph_props p = Plan::props;
  static_assert(!(Mode == output_mode_kind::append && p.aggregated && !p.aggregation_watermarked),
                "sluice rule [append-aggregation-needs-watermark]: append output mode on an aggregation needs "
                "sl::with_watermark on the event-time column and a group_by key on sl::window over that column (or "
                "on the column itself); add the watermark, or use output_mode::update or output_mode::complete");
  static_assert(!(Mode == output_mode_kind::update && p.session_window),
                "sluice rule [session-window-update]: update output mode is not supported for a session window "
                "aggregation (as in Spark); use output_mode::append (with sl::with_watermark) or output_mode::complete");
  static_assert(!(Mode == output_mode_kind::complete && !p.aggregated),
                "sluice rule [complete-needs-aggregation]: complete output mode needs an aggregation "
                "(group_by | aggregate); use output_mode::append for a query without one");
  static_assert(!p.sort_or_limit_on_stream,
                "sluice rule [sort-limit-on-stream]: sort_by and limit are not supported on a stream; use them "
                "after an aggregation in output_mode::complete");
  static_assert(!(p.sort_or_limit_after_aggregation && Mode != output_mode_kind::complete),
                "sluice rule [sort-limit-needs-complete]: sort_by and limit after an aggregation need "
                "output_mode::complete");
  // Spark's rules for [flat]MapGroupsWithState (UnsupportedOperationChecker).
  static_assert(!(p.map_groups_with_state && p.aggregated),
                "sluice rule [map-groups-with-state-aggregation]: map_groups_with_state is not supported with "
                "aggregation on a stream (Spark: mapGroupsWithState is not supported with aggregation on a streaming "
                "DataFrame/Dataset); use flat_map_groups_with_state in append mode before the aggregation");
  static_assert(!(p.map_groups_with_state && Mode != output_mode_kind::update),
                "sluice rule [map-groups-with-state-output-mode]: map_groups_with_state needs output_mode::update "
                "(Spark: mapGroupsWithState is not supported with Append/Complete output mode); use "
                "flat_map_groups_with_state(f, sl::output_mode::append) for an append-mode query");
  static_assert(!(p.group_state_stages >= 2 && (p.map_groups_with_state || p.group_state_update_mode ||
                                                 Mode != output_mode_kind::append)),
                "sluice rule [multiple-groups-with-state]: several [flat_]map_groups_with_state in one query need "
                "all to be flat_map_groups_with_state in append mode, and the query in output_mode::append (Spark: "
                "multiple mapGroupsWithStates are not supported; multiple flatMapGroupsWithStates only all in append)");
  static_assert(!(p.group_state_update_mode && !p.aggregated && Mode != output_mode_kind::update),
                "sluice rule [flat-map-groups-with-state-output-mode]: flat_map_groups_with_state in update mode needs "
                "the query in output_mode::update (Spark: flatMapGroupsWithState in update mode is not supported with "
                "Append/Complete output mode)");
  static_assert(!(p.group_state_append_mode && !p.aggregated && Mode != output_mode_kind::append),
                "sluice rule [flat-map-groups-with-state-output-mode]: flat_map_groups_with_state in append mode needs "
                "the query in output_mode::append (Spark: flatMapGroupsWithState in append mode is not supported with "
                "Update/Complete output mode), unless an aggregation follows it");
  static_assert(!(p.group_state_update_mode && p.aggregated),
                "sluice rule [flat-map-groups-with-state-aggregation]: flat_map_groups_with_state in update mode is not "
                "supported with aggregation on a stream (Spark's rule); declare it with sl::output_mode::append");
  static_assert(!(p.group_state_after_aggregation && !p.map_groups_with_state),
                "sluice rule [flat-map-groups-with-state-aggregation]: flat_map_groups_with_state is not supported "
                "after an aggregation on a stream (Spark: flatMapGroupsWithState in append mode is not supported after "
                "aggregation)");
  static_assert(!p.group_state_event_time_without_watermark,
                "sluice rule [group-state-event-time-needs-watermark]: the event-time timeout of "
                "[flat_]map_groups_with_state needs sl::with_watermark before it (Spark: Watermark must be specified in "
                "the query ... for using event-time timeout in a [map|flatMap]GroupsWithState)");
  // A [flat_]map_groups_with_state is not an aggregation: an aggregation may follow a
  // flat_map_groups_with_state in append mode (Spark 2.2+).
  static_assert(p.stateful_stages - p.group_state_stages <= 1,
                "sluice rule [multiple-aggregations]: a query may hold one streaming aggregation; chained "
                "aggregations are not supported (as in Spark before 3.4); split the query in two");
  static_assert(sink_supports<typename Plan::sink_type>(Mode),
                "sluice rule [sink-output-mode]: this sink does not support the chosen output mode");
  return true;
}
}  // namespace detail

template <class Plan, output_mode_kind Mode>
streaming_query start(Plan plan, output_mode_tag<Mode>, query_options options = {}) {
  static_assert(detail::is_query_plan_v<Plan>,
                "sluice::start: the query has no sink; end the pipeline with | sl::console(), | "
                "sl::memory_sink<T>(), | sl::foreach_batch(f) or another sink");
  if constexpr (detail::is_query_plan_v<Plan>) {
    static_assert(detail::check_rules<Plan, Mode>());
    auto runner = std::make_shared<detail::plan_runner<Plan>>(std::move(plan), Mode);
    return detail::launch(std::move(runner), std::move(options));
  } else {
    return detail::launch(nullptr, std::move(options));  // unreachable: the assertion above fired
  }
}

}  // namespace sluice

// sl::start(source | ... | sink, sl::output_mode::X, options): checks Spark's
// UnsupportedOperationChecker rules that depend only on the graph and the output mode at
// compile time, then runs the query.
#pragma once
#include <memory>
#include <type_traits>
#include <utility>

#include "../detail/traits.hpp"
#include "../graph/plan.hpp"
#include "../graph/stages.hpp"
#include "options.hpp"
#include "query.hpp"

namespace sluice {
namespace detail {
// The rules of the whole query; each stage's own rules are in its operator's file
// (check_shape, graph/stages.hpp).
template <class Plan, output_mode_kind Mode>
constexpr bool check_rules() {
  using stages = typename Plan::stages;
  static_assert(!(Mode == output_mode_kind::complete && !any_stage<stages, is_aggregation>),
                "sluice rule [complete-needs-aggregation]: complete output mode needs an aggregation "
                "(group_by | aggregate); use output_mode::append for a query without one");
  check_stage_rules<stages, Mode>();
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

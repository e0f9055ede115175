// A graph's stages as a compile-time list, and the shape rules as algorithms over it.
//
// Every stream node has `using stages = boost::mp11::mp_list<BoundStage...>`: the bound stages
// from the source on (a union contributes its inputs' stages, in order). A shape rule is a
// small predicate over that list, written in the file of the operator it concerns, as the
// operator's bound stage's
//
//   template <class Q> static constexpr bool check_shape() {
//     static_assert(!(Q::mode == output_mode_kind::update && ...), "sluice rule [name]: ...");
//     return true;
//   }
//
// sl::start calls it once per stage of the query (check_stage_rules), with Q a
// shape_context: Q::stages (the whole query's), Q::before (those upstream of the stage) and
// Q::mode (the output mode). Predicates over a list are any_stage / count_stages with a trait
// of the stage, e.g. `any_stage<typename Q::before, is_aggregation>`; an operator whose stages
// others must recognise declares a trait beside it (is_watermark in ops/watermark.hpp). Rules
// of the whole query that no stage carries (complete mode needs an aggregation, the sink's
// modes) stay in engine/start.hpp.
#pragma once
#include <boost/mp11/algorithm.hpp>
#include <boost/mp11/list.hpp>
#include <cstddef>
#include <type_traits>

#include "protocol.hpp"

namespace sluice {

// The stage a node lists: itself, or the stage it wraps (`using listed_as = S;`: sl::late_rows_to
// wraps a stateful stage, which the rules must still see).
template <class S>
struct listed_stage {
  using type = S;
};
template <class S>
  requires requires { typename S::listed_as; }
struct listed_stage<S> {
  using type = typename S::listed_as;
};
template <class S>
using listed_stage_t = typename listed_stage<S>::type;

template <class Stages, template <class> class P>
inline constexpr bool any_stage = boost::mp11::mp_any_of<Stages, P>::value;
template <class Stages, template <class> class P>
inline constexpr std::size_t count_stages = boost::mp11::mp_count_if<Stages, P>::value;

// An aggregation (group_by | aggregate, a session window aggregation: `static constexpr bool
// aggregation = true;`): the stage Spark's output modes are defined by, which most rules ask
// about, so its trait lives here rather than in ops/aggregate.hpp.
template <class S>
struct is_aggregation : std::bool_constant<requires { requires S::aggregation; }> {};

// A stateful operator in Spark's sense for chaining (an aggregation, a session window, a
// deduplication on event time, a group state, transform_with_state, a stream-stream join):
// `static constexpr bool stateful_operator = true;`.
template <class S>
struct is_stateful_operator : std::bool_constant<requires { requires S::stateful_operator; }> {};
// A [flat_]map_groups_with_state or transform_with_state whose output carries no watermark
// (an event-time timeout): `static constexpr bool event_time_group_state = true;`.
template <class S>
struct is_event_time_group_state : std::bool_constant<requires { requires S::event_time_group_state; }> {};
// The join stage of a stream-stream join (ops/stream_join.hpp).
template <class S>
struct is_stream_join : std::bool_constant<requires { requires S::stream_join; }> {};

// What a stage's check_shape sees.
template <class Stages, std::size_t I, output_mode_kind Mode>
struct shape_context {
  using stages = Stages;                                    // the query's, from the source on
  using before = boost::mp11::mp_take_c<Stages, I>;         // upstream of the stage
  using stage = boost::mp11::mp_at_c<Stages, I>;
  static constexpr output_mode_kind mode = Mode;
};

namespace detail {
template <class Stages, output_mode_kind Mode, std::size_t... I>
constexpr bool check_stage_rules_at(std::index_sequence<I...>) {
  return ([] {
    using S = boost::mp11::mp_at_c<Stages, I>;
    if constexpr (requires { S::template check_shape<shape_context<Stages, I, Mode>>(); })
      return S::template check_shape<shape_context<Stages, I, Mode>>();
    else
      return true;
  }() && ...);
}
}  // namespace detail

// Every stage's shape rules, in graph order.
template <class Stages, output_mode_kind Mode>
constexpr bool check_stage_rules() {
  return detail::check_stage_rules_at<Stages, Mode>(std::make_index_sequence<boost::mp11::mp_size<Stages>::value>{});
}

// The rules of chained stateful operators (Spark 3.4+, UnsupportedOperationChecker's
// checkStreamingQueryGlobalWatermarkLimit), checked by each stateful operator's check_shape:
// each passes its input watermark on, which holds for what an aggregation emits only in
// append mode; a group state with an event-time timeout passes none on. A stream-stream join
// passes on the lower of its state watermarks (Spark 3.5's produceOutputWatermark), which the
// engine gives the operators after it (batch_context::operator_watermarks), so it is allowed.
template <class Q>
constexpr bool check_chained_stateful() {
  using before = typename Q::before;
  static_assert(!(any_stage<before, is_aggregation> && Q::mode != output_mode_kind::append),
                "sluice rule [chained-stateful-needs-append]: a stateful operator after an aggregation (another "
                "aggregation, a session window, a deduplication on event time, a group state) needs "
                "output_mode::append: in update or complete mode the aggregation emits rows that are late for it "
                "(Spark: Detected pattern of possible 'correctness' issue due to global watermark)");
  static_assert(!any_stage<before, is_event_time_group_state>,
                "sluice rule [chained-stateful-after-event-time-group-state]: no stateful operator may follow a "
                "[flat_]map_groups_with_state with an event-time timeout: its output has no watermark (Spark: Detected "
                "pattern of possible 'correctness' issue due to global watermark); split the query in two");
  return true;
}

}  // namespace sluice

// sl::with_watermark(column, delay): declares the event-time column and how late rows may be.
// After each batch the stage's watermark becomes max(event time seen) - delay, never
// decreasing; the query's watermark is the min (or max) over all watermark stages.
// The stage itself drops nothing: stateful stages downstream drop rows older than it.
#pragma once
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../engine/control.hpp"
#include "../graph/node.hpp"
#include "column.hpp"

namespace sluice {
// A with_watermark stage, for the rules of stages that need one upstream.
template <class S>
struct is_watermark : std::bool_constant<requires { requires S::event_time_watermark; }> {};

namespace detail {
template <class In, class Sel>
struct watermark_stage : watermark_control, described_stage {
  static constexpr stage_kind kind = stage_kind::stateless;
  static constexpr bool event_time_watermark = true;  // is_watermark
  using output_row = In;
  using selector = bound_selector<In, Sel>;
  static_assert(std::is_same_v<std::remove_cvref_t<typename selector::value_type>, timestamp> || !selector::resolved,
                "sluice::with_watermark: the event-time column must be of type sluice::timestamp");
  static constexpr graph_props transform(graph_props p) {
    p.has_watermark = true;
    p.watermark_column = selector::name;
    return p;
  }

  selector sel;
  duration delay_;
  std::optional<duration> idle_;
  event_time_stats stats_;

  watermark_stage(Sel s, duration d, std::optional<duration> idle = {}) : sel(std::move(s)), delay_(d), idle_(idle) {}

  void visit(graph_controls& c) {
    c.watermarks.push_back(this);
    c.described.push_back(this);
  }

  event_time_stats open_batch(const batch_context&) const { return {}; }
  void close_batch(const event_time_stats& local) { stats_.merge(local); }
  template <class R, class Down>
  void push(R&& r, Down& down, event_time_stats& local) {
    local.add(event_micros(sel, r));
    down(std::forward<R>(r));
  }

  std::string column_description() const override {
    return selector::named ? std::string(selector::name) : std::string("<event time>");
  }
  duration delay() const override { return delay_; }
  std::optional<duration> idle_timeout() const override { return idle_; }
  // The delay is left out: as in Spark, it may change between runs (the stored watermark stays).
  boost::json::object checkpoint_description() const override {
    return {{"operator", "watermark"}, {"column", column_description()}};
  }
  event_time_stats take_batch_stats() override { return std::exchange(stats_, event_time_stats{}); }
};
}  // namespace detail

template <class Sel>
struct with_watermark_t {
  using is_stage_descriptor = void;
  Sel sel;
  duration delay;
  std::optional<duration> idleness{};

  // Beyond Spark (Flink's withIdleness): once this input has had no rows for `timeout` of batch
  // time (query_options::clock), the query's watermark stops waiting for it, until its next
  // rows (docs/semantics.md, "Idle inputs").
  template <class Rep, class Period>
  with_watermark_t with_idleness(std::chrono::duration<Rep, Period> timeout) && {
    const auto t = std::chrono::duration_cast<duration>(timeout);
    if (t.count() <= 0) throw std::invalid_argument("sluice::with_watermark(...).with_idleness: the timeout must be positive");
    idleness = t;
    return std::move(*this);
  }
  template <class Rep, class Period>
  with_watermark_t with_idleness(std::chrono::duration<Rep, Period> timeout) const& {
    return with_watermark_t(*this).with_idleness(timeout);
  }

  template <class In>
  auto bind() && {
    return detail::watermark_stage<In, Sel>(std::move(sel), delay, idleness);
  }
};

// column: sl::col<"timestamp">, &Event::timestamp, or a function returning sl::timestamp.
template <class Sel, class Rep, class Period>
with_watermark_t<detail::selector_t<Sel>> with_watermark(Sel&& column, std::chrono::duration<Rep, Period> delay) {
  const auto d = std::chrono::duration_cast<duration>(delay);
  if (d.count() < 0) throw std::invalid_argument("sluice::with_watermark: the delay must not be negative");
  return {detail::to_selector(std::forward<Sel>(column)), d};
}
}  // namespace sluice

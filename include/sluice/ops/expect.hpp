// Data contracts on a stream, after Delta Live Tables' expectations: a named predicate every
// row should meet, and what happens to a row that does not.
//
//   sl::expect("valid_id", pred)              warn: the row is kept, and counted as failed
//   sl::expect_or_drop("valid_id", pred)      drop: the row is dropped
//   sl::expect_or_fail("valid_id", pred)      fail: the batch fails (and with it the query)
//   sl::expect("valid_id", pred, policy)      the policy chosen at run time (e.g. from a config)
//   ... .dead_letter(sink)                    failed rows (warn, drop) also go to `sink`
//
// Each batch's counts (passed_records, failed_records per expectation) are in its progress
// as "data_quality" (DLT's flow_progress fields) and in the metrics. The dead-letter sink is
// any sluice sink taking the row type, given each batch's failed rows under the batch's id
// after the query's sink took the batch: a sink that is idempotent per batch id (the file
// and Delta sinks) gets them exactly once. Stateless: the row type is unchanged.
#pragma once
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../impl/config.hpp"
#include "../codec/json.hpp"
#include "../engine/control.hpp"
#include "../graph/node.hpp"
#include "../graph/plan.hpp"

namespace sluice {

enum class expectation_policy { warn, drop, fail };

inline constexpr std::string_view to_string(expectation_policy p) {
  return p == expectation_policy::warn ? "warn" : p == expectation_policy::drop ? "drop" : "fail";
}

// Thrown by an expect_or_fail stage: the batch, and the query, fail with it.
class expectation_violation : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
struct no_dead_letter {};

template <class In, class P, class Sink>
struct expect_stage final : expectation_control {
  static constexpr stage_kind kind = stage_kind::stateless;
  using output_row = In;
  static constexpr bool has_dead_letter = !std::is_same_v<Sink, no_dead_letter>;
  static constexpr graph_props transform(graph_props p) { return p; }

  expect_stage(std::string n, expectation_policy pol, P p, Sink s)
      : name(std::move(n)), policy(pol), pred(std::move(p)), dead_letter(std::move(s)) {}
  // The engine keeps a pointer to this stage (visit): it does not move once registered, and a
  // copy is registered on its own.
  expect_stage(const expect_stage& o) : name(o.name), policy(o.policy), pred(o.pred), dead_letter(o.dead_letter) {}
  expect_stage(expect_stage&& o) noexcept(std::is_nothrow_move_constructible_v<P> && std::is_nothrow_move_constructible_v<Sink>)
      : name(std::move(o.name)), policy(o.policy), pred(std::move(o.pred)), dead_letter(std::move(o.dead_letter)) {}

  std::string name;
  expectation_policy policy;
  P pred;
  Sink dead_letter;
  std::int64_t passed = 0, failed = 0, batch_id = 0;
  std::vector<In> failed_rows;

  void visit(graph_controls& c) { c.expectations.push_back(this); }

  // Counted per partition of the batch (graph/node.hpp): partitions may run at once, and
  // close_batch adds them up in partition order, so failed rows keep the order one thread gives.
  struct batch_local {
    std::int64_t passed = 0, failed = 0;
    std::vector<In> failed_rows;
  };
  batch_local open_batch(const batch_context&) const { return {}; }
  void close_batch(batch_local& l) {
    passed += l.passed;
    failed += l.failed;
    if (failed_rows.empty()) failed_rows = std::move(l.failed_rows);
    else failed_rows.insert(failed_rows.end(), std::make_move_iterator(l.failed_rows.begin()),
                            std::make_move_iterator(l.failed_rows.end()));
  }

  template <class R, class Down>
  void push(R&& r, Down& down, batch_local& local) {
    if (std::invoke(pred, std::as_const(r))) {
      ++local.passed;
      down(std::forward<R>(r));
      return;
    }
    ++local.failed;
    if (policy == expectation_policy::fail) fail_on(r);
    if constexpr (has_dead_letter) local.failed_rows.push_back(r);
    if (policy == expectation_policy::warn) down(std::forward<R>(r));
  }

  [[noreturn]] SLUICE_COLD void fail_on(const In& r) const {
    std::string row;
    if constexpr (record<In>) row = " " + json_text(to_json(r));
    throw expectation_violation("expectation '" + name + "' (expect_or_fail) violated in batch " + std::to_string(batch_id) +
                                " by row" + row + ": the batch fails");
  }

  void start(const sink_context& ctx) override {
    if constexpr (has_dead_letter) {
      if constexpr (requires { dead_letter.start(ctx); }) {
        sink_context dl = ctx;
        dl.mode = output_mode_kind::append;  // failed rows, as they came
        dead_letter.start(dl);
      }
    }
  }
  void begin_batch(const batch_context& ctx) override {
    passed = failed = 0;
    batch_id = ctx.batch_id;
    failed_rows.clear();
  }
  void end_batch(const batch_context& ctx) override {
    if constexpr (has_dead_letter) {
      dead_letter.add_batch(ctx.batch_id, std::span<const In>(failed_rows.data(), failed_rows.size()));
      failed_rows.clear();
    }
  }
  expectation_metrics metrics() const override { return {name, std::string(to_string(policy)), passed, failed}; }
};
}  // namespace detail

template <class P, class Sink = detail::no_dead_letter>
struct expect_t {
  using is_stage_descriptor = void;
  std::string name;
  expectation_policy policy;
  P pred;
  Sink dead_letter_sink{};

  // Failed rows (warn and drop policies) also go to `sink`, a sink descriptor for the row type.
  template <class S>
  expect_t<P, std::decay_t<S>> dead_letter(S&& sink) && {
    static_assert(sink_descriptor<S>, "sluice::expect(...).dead_letter: expects a sink (e.g. sl::memory_sink, a files sink)");
    return {std::move(name), policy, std::move(pred), std::forward<S>(sink)};
  }

  template <class In>
  auto bind() && {
    static_assert(std::is_invocable_v<P&, const In&>,
                  "sluice::expect: the predicate must be callable with the incoming row type (const Row&)");
    static_assert(std::is_convertible_v<std::invoke_result_t<P&, const In&>, bool>,
                  "sluice::expect: the predicate must return bool");
    if constexpr (std::is_same_v<Sink, detail::no_dead_letter>) {
      return detail::expect_stage<In, P, Sink>{std::move(name), policy, std::move(pred), {}};
    } else {
      auto bound = std::move(dead_letter_sink).template bind<In>();
      static_assert(bound_sink_for<decltype(bound), In>,
                    "sluice::expect(...).dead_letter: the sink must take the expectation's row type");
      static_assert(sink_supports<decltype(bound)>(output_mode_kind::append),
                    "sluice::expect(...).dead_letter: the sink must take append mode (failed rows as they came)");
      return detail::expect_stage<In, P, decltype(bound)>{std::move(name), policy, std::move(pred), std::move(bound)};
    }
  }
};

// DLT's @expect: rows that fail are kept (and counted); `policy` chooses another at run time.
template <class P>
expect_t<std::decay_t<P>> expect(std::string name, P&& pred, expectation_policy policy = expectation_policy::warn) {
  return {std::move(name), policy, std::forward<P>(pred)};
}
// DLT's @expect_or_drop.
template <class P>
expect_t<std::decay_t<P>> expect_or_drop(std::string name, P&& pred) {
  return {std::move(name), expectation_policy::drop, std::forward<P>(pred)};
}
// DLT's @expect_or_fail.
template <class P>
expect_t<std::decay_t<P>> expect_or_fail(std::string name, P&& pred) {
  return {std::move(name), expectation_policy::fail, std::forward<P>(pred)};
}

}  // namespace sluice

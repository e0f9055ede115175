// sl::foreach_batch(f): calls f(std::span<const Row> rows, std::int64_t batch_id) for every
// batch (Spark's foreachBatch). The batch id lets f write idempotently.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "../graph/stand_in.hpp"
#include "../graph/plan.hpp"

namespace sluice {
namespace detail {
template <class Row, class F>
struct foreach_batch_sink {
  F f;
  void add_batch(std::int64_t batch_id, std::span<const Row> rows) { std::invoke(f, rows, batch_id); }
  std::string description() const { return "ForeachBatchSink"; }
};
}  // namespace detail

template <class F>
struct foreach_batch_t {
  using is_sink_descriptor = void;
  F f;
  template <class Row>
  auto bind() && {
    static_assert(std::is_invocable_v<F&, std::span<const Row>, std::int64_t>,
                  "sluice::foreach_batch: f must be callable as f(std::span<const Row> rows, std::int64_t batch_id)");
    if constexpr (std::is_invocable_v<F&, std::span<const Row>, std::int64_t>)
      return detail::foreach_batch_sink<Row, F>{std::move(f)};
    else
      return detail::stand_in_sink<Row>{};  // after the error: adds none
  }
};

template <class F>
foreach_batch_t<std::decay_t<F>> foreach_batch(F&& f) {
  return {std::forward<F>(f)};
}
}  // namespace sluice

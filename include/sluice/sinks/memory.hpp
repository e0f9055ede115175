// sl::memory_sink<T>(): keeps the output in memory, for tests (Spark's memory sink). The
// handle is shared: keep a copy to read the rows while or after the query runs. In complete
// mode it holds the last batch's result; otherwise every batch's rows. A batch id it already
// holds is skipped, so a re-run batch is not stored twice.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../graph/plan.hpp"
#include "../graph/stand_in.hpp"

namespace sluice {

// Rows at one moment, owned and shared (copies are cheap): a view for std and range-v3
// pipelines (<sluice/range_v3.hpp> declares it a view for range-v3).
template <class T>
class shared_rows : public std::ranges::view_interface<shared_rows<T>> {
 public:
  shared_rows() = default;
  explicit shared_rows(std::vector<T> rows) : rows_(std::make_shared<const std::vector<T>>(std::move(rows))) {}
  const T* begin() const { return rows_ ? rows_->data() : nullptr; }
  const T* end() const { return rows_ ? rows_->data() + rows_->size() : nullptr; }

 private:
  std::shared_ptr<const std::vector<T>> rows_;
};

template <class T>
class memory_sink {
 public:
  using is_sink_descriptor = void;

  struct batch {
    std::int64_t batch_id;
    std::vector<T> rows;
  };

  memory_sink() : state_(std::make_shared<state>()) {}

  // Every row currently in the result table (complete mode: the last batch's).
  std::vector<T> rows() const {
    std::lock_guard lock(state_->mutex);
    std::vector<T> out;
    for (const auto& b : state_->batches) out.insert(out.end(), b.rows.begin(), b.rows.end());
    return out;
  }
  // rows() as a view: sink.view() | std::views::filter(...), or range-v3's views.
  shared_rows<T> view() const { return shared_rows<T>(rows()); }
  std::vector<batch> batches() const {
    std::lock_guard lock(state_->mutex);
    return state_->batches;
  }
  // Rows of the most recent batch that delivered any (Spark's CheckLastBatch).
  std::vector<T> last_batch_rows() const {
    std::lock_guard lock(state_->mutex);
    return state_->batches.empty() ? std::vector<T>{} : state_->batches.back().rows;
  }
  std::int64_t last_batch_id() const {
    std::lock_guard lock(state_->mutex);
    return state_->last_batch_id;
  }
  void clear() {
    std::lock_guard lock(state_->mutex);
    state_->batches.clear();
  }

  // (auto: deducing the return type instantiates the body at the `|`, so the assertion below
  // is the first error; a stand-in sink then takes the rows, so none follows about add_batch.)
  template <class Row>
  auto bind() && {
    static_assert(std::is_same_v<Row, T>,
                  "sluice::memory_sink<T>: the pipeline's row type is not T; convert it first with | sl::as<T>() "
                  "or use memory_sink<decltype(stream)::row_type>");
    if constexpr (std::is_same_v<Row, T>) return std::move(*this);
    else return detail::stand_in_sink<Row>{};
  }
  template <class Row>
  auto bind() const& {
    return memory_sink(*this).template bind<Row>();
  }

  void start(const sink_context& ctx) {
    std::lock_guard lock(state_->mutex);
    state_->mode = ctx.mode;
  }
  void add_batch(std::int64_t batch_id, std::span<const T> rows) {
    std::lock_guard lock(state_->mutex);
    if (batch_id <= state_->last_batch_id) return;  // already holds it
    state_->last_batch_id = batch_id;
    if (state_->mode == output_mode_kind::complete) state_->batches.clear();
    if (!rows.empty() || state_->mode == output_mode_kind::complete)
      state_->batches.push_back({batch_id, std::vector<T>(rows.begin(), rows.end())});
  }
  std::string description() const { return "MemorySink"; }

 private:
  struct state {
    mutable std::mutex mutex;
    std::vector<batch> batches;
    std::int64_t last_batch_id = -1;
    output_mode_kind mode = output_mode_kind::append;
  };
  std::shared_ptr<state> state_;
};

}  // namespace sluice

// First-in first-out aggregators over the slices of a sliding window: push the newest slice,
// evict the oldest, query the combination of everything inside. The sliced window aggregation
// (ops/aggregate.hpp) keeps one per group key, so a window's result costs O(1) instead of one
// merge per slice it covers.
//
// Both take the combining operations per call (an `ops` with merge(s, o), and for the
// invertible one unmerge(s, o)) rather than storing them, so they stay valid when the stage
// that owns them is moved. merge(s, o) folds `o` into `s` where `o` holds the later rows:
// the order matters for first/last.
//
//   invertible_window  subtract-on-evict (count, integer sums): one merge per push and one
//                      unmerge per evict, a query is a copy.
//   daba_lite_window   De-Amortized Banker's Aggregator, Lite variant (Tangwongsan, Hirzel and
//                      Schneider, "In-order sliding-window aggregation in worst-case constant
//                      time", VLDB Journal 2021): for aggregates without an inverse (min, max,
//                      first, last, distinct sets, HyperLogLog). At most 3 merges per push or
//                      evict and 1 per query, in the worst case, never an O(n) re-aggregation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace sluice::detail {

template <class State>
class invertible_window {
 public:
  void clear() {
    starts_.clear();
    values_.clear();
    total_ = State{};
  }
  bool empty() const { return starts_.empty(); }
  std::size_t size() const { return starts_.size(); }

  template <class Ops>
  void push(const Ops& ops, std::int64_t start, const State& s) {
    starts_.push_back(start);
    values_.push_back(s);
    ops.merge(total_, s);
  }
  // Evicts every slice that starts before `start`.
  template <class Ops>
  void evict_before(const Ops& ops, std::int64_t start) {
    while (!starts_.empty() && starts_.front() < start) {
      ops.unmerge(total_, values_.front());
      starts_.pop_front();
      values_.pop_front();
    }
    if (starts_.empty()) total_ = State{};  // no drift: an empty window is exactly the identity
  }
  template <class Ops>
  const State& query(const Ops&) const {
    return total_;
  }

 private:
  std::deque<std::int64_t> starts_;
  std::deque<State> values_;
  State total_{};
};

// DABA Lite. The queue is split as  [front ... l ... r ... a ... b | back ...]:
//   - the back (from b) is aggregated into back_sum as elements arrive;
//   - the front (before b) holds, after the incremental fix-ups that every operation advances
//     by one step, the aggregate of itself through b at each position, so its first element
//     is the aggregate of the whole front.
// When the front's fix-ups are done (l reaches b) the back becomes the new front (a flip).
// Positions are absolute (counted from the first element ever pushed), so evicting from the
// front does not move them.
template <class State>
class daba_lite_window {
 public:
  void clear() {
    q_.clear();
    starts_.clear();
    head_ = l_ = r_ = a_ = b_ = 0;
    mid_sum_ = back_sum_ = State{};
  }
  bool empty() const { return q_.empty(); }
  std::size_t size() const { return q_.size(); }

  template <class Ops>
  void push(const Ops& ops, std::int64_t start, const State& s) {
    ops.merge(back_sum_, s);
    q_.push_back(s);
    starts_.push_back(start);
    step(ops);
  }
  template <class Ops>
  void evict_before(const Ops& ops, std::int64_t start) {
    while (!starts_.empty() && starts_.front() < start) {
      q_.pop_front();
      starts_.pop_front();
      ++head_;
      step(ops);
    }
  }
  template <class Ops>
  State query(const Ops& ops) const {
    if (q_.empty()) return State{};
    State out = front_empty() ? State{} : q_.front();
    ops.merge(out, back_sum_);
    return out;
  }

 private:
  std::deque<State> q_;
  std::deque<std::int64_t> starts_;
  std::size_t head_ = 0, l_ = 0, r_ = 0, a_ = 0, b_ = 0;  // absolute positions
  State mid_sum_{}, back_sum_{};

  std::size_t end() const { return head_ + q_.size(); }
  bool front_empty() const { return b_ == head_; }
  State& at(std::size_t pos) { return q_[pos - head_]; }
  State delta() { return a_ == b_ ? State{} : at(a_); }

  template <class Ops>
  void step(const Ops& ops) {
    if (l_ == b_) {  // flip: the back becomes the front, to be fixed up one element per step
      l_ = head_;
      r_ = b_;
      a_ = b_ = end();
      mid_sum_ = std::move(back_sum_);
      back_sum_ = State{};
    }
    if (head_ != b_) {
      if (a_ != r_) {  // a moves left, extending the suffix aggregate by one element
        if (a_ == b_) {
          --a_;
        } else {
          --a_;
          ops.merge(at(a_), at(a_ + 1));
        }
      }
      if (l_ != r_) {
        ops.merge(at(l_), mid_sum_);
        ++l_;
      } else {  // l, r and a move together
        ++l_;
        ++r_;
        ++a_;
        mid_sum_ = delta();
      }
    } else {
      back_sum_ = State{};
      mid_sum_ = State{};
    }
  }
};

// A queue of int64 (a key's slice starts) in one vector: popped from the front by moving a
// head index, compacted when the dead prefix outgrows the live part. Cheaper than std::deque
// per push and per scan, and its iterators are plain pointers.
class start_queue {
 public:
  using iterator = std::vector<std::int64_t>::iterator;
  bool empty() const { return head_ == v_.size(); }
  std::size_t size() const { return v_.size() - head_; }
  std::int64_t front() const { return v_[head_]; }
  std::int64_t back() const { return v_.back(); }
  std::int64_t operator[](std::size_t i) const { return v_[head_ + i]; }
  iterator begin() { return v_.begin() + static_cast<std::ptrdiff_t>(head_); }
  iterator end() { return v_.end(); }
  auto begin() const { return v_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() const { return v_.end(); }
  void push_back(std::int64_t x) { v_.push_back(x); }
  void insert(iterator pos, std::int64_t x) { v_.insert(pos, x); }
  void pop_front() {
    if (++head_ == v_.size()) {
      v_.clear();
      head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= v_.size()) {
      v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

 private:
  std::vector<std::int64_t> v_;
  std::size_t head_ = 0;
};

}  // namespace sluice::detail

// sl::current_timestamp(): the time of the micro-batch being run (Spark's current_timestamp()
// in a streaming query, which is the batch's timestamp, batchTimestampMs of its offset log
// entry). Usable in any function the batch calls (map, filter, flat_map, sl::expr columns,
// [flat_]map_groups_with_state, foreach_batch): every row of a batch sees the same value, and
// a batch run again after a failure or a restart sees the value it was logged with.
//
// The engine runs a batch on the query's thread and marks it with a batch_scope; the function
// reads the mark, so it costs a thread-local load and no argument threads through the stages.
#pragma once
#include <stdexcept>

#include "../graph/protocol.hpp"
#include "../time.hpp"

namespace sluice {
namespace detail {
inline thread_local const batch_context* running_batch = nullptr;

// Spark's batch timestamps are whole milliseconds (batchTimestampMs).
constexpr timestamp floor_to_millis(timestamp t) { return timestamp{floor_div(t.micros, 1000) * 1000}; }

// While alive, the calling thread runs `ctx`'s batch (nested scopes restore the outer one).
class batch_scope {
 public:
  explicit batch_scope(const batch_context& ctx) : saved_(running_batch) { running_batch = &ctx; }
  batch_scope(const batch_scope&) = delete;
  batch_scope& operator=(const batch_scope&) = delete;
  ~batch_scope() { running_batch = saved_; }

 private:
  const batch_context* saved_;
};
}  // namespace detail

// The batch's timestamp (whole milliseconds, as Spark's). Outside a batch there is none:
// std::logic_error, rather than a clock reading that would differ from run to run.
inline timestamp current_timestamp() {
  if (detail::running_batch == nullptr)
    throw std::logic_error(
        "sl::current_timestamp(): called outside a micro-batch (it is the running batch's timestamp; call it "
        "from a function of the query: map, filter, flat_map, an sl::expr column, a state function)");
  return detail::running_batch->batch_timestamp;
}
}  // namespace sluice

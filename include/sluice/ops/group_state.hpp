// sl::group_state<State>: the state of one key handed to the function of
// sl::map_groups_with_state / sl::flat_map_groups_with_state (Spark's GroupState), and the
// timeout kinds (Spark's GroupStateTimeout). Times are in Spark's units (milliseconds) where
// Spark's API has them, and sluice's (microseconds, chrono durations) otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "../time.hpp"

namespace sluice {

enum class group_state_timeout_kind { none, processing_time, event_time };

inline constexpr std::string_view to_string(group_state_timeout_kind k) {
  switch (k) {
    case group_state_timeout_kind::none: return "NoTimeout";
    case group_state_timeout_kind::processing_time: return "ProcessingTimeTimeout";
    case group_state_timeout_kind::event_time: return "EventTimeTimeout";
  }
  return "?";
}

// A type per kind, so that sl::start can check the timeout's rules at compile time.
template <group_state_timeout_kind K>
struct group_state_timeout_tag {
  static constexpr group_state_timeout_kind value = K;
};

namespace group_state_timeout {
inline constexpr group_state_timeout_tag<group_state_timeout_kind::none> none{};
inline constexpr group_state_timeout_tag<group_state_timeout_kind::processing_time> processing_time{};
inline constexpr group_state_timeout_tag<group_state_timeout_kind::event_time> event_time{};
}  // namespace group_state_timeout

// Spark's NoSuchElementException from GroupState.get.
class group_state_missing : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};

namespace detail {
inline constexpr std::int64_t no_timeout_timestamp = std::numeric_limits<std::int64_t>::min();
template <class State, class In, class KeySel, class Out, class F, class Traits>
struct group_state_stage;
}  // namespace detail

template <class State>
class group_state {
 public:
  // Whether the key has a state (updated in this call, or stored before and not removed).
  bool exists() const { return value_.has_value(); }
  const State& get() const {
    if (!value_) throw group_state_missing("sluice::group_state::get: State is either not defined or has already been removed");
    return *value_;
  }
  std::optional<State> get_option() const { return value_; }
  void update(State v) {
    value_ = std::move(v);
    updated_ = true;
    removed_ = false;
  }
  void remove() {
    value_.reset();
    updated_ = false;
    removed_ = true;
  }
  // True only in the call Spark makes for a key whose timeout fired (with no values).
  bool has_timed_out() const { return timed_out_; }

  // Processing-time timeout: fires in the first batch whose timestamp is past now + d. Must
  // be set again in every call (each call clears it), as in Spark.
  template <class Rep, class Period>
  void set_timeout_duration(std::chrono::duration<Rep, Period> d) {
    if (timeout_ != group_state_timeout_kind::processing_time)
      throw std::logic_error("sluice::group_state::set_timeout_duration: Cannot set timeout duration without enabling "
                             "processing time timeout in [map|flat_map]_groups_with_state");
    const auto us = std::chrono::duration_cast<duration>(d).count();
    if (us <= 0) throw std::invalid_argument("sluice::group_state::set_timeout_duration: Timeout duration must be positive");
    timeout_us_ = batch_timestamp_us_ + us;
  }
  // Event-time timeout: fires when the watermark passes `t` (watermark > t). Not before the
  // current watermark.
  void set_timeout_timestamp(timestamp t) {
    if (timeout_ != group_state_timeout_kind::event_time)
      throw std::logic_error("sluice::group_state::set_timeout_timestamp: Cannot set timeout timestamp without "
                             "enabling event time timeout in [map|flat_map]_groups_with_state");
    if (t.micros <= 0) throw std::invalid_argument("sluice::group_state::set_timeout_timestamp: Timeout timestamp must be positive");
    if (watermark_present_ && t.micros < watermark_us_)
      throw std::invalid_argument("sluice::group_state::set_timeout_timestamp: Timeout timestamp (" +
                                  std::to_string(t.micros / 1000) + ") cannot be earlier than the current watermark (" +
                                  std::to_string(watermark_us_ / 1000) + ")");
    timeout_us_ = t.micros;
  }
  template <class Rep, class Period>
  void set_timeout_timestamp(timestamp t, std::chrono::duration<Rep, Period> additional) {
    if (additional.count() <= 0)
      throw std::invalid_argument("sluice::group_state::set_timeout_timestamp: Timeout duration must be positive");
    set_timeout_timestamp(t + additional);
  }
  // Spark's getCurrentWatermarkMs: only with sl::with_watermark upstream.
  std::int64_t get_current_watermark_ms() const {
    if (!watermark_present_)
      throw std::logic_error("sluice::group_state::get_current_watermark_ms: Cannot get event time watermark timestamp "
                             "without setting watermark before [map|flat_map]_groups_with_state");
    return floor_div_ms(watermark_us_);
  }
  // The batch's timestamp (the same when a batch runs again), as Spark's getCurrentProcessingTimeMs.
  std::int64_t get_current_processing_time_ms() const { return floor_div_ms(batch_timestamp_us_); }

  // Not in Spark's public API (its GroupStateImpl.getTimeoutTimestampMs): the timeout set so far.
  std::optional<timestamp> timeout_timestamp() const {
    if (timeout_us_ == detail::no_timeout_timestamp) return std::nullopt;
    return timestamp{timeout_us_};
  }

 private:
  template <class, class, class, class, class, class>
  friend struct detail::group_state_stage;
  group_state(std::optional<State> v, group_state_timeout_kind timeout, std::int64_t batch_timestamp_us,
              bool watermark_present, std::int64_t watermark_us, bool timed_out)
      : value_(std::move(v)),
        timeout_(timeout),
        batch_timestamp_us_(batch_timestamp_us),
        watermark_present_(watermark_present),
        watermark_us_(watermark_us),
        timed_out_(timed_out) {}
  static std::int64_t floor_div_ms(std::int64_t us) { return detail::floor_div(us, 1000); }

  std::optional<State> value_;
  group_state_timeout_kind timeout_;
  std::int64_t batch_timestamp_us_;
  bool watermark_present_;
  std::int64_t watermark_us_;
  bool timed_out_;
  bool updated_ = false;
  bool removed_ = false;
  // Each call starts without a timeout (Spark: "the timeout is reset every time the function
  // is called on a group").
  std::int64_t timeout_us_ = detail::no_timeout_timestamp;
};

}  // namespace sluice

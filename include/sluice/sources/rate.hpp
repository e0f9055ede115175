// sl::rate(options[, make_row]): generates rows at a fixed rate, for load tests (Spark's rate
// source). Row i has value i and the timestamp at which it was due; make_row(value, timestamp)
// turns them into any row type. With ramp_up_time, the rate grows linearly from 0.
#pragma once
#include <boost/describe.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../graph/source.hpp"

namespace sluice {

struct rate_row {
  sluice::timestamp timestamp;
  std::int64_t value = 0;
};
BOOST_DESCRIBE_STRUCT(rate_row, (), (timestamp, value))

struct rate_options {
  double rows_per_second = 1;
  duration ramp_up_time{0};
  int num_partitions = 1;
  std::int64_t max_rows_per_trigger = 0;  // 0: no limit
  std::optional<timestamp> start_time{};   // when row 0 is due; default: first use
  std::function<timestamp()> clock{};      // default: the system clock
};

struct rate_offset {
  std::int64_t rows = 0;  // rows generated so far
};
BOOST_DESCRIBE_STRUCT(rate_offset, (), (rows))

struct rate_partition {
  std::int64_t from = 0, to = 0;  // row values [from, to)
};

template <class T, class MakeRow>
class rate_source {
 public:
  using row_type = T;
  using offset_type = rate_offset;
  using partition_type = rate_partition;
  static constexpr bool parallel_read = true;  // read() only reads options: ranges split by num_partitions

  rate_source(rate_options o, MakeRow make) : options_(std::move(o)), make_(std::move(make)) {
    if (!(options_.rows_per_second > 0))
      throw std::invalid_argument("sluice::rate: rows_per_second must be positive");
    if (options_.num_partitions < 1) throw std::invalid_argument("sluice::rate: num_partitions must be >= 1");
    if (options_.ramp_up_time.count() < 0) throw std::invalid_argument("sluice::rate: ramp_up_time must be >= 0");
  }

  rate_offset initial_offset() {
    start();
    return {0};
  }
  rate_offset latest_offset(const rate_offset& start_at, read_limit limit) {
    start();
    const double elapsed = static_cast<double>((now() - *options_.start_time).count()) / 1e6;
    std::int64_t rows = rows_due(elapsed);
    if (!limit.all && options_.max_rows_per_trigger > 0)
      rows = std::min(rows, start_at.rows + options_.max_rows_per_trigger);
    return {std::max(rows, start_at.rows)};
  }
  std::vector<rate_partition> partitions(const rate_offset& s, const rate_offset& e) {
    std::vector<rate_partition> parts;
    const std::int64_t n = e.rows - s.rows, k = options_.num_partitions;
    for (std::int64_t i = 0; i < k; ++i) {
      const std::int64_t from = s.rows + n * i / k, to = s.rows + n * (i + 1) / k;
      if (from < to) parts.push_back({from, to});
    }
    return parts;
  }
  template <class Emit>
  void read(const rate_partition& p, Emit&& emit) {
    for (std::int64_t v = p.from; v < p.to; ++v) emit(make_(v, due_time(v)));
  }
  void commit(const rate_offset&) {}
  std::string description() const {
    return "RateStream[rowsPerSecond=" + std::to_string(options_.rows_per_second) +
           ", rampUpTimeSeconds=" + std::to_string(options_.ramp_up_time.count() / 1'000'000) +
           ", numPartitions=" + std::to_string(options_.num_partitions) + "]";
  }

  // Rows due after `elapsed` seconds: rate * t once ramped up, rate * t^2 / (2 R) before.
  std::int64_t rows_due(double elapsed) const {
    const double r = options_.rows_per_second, ramp = static_cast<double>(options_.ramp_up_time.count()) / 1e6;
    if (elapsed <= 0) return 0;
    const double rows = elapsed < ramp ? r * elapsed * elapsed / (2 * ramp) : r * (elapsed - ramp / 2);
    return static_cast<std::int64_t>(std::floor(rows + 1e-9));
  }
  timestamp due_time(std::int64_t value) const {
    const double r = options_.rows_per_second, ramp = static_cast<double>(options_.ramp_up_time.count()) / 1e6;
    const double v = static_cast<double>(value);
    const double t = v < r * ramp / 2 ? std::sqrt(2 * ramp * v / r) : v / r + ramp / 2;
    return *options_.start_time + duration{static_cast<std::int64_t>(std::llround(t * 1e6))};
  }

 private:
  timestamp now() const { return options_.clock ? options_.clock() : timestamp::now(); }
  void start() {
    if (!options_.start_time) options_.start_time = now();
  }
  rate_options options_;
  MakeRow make_;
};

namespace detail {
struct make_rate_row {
  rate_row operator()(std::int64_t v, timestamp t) const { return {t, v}; }
};
}  // namespace detail

inline rate_source<rate_row, detail::make_rate_row> rate(rate_options options = {}) {
  return {std::move(options), {}};
}

template <class MakeRow>
auto rate(rate_options options, MakeRow make_row) {
  static_assert(std::is_invocable_v<MakeRow&, std::int64_t, timestamp>,
                "sluice::rate: make_row must be callable as make_row(std::int64_t value, sluice::timestamp ts)");
  using T = std::remove_cvref_t<std::invoke_result_t<MakeRow&, std::int64_t, timestamp>>;
  return rate_source<T, MakeRow>(std::move(options), std::move(make_row));
}

}  // namespace sluice

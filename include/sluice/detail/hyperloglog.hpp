// HyperLogLog distinct counting (Flajolet et al.) with linear counting for small cardinalities.
// Precision follows Spark's approx_count_distinct: p = ceil(2 * log2(1.106 / rsd)).
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace sluice::detail {
class hyperloglog {
 public:
  hyperloglog() = default;
  explicit hyperloglog(int precision) : p_(precision), registers_(std::size_t{1} << precision, 0) {}

  static int precision_for(double relative_sd) {
    if (!(relative_sd > 0 && relative_sd < 0.39))
      throw std::invalid_argument("sluice::approx_count_distinct: rsd must be in (0, 0.39)");
    const int p = static_cast<int>(std::ceil(2.0 * std::log2(1.106 / relative_sd)));
    return std::clamp(p, 4, 18);
  }

  void add_hash(std::uint64_t h) {
    const std::size_t index = h >> (64 - p_);
    const std::uint64_t rest = (h << p_) | (std::uint64_t{1} << (p_ - 1));
    const auto rho = static_cast<std::uint8_t>(std::countl_zero(rest) + 1);
    if (rho > registers_[index]) registers_[index] = rho;
  }

  void merge(const hyperloglog& other) {
    for (std::size_t i = 0; i < registers_.size(); ++i) registers_[i] = std::max(registers_[i], other.registers_[i]);
  }

  std::int64_t estimate() const {
    const double m = static_cast<double>(registers_.size());
    double sum = 0;
    std::size_t zeros = 0;
    for (auto r : registers_) {
      sum += std::ldexp(1.0, -r);
      zeros += r == 0;
    }
    const double alpha = 0.7213 / (1.0 + 1.079 / m);
    double e = alpha * m * m / sum;
    if (e <= 2.5 * m && zeros > 0) e = m * std::log(m / static_cast<double>(zeros));
    return static_cast<std::int64_t>(std::llround(e));
  }

  std::size_t memory_bytes() const { return registers_.size(); }
  int precision() const { return p_; }
  const std::vector<std::uint8_t>& registers() const { return registers_; }

 private:
  int p_ = 0;
  std::vector<std::uint8_t> registers_;
};
}  // namespace sluice::detail

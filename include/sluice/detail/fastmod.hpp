// Floor modulo by a divisor fixed at run time (a window's slide), without a division per row:
// the quotient by a precomputed multiplier (Granlund and Montgomery, 1994, in the branch-free
// form of libdivide), then the remainder. A 64-bit idiv costs about 40 cycles; this is two
// multiplications.
#pragma once
#include <cstdint>
#include <stdexcept>

namespace sluice::detail {

class fast_modulus {
 public:
  fast_modulus() = default;
  explicit fast_modulus(std::int64_t divisor) : d_(static_cast<std::uint64_t>(divisor)) {
    if (divisor <= 0) throw std::invalid_argument("sluice: a modulus must be positive");
    if (d_ == 1) return;
    // libdivide's branch-free unsigned 64-bit divider: q = (((a - hi) >> 1) + hi) >> shift_,
    // hi = the high half of m_ * a.
    const int log2_d = 63 - __builtin_clzll(d_);
    if ((d_ & (d_ - 1)) == 0) {
      m_ = 0;
      shift_ = log2_d - 1;
    } else {
      const unsigned __int128 num = static_cast<unsigned __int128>(1) << (64 + log2_d);
      std::uint64_t m = static_cast<std::uint64_t>(num / d_);
      const std::uint64_t rem = static_cast<std::uint64_t>(num % d_);
      m += m;
      const std::uint64_t twice_rem = rem + rem;
      if (twice_rem >= d_ || twice_rem < rem) m += 1;
      m_ = m + 1;
      shift_ = log2_d;
    }
  }

  std::int64_t divisor() const { return static_cast<std::int64_t>(d_); }

  // a mod d for a >= 0.
  std::uint64_t mod_unsigned(std::uint64_t a) const {
    if (d_ == 1) return 0;
    const auto hi = static_cast<std::uint64_t>((static_cast<unsigned __int128>(m_) * a) >> 64);
    const std::uint64_t q = (((a - hi) >> 1) + hi) >> shift_;
    return a - q * d_;
  }

  // The floor modulo (result in [0, d)) of any a, like detail::floor_mod.
  std::int64_t floor_mod(std::int64_t a) const {
    if (a >= 0) return static_cast<std::int64_t>(mod_unsigned(static_cast<std::uint64_t>(a)));
    const std::uint64_t r = mod_unsigned(0 - static_cast<std::uint64_t>(a));
    return r == 0 ? 0 : static_cast<std::int64_t>(d_ - r);
  }

 private:
  std::uint64_t d_ = 1;
  std::uint64_t m_ = 0;
  int shift_ = 0;
};

}  // namespace sluice::detail

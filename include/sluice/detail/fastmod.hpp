// Floor modulo by a divisor fixed at run time (a window's slide), without a division per row:
// Lemire, Kaser and Kurz, "Faster remainder by direct computation" (2019). A 64-bit idiv costs
// about 40 cycles; this is two multiplications.
#pragma once
#include <cstdint>
#include <stdexcept>

namespace sluice::detail {

class fast_modulus {
 public:
  fast_modulus() = default;
  explicit fast_modulus(std::int64_t divisor) : d_(static_cast<std::uint64_t>(divisor)) {
    if (divisor <= 0) throw std::invalid_argument("sluice: a modulus must be positive");
    m_ = d_ == 1 ? 0 : ~static_cast<unsigned __int128>(0) / d_ + 1;
  }

  std::int64_t divisor() const { return static_cast<std::int64_t>(d_); }

  // a mod d for a >= 0.
  std::uint64_t mod_unsigned(std::uint64_t a) const {
    if (d_ == 1) return 0;
    const unsigned __int128 low = m_ * a;
    const unsigned __int128 bottom = ((low & 0xFFFFFFFFFFFFFFFFULL) * d_) >> 64;
    const unsigned __int128 top = (low >> 64) * d_;
    return static_cast<std::uint64_t>((bottom + top) >> 64);
  }

  // The floor modulo (result in [0, d)) of any a, like detail::floor_mod.
  std::int64_t floor_mod(std::int64_t a) const {
    if (a >= 0) return static_cast<std::int64_t>(mod_unsigned(static_cast<std::uint64_t>(a)));
    const std::uint64_t r = mod_unsigned(0 - static_cast<std::uint64_t>(a));
    return r == 0 ? 0 : static_cast<std::int64_t>(d_ - r);
  }

 private:
  std::uint64_t d_ = 1;
  unsigned __int128 m_ = 0;
};

}  // namespace sluice::detail

// sluice/ops/window.hpp: which windows an event time falls in (Spark's window()), and the
// validation of window parameters.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <chrono>
#include <map>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace window_test {
struct Tick {
  sl::timestamp ts;
  std::int64_t v = 0;
};
BOOST_DESCRIBE_STRUCT(Tick, (), (ts, v))

constexpr std::int64_t S = 1'000'000;  // one second in microseconds

// The windows containing t, as [start, end) pairs in seconds-resolution microseconds.
template <class Spec>
std::vector<std::pair<std::int64_t, std::int64_t>> windows_of(const Spec& spec, std::int64_t t) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  spec.for_each_window(t, [&](const sl::time_window& w) { out.emplace_back(w.start.micros, w.end.micros); });
  return out;
}
using W = std::vector<std::pair<std::int64_t, std::int64_t>>;

// Brute force: every window [k*slide + offset, + length) that contains t, latest first.
W reference(std::int64_t length, std::int64_t slide, std::int64_t offset, std::int64_t t) {
  W out;
  for (std::int64_t k = (t - offset) / slide + 2; k >= (t - offset - length) / slide - 2; --k) {
    const std::int64_t start = k * slide + offset;
    if (start <= t && t < start + length) out.emplace_back(start, start + length);
  }
  return out;
}
}  // namespace window_test

using namespace window_test;

TEST_CASE("tumbling windows: start k*d inclusive, end (k+1)*d exclusive", "[window]") {
  const auto w = sl::window(sl::col<"ts">, 10s);
  CHECK(windows_of(w, 15 * S) == W{{10 * S, 20 * S}});
  CHECK(windows_of(w, 10 * S) == W{{10 * S, 20 * S}});
  CHECK(windows_of(w, 20 * S - 1) == W{{10 * S, 20 * S}});
  CHECK(windows_of(w, 0) == W{{0, 10 * S}});
  CHECK(windows_of(w, 1) == W{{0, 10 * S}});
  const auto m = sl::window(sl::col<"ts">, 5min);
  const std::int64_t t = sl::parse_timestamp("2024-01-15T10:32:59.999999")->micros;
  CHECK(windows_of(m, t) ==
        W{{sl::parse_timestamp("2024-01-15T10:30:00")->micros, sl::parse_timestamp("2024-01-15T10:35:00")->micros}});
}

TEST_CASE("tumbling windows before 1970 round down, not towards zero", "[window]") {
  const auto w = sl::window(sl::col<"ts">, 10s);
  CHECK(windows_of(w, -1) == W{{-10 * S, 0}});
  CHECK(windows_of(w, -10 * S) == W{{-10 * S, 0}});
  CHECK(windows_of(w, -10 * S - 1) == W{{-20 * S, -10 * S}});
  CHECK(windows_of(w, -15 * S) == W{{-20 * S, -10 * S}});
}

TEST_CASE("sliding windows: every window containing the time, latest first", "[window]") {
  const auto w = sl::window(sl::col<"ts">, 10s, 5s);
  CHECK(windows_of(w, 12 * S) == W{{10 * S, 20 * S}, {5 * S, 15 * S}});
  CHECK(windows_of(w, 10 * S) == W{{10 * S, 20 * S}, {5 * S, 15 * S}});  // not [0, 10)
  CHECK(windows_of(w, 15 * S - 1) == W{{10 * S, 20 * S}, {5 * S, 15 * S}});
  CHECK(windows_of(w, -1) == W{{-5 * S, 5 * S}, {-10 * S, 0}});
  // A slide that does not divide the length: 10s every 3s gives 3 or 4 windows.
  const auto odd = sl::window(sl::col<"ts">, 10s, 3s);
  CHECK(windows_of(odd, 10 * S) == W{{9 * S, 19 * S}, {6 * S, 16 * S}, {3 * S, 13 * S}});
  CHECK(windows_of(odd, 9 * S) == W{{9 * S, 19 * S}, {6 * S, 16 * S}, {3 * S, 13 * S}, {0, 10 * S}});
  // slide == length is tumbling.
  CHECK(windows_of(sl::window(sl::col<"ts">, 10s, 10s), 12 * S) == W{{10 * S, 20 * S}});
}

TEST_CASE("start offsets shift every window", "[window]") {
  const auto w = sl::window(sl::col<"ts">, 10s, 10s, 3s);
  CHECK(windows_of(w, 12 * S) == W{{3 * S, 13 * S}});
  CHECK(windows_of(w, 13 * S) == W{{13 * S, 23 * S}});
  CHECK(windows_of(w, 2 * S) == W{{-7 * S, 3 * S}});
  const auto neg = sl::window(sl::col<"ts">, 10s, 10s, -3s);
  CHECK(windows_of(neg, 12 * S) == W{{7 * S, 17 * S}});
  CHECK(windows_of(neg, 7 * S) == W{{7 * S, 17 * S}});
  CHECK(windows_of(neg, 7 * S - 1) == W{{-3 * S, 7 * S}});
  const auto sliding = sl::window(sl::col<"ts">, 1h, 30min, 15min);
  CHECK(windows_of(sliding, 0) == W{{-15 * 60 * S, 45 * 60 * S}, {-45 * 60 * S, 15 * 60 * S}});
}

TEST_CASE("window assignment matches a brute-force enumeration", "[window]") {
  struct P {
    std::int64_t length, slide, offset;
  };
  const P params[] = {{10, 10, 0}, {10, 5, 0}, {10, 3, 0}, {7, 2, 1}, {7, 2, -1}, {60, 15, 14}, {5, 1, 0}, {1, 1, 0}};
  for (const auto& p : params) {
    const auto spec = sl::window(sl::col<"ts">, std::chrono::microseconds{p.length}, std::chrono::microseconds{p.slide},
                                 std::chrono::microseconds{p.offset});
    for (std::int64_t t = -130; t <= 130; ++t) {
      INFO("length " << p.length << " slide " << p.slide << " offset " << p.offset << " t " << t);
      REQUIRE(windows_of(spec, t) == reference(p.length, p.slide, p.offset, t));
    }
  }
}

TEST_CASE("window parameters are validated with Spark's messages", "[window]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(sl::window(sl::col<"ts">, 0s), Contains("window duration must be positive"));
  CHECK_THROWS_WITH(sl::window(sl::col<"ts">, -5s), Contains("window duration must be positive"));
  CHECK_THROWS_WITH(sl::window(sl::col<"ts">, 10s, 0s), Contains("slide duration must be positive"));
  CHECK_THROWS_WITH(sl::window(sl::col<"ts">, 10s, -1s), Contains("slide duration must be positive"));
  CHECK_THROWS_WITH(sl::window(sl::col<"ts">, 10s, 20s),
                    Contains("slide duration (20 seconds) must be less than or equal to the window duration (10 seconds)"));
  CHECK_THROWS_WITH(sl::window(sl::col<"ts">, 10s, 5s, 5s), Contains("start offset (5 seconds) must be less than the slide"));
  CHECK_THROWS_WITH(sl::window(sl::col<"ts">, 10s, 5s, -5s), Contains("start offset"));
  CHECK_THROWS_AS(sl::window(sl::col<"ts">, 10s, 5s, 7s), std::invalid_argument);
  CHECK_NOTHROW(sl::window(sl::col<"ts">, 10s, 5s, 4999ms));
  CHECK_NOTHROW(sl::window(sl::col<"ts">, 10s, 5s, -4999ms));
  CHECK_NOTHROW(sl::window(sl::col<"ts">, 1us));
}

TEST_CASE("windows in a query: the window column of the result", "[window]") {
  sl::memory_stream<Tick> ticks;
  auto counts = ticks | sl::group_by(sl::window(sl::col<"ts">, 10s, 5s, 1s)) | sl::aggregate(sl::count());
  sl::memory_sink<decltype(counts)::row_type> sink;
  auto q = sl::start(counts | sink, sl::output_mode::complete);
  ticks.add_data({{sl::timestamp{0}, 1}, {sl::timestamp{6 * S}, 2}, {sl::timestamp{-1}, 3}});
  q.process_all_available();
  q.stop();
  std::map<std::int64_t, std::int64_t> by_start;  // start second -> count
  for (const auto& r : sink.rows()) {
    const auto& w = sl::get<"window">(r);
    CHECK(w.end.micros - w.start.micros == 10 * S);
    by_start[w.start.micros / S] = sl::get<"count">(r);
  }
  // 0 -> [-9,1) [-4,6); 6 -> [1,11) [6,16); -1 -> [-9,1) [-4,6)
  CHECK(by_start == std::map<std::int64_t, std::int64_t>{{-9, 2}, {-4, 2}, {1, 1}, {6, 1}});
}

TEST_CASE("fast_modulus equals the floor modulo for any dividend and divisor", "[window]") {
  std::mt19937_64 rng(20261121);
  const std::int64_t divisors[] = {1, 2, 3, 7, 1000, 1'000'000, 60'000'000, 3'600'000'000, 86'400'000'000,
                                   (std::int64_t{1} << 40) + 17, std::numeric_limits<std::int64_t>::max()};
  for (std::int64_t d : divisors) {
    const sl::detail::fast_modulus m(d);
    const std::int64_t edges[] = {0, 1, -1, d - 1, d, d + 1, -d, -d - 1, -d + 1, std::numeric_limits<std::int64_t>::max(),
                                  std::numeric_limits<std::int64_t>::min() + 1};
    for (std::int64_t a : edges) REQUIRE(m.floor_mod(a) == sl::detail::floor_mod(a, d));
    for (int i = 0; i < 20000; ++i) {
      const auto a = static_cast<std::int64_t>(rng() >> (rng() % 64));
      const std::int64_t signed_a = (rng() & 1) ? a : -a;
      REQUIRE(m.floor_mod(signed_a) == sl::detail::floor_mod(signed_a, d));
    }
  }
}

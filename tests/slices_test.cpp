// sluice/sources/slices.hpp: splitting (after, last] time and id ranges into slices. Property
// tests over random ranges (fixed seeds): the slices are in order, disjoint, contiguous (each
// starts 1 us / 1 id after the previous one ends), cover exactly (after, last], and each holds
// exactly the slice length but the last, which holds at most that.
#include <catch2/catch.hpp>

#include <sluice/sources/slices.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace slices_test {
constexpr std::int64_t i64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();

// Checks the slices of (after, last] against the properties; returns the first failure or "".
std::string check_cover(std::int64_t after, std::int64_t last, std::int64_t size,
                        const std::vector<sl::id_slice>& slices) {
  if (last <= after) return slices.empty() ? "" : "slices for an empty range";
  if (slices.empty()) return "no slice for a non-empty range";
  if (slices.front().first != after + 1) return "does not start right after `after`";
  if (slices.back().last != last) return "does not end at `last`";
  for (std::size_t i = 0; i < slices.size(); ++i) {
    const auto& s = slices[i];
    if (s.first > s.last) return "an empty or reversed slice";
    // s.last - s.first + 1 in unsigned arithmetic (a slice may span most of int64).
    const std::uint64_t n = static_cast<std::uint64_t>(s.last) - static_cast<std::uint64_t>(s.first) + 1;
    if (n > static_cast<std::uint64_t>(size)) return "a slice longer than the slice length";
    if (i + 1 < slices.size() && n != static_cast<std::uint64_t>(size)) return "a slice before the last is short";
    if (i > 0 && s.first != slices[i - 1].last + 1) return "a gap or an overlap between slices";
  }
  return "";
}

std::vector<sl::id_slice> as_ids(const std::vector<sl::time_slice>& t) {
  std::vector<sl::id_slice> out;
  for (const auto& s : t) out.push_back({s.first.micros, s.last.micros});
  return out;
}
}  // namespace slices_test

using namespace slices_test;

TEST_CASE("slices: a time range splits into fixed-duration slices at microsecond precision", "[slices]") {
  const sl::timestamp t0 = *sl::parse_timestamp("2024-01-15T10:00:00Z");
  // Seed 002: the initial offset is start - 1us; the first slice starts exactly at start.
  const auto slices = sl::split_time_range(sl::just_before(t0), t0 + 1h, 15min);
  REQUIRE(slices.size() == 5);
  CHECK(slices[0].first == t0);
  CHECK(slices[0].last == t0 + 15min - 1us);
  CHECK(slices[0].length() == 15min);
  CHECK(slices[1].first == t0 + 15min);
  CHECK(slices[3].last == t0 + 1h - 1us);
  CHECK(slices[4].first == t0 + 1h);  // the range's last microsecond, alone
  CHECK(slices[4].last == t0 + 1h);
  CHECK(slices[4].length() == 1us);

  // The next batch starts where this one ended: no microsecond read twice or skipped.
  const auto next = sl::split_time_range(t0 + 1h, t0 + 1h + 20min, 15min);
  REQUIRE(next.size() == 2);
  CHECK(next[0].first == slices.back().last + 1us);
  CHECK(next[1].length() == 5min);
}

TEST_CASE("slices: empty ranges give no slice, bad lengths throw", "[slices]") {
  const sl::timestamp t{1'000'000};
  CHECK(sl::split_time_range(t, t, 1s).empty());
  CHECK(sl::split_time_range(t, t - 1us, 1s).empty());
  CHECK(sl::split_id_range(10, 10, 3).empty());
  CHECK(sl::split_id_range(10, 5, 3).empty());
  CHECK_THROWS_AS(sl::split_time_range(t, t + 1s, 0us), std::invalid_argument);
  CHECK_THROWS_AS(sl::split_id_range(0, 10, -1), std::invalid_argument);
  // A slice length far too small for the range is refused instead of allocating without bound.
  CHECK_THROWS_AS(sl::split_id_range(0, i64_max, 1), std::length_error);
  CHECK(sl::split_id_range(0, 10, 3) == std::vector<sl::id_slice>{{1, 3}, {4, 6}, {7, 9}, {10, 10}});
  CHECK(sl::split_id_range(-5, 1, 10) == std::vector<sl::id_slice>{{-4, 1}});
}

TEST_CASE("slices: the extremes of int64 split without overflow", "[slices]") {
  auto whole = sl::split_id_range(i64_min, i64_max, std::int64_t{1} << 62);
  CHECK(check_cover(i64_min, i64_max, std::int64_t{1} << 62, whole) == "");
  CHECK(whole.size() == 4);
  auto top = sl::split_id_range(i64_max - 10, i64_max, 4);
  CHECK(top == std::vector<sl::id_slice>{{i64_max - 9, i64_max - 6}, {i64_max - 5, i64_max - 2}, {i64_max - 1, i64_max}});
  auto one = sl::split_id_range(i64_min, i64_max, i64_max);
  CHECK(check_cover(i64_min, i64_max, i64_max, one) == "");
  CHECK(one.size() == 3);
}

TEST_CASE("slices: property: random id ranges are covered exactly by disjoint contiguous slices", "[slices]") {
  std::mt19937_64 rng(20240115);
  std::uniform_int_distribution<int> scale(0, 3);
  for (int iter = 0; iter < 20'000; ++iter) {
    std::int64_t after, last, size;
    switch (scale(rng)) {
      case 0:  // small numbers, often empty or one slice
        after = static_cast<std::int64_t>(rng() % 200) - 100;
        last = after + static_cast<std::int64_t>(rng() % 60) - 10;
        size = 1 + static_cast<std::int64_t>(rng() % 20);
        break;
      case 1:  // large offsets, moderate spans
        after = static_cast<std::int64_t>(rng() >> 2) - (std::int64_t{1} << 61);
        last = after + static_cast<std::int64_t>(rng() % 1'000'000);
        size = 1 + static_cast<std::int64_t>(rng() % 100'000);
        break;
      case 2:  // near the top of int64
        last = i64_max - static_cast<std::int64_t>(rng() % 1000);
        after = last - static_cast<std::int64_t>(rng() % 5000);
        size = 1 + static_cast<std::int64_t>(rng() % 700);
        break;
      default:  // huge spans, huge slices
        after = static_cast<std::int64_t>(rng());
        last = static_cast<std::int64_t>(rng());
        size = static_cast<std::int64_t>((rng() >> 8) | (std::uint64_t{1} << 44));  // <= 2^20 slices
        break;
    }
    const auto slices = sl::split_id_range(after, last, size);
    const std::string problem = check_cover(after, last, size, slices);
    INFO("after=" << after << " last=" << last << " size=" << size << " slices=" << slices.size());
    REQUIRE(problem == "");
  }
}

TEST_CASE("slices: property: random time ranges, batch after batch, read every microsecond once", "[slices]") {
  std::mt19937_64 rng(4242);
  for (int run = 0; run < 300; ++run) {
    // A source's batches: each starts where the previous ended (seed 002's offsets).
    const sl::timestamp start{static_cast<std::int64_t>(rng() % 4'000'000'000'000'000ULL)};
    const sl::duration length{1 + static_cast<std::int64_t>(rng() % 3'600'000'000LL)};
    sl::timestamp offset = sl::just_before(start);
    std::int64_t covered = 0;
    std::vector<sl::id_slice> all;
    for (int batch = 0; batch < 20; ++batch) {
      const sl::timestamp end = offset + sl::duration{static_cast<std::int64_t>(rng() % (5 * length.count() + 2))};
      const auto slices = sl::split_time_range(offset, end, length);
      INFO("batch (" << offset.micros << ", " << end.micros << "] length " << length.count());
      REQUIRE(check_cover(offset.micros, end.micros, length.count(), as_ids(slices)) == "");
      for (const auto& s : slices) {
        covered += s.length().count();
        all.push_back({s.first.micros, s.last.micros});
      }
      offset = end;
    }
    // Over all batches: exactly the microseconds [start, final offset], once each.
    CHECK(covered == offset.micros - start.micros + 1);
    for (std::size_t i = 1; i < all.size(); ++i) REQUIRE(all[i].first == all[i - 1].last + 1);
    if (!all.empty()) CHECK(all.front().first == start.micros);
  }
}

// sluice/ops/aggregates.hpp and detail/hyperloglog.hpp: aggregate functions, their default
// names, and approx_count_distinct's accuracy.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace aggregates_test {
struct Visit {
  std::string page;
  std::int64_t user = 0;
  double ms = 0;
  std::uint32_t bytes = 0;
};
BOOST_DESCRIBE_STRUCT(Visit, (), (page, user, ms, bytes))

// What approx_count_distinct feeds its sketch for an integer value.
std::uint64_t hash_of(std::int64_t v) { return sl::detail::mix64(sl::detail::hash_value_of(v)); }

sl::detail::hyperloglog sketch(int precision, std::int64_t first, std::int64_t count) {
  sl::detail::hyperloglog h(precision);
  for (std::int64_t i = first; i < first + count; ++i) h.add_hash(hash_of(i));
  return h;
}

// Error of the estimate in standard errors (1.04 / sqrt(m) of the true count).
double sigmas(std::int64_t estimate, std::int64_t n, int precision) {
  const double se = 1.04 / std::sqrt(static_cast<double>(std::int64_t{1} << precision));
  return (static_cast<double>(estimate) - static_cast<double>(n)) / static_cast<double>(n) / se;
}
}  // namespace aggregates_test

using namespace aggregates_test;

TEST_CASE("approx_count_distinct: precision from the relative standard deviation, as Spark", "[aggregates][hll]") {
  CHECK(sl::detail::hyperloglog::precision_for(0.05) == 9);
  CHECK(sl::detail::hyperloglog::precision_for(0.01) == 14);
  CHECK(sl::detail::hyperloglog::precision_for(0.1) == 7);
  CHECK(sl::detail::hyperloglog::precision_for(0.3) == 4);
  CHECK_THROWS_AS(sl::detail::hyperloglog::precision_for(0.39), std::invalid_argument);
  CHECK_THROWS_AS(sl::detail::hyperloglog::precision_for(0), std::invalid_argument);
  CHECK_THROWS_AS(sl::approx_count_distinct(sl::col<"user">, 0.5), std::invalid_argument);
  CHECK(sl::detail::hyperloglog(9).memory_bytes() == 512);
}

// The sketch writes itself into a checkpoint through the serialize/deserialize hook of
// codec/binary.hpp: its precision as a 32-bit integer, then its registers as they are (the form
// checkpoints written before the hook hold), and an empty sketch as precision 0.
TEST_CASE("HyperLogLog: its binary form in a checkpoint", "[aggregates][hll][checkpoint]") {
  const auto h = sketch(9, 0, 1000);
  sl::binary_writer w;
  w.write(h);
  w.write(sl::detail::hyperloglog{});
  const std::string& bytes = w.buffer();
  REQUIRE(bytes.size() == 4 + 512 + 4);
  std::int32_t p = 0;
  std::memcpy(&p, bytes.data(), 4);
  CHECK(p == 9);
  CHECK(std::memcmp(bytes.data() + 4, h.registers().data(), 512) == 0);

  sl::binary_reader r(bytes, "state");
  sl::detail::hyperloglog back(4), empty(4);
  r.read(back);
  r.read(empty);
  CHECK(r.at_end());
  CHECK(back.precision() == 9);
  CHECK(back.registers() == h.registers());
  CHECK(back.estimate() == h.estimate());
  CHECK(empty.precision() == 0);

  std::string bad(4, '\0');
  bad[0] = 30;  // precision 30: impossible
  sl::binary_reader rb(bad, "state/0/1.delta");
  CHECK_THROWS_WITH(rb.read(back), Catch::Contains("state/0/1.delta: corrupt at byte 4: invalid HyperLogLog precision 30"));
  std::string truncated = bytes.substr(0, 100);
  sl::binary_reader rt(truncated, "snap");
  CHECK_THROWS_WITH(rt.read(back), Catch::Contains("truncated"));
}

TEST_CASE("HyperLogLog: small counts are exact or nearly", "[aggregates][hll]") {
  for (int p : {9, 14}) {
    CHECK(sl::detail::hyperloglog(p).estimate() == 0);
    CHECK(sketch(p, 0, 1).estimate() == 1);
    CHECK(sketch(p, 0, 2).estimate() == 2);
    // Adding the same values again changes nothing.
    auto h = sketch(p, 0, 50);
    const auto before = h.estimate();
    for (std::int64_t i = 0; i < 50; ++i) h.add_hash(hash_of(i));
    CHECK(h.estimate() == before);
    CHECK(std::abs(before - 50) <= 2);
  }
}

TEST_CASE("HyperLogLog: within 3 standard errors from 1e2 to 1e6 distinct values", "[aggregates][hll]") {
  const std::int64_t sizes[] = {100, 300, 1'000, 3'000, 10'000, 30'000, 40'000, 100'000, 300'000, 1'000'000};
  for (double rsd : {0.05, 0.01}) {
    const int p = sl::detail::hyperloglog::precision_for(rsd);
    for (std::int64_t n : sizes) {
      const auto estimate = sketch(p, 7 * n, n).estimate();
      INFO("rsd " << rsd << " (p = " << p << "), n = " << n << ", estimate " << estimate << " ("
                  << sigmas(estimate, n, p) << " standard errors)");
      CHECK(std::abs(sigmas(estimate, n, p)) <= 3.0);
    }
  }
}

TEST_CASE("HyperLogLog: no bias where linear counting would hand over (about 2.5 m)", "[aggregates][hll]") {
  // Averaged over independent value sets the error must be near 0: a systematic jump shows up
  // as a mean of a standard error or more.
  for (int p : {9, 14}) {
    const std::int64_t m = std::int64_t{1} << p;
    for (std::int64_t n : {2 * m, 5 * m / 2, 3 * m}) {
      double total = 0;
      constexpr int runs = 12;
      for (int run = 0; run < runs; ++run) total += sigmas(sketch(p, 1'000'000'000LL * (run + 1), n).estimate(), n, p);
      INFO("p = " << p << ", n = " << n);
      CHECK(std::abs(total / runs) <= 0.9);  // the mean of 12 has a standard error of 0.29
    }
  }
}

TEST_CASE("HyperLogLog: merging sketches is the sketch of the union", "[aggregates][hll]") {
  for (int p : {9, 14}) {
    auto a = sketch(p, 0, 60'000);
    const auto b = sketch(p, 40'000, 60'000);  // overlaps a on [40000, 60000)
    const auto all = sketch(p, 0, 100'000);
    a.merge(b);
    CHECK(a.registers() == all.registers());
    CHECK(a.estimate() == all.estimate());
    CHECK(std::abs(sigmas(a.estimate(), 100'000, p)) <= 3.0);
    // Merging is idempotent and commutative.
    auto c = b;
    c.merge(sketch(p, 0, 60'000));
    c.merge(b);
    CHECK(c.registers() == all.registers());
  }
}

TEST_CASE("approx_count_distinct in a query, per group and across batches", "[aggregates][hll]") {
  sl::memory_stream<Visit> visits;
  auto q_plan = visits | sl::group_by(sl::col<"page">) |
                sl::aggregate(sl::approx_count_distinct(sl::col<"user">, 0.01).as<"users">(),
                              sl::approx_count_distinct(sl::col<"page">), sl::count());
  sl::memory_sink<decltype(q_plan)::row_type> sink;
  auto q = sl::start(std::move(q_plan) | sink, sl::output_mode::complete);
  // "a" gets users [0, 30000) twice over three batches, "b" users [0, 500).
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<Visit> rows;
    for (std::int64_t u = batch * 10'000; u < (batch + 1) * 10'000; ++u) rows.push_back({"a", u, 1.0, 1});
    for (std::int64_t u = batch * 10'000; u < (batch + 1) * 10'000; ++u) rows.push_back({"a", u, 1.0, 1});
    for (std::int64_t u = 0; u < 500; ++u) rows.push_back({"b", u, 1.0, 1});
    visits.add_data(std::move(rows));
    q.process_all_available();
  }
  q.stop();
  std::map<std::string, std::int64_t> users, pages, counts;
  for (const auto& r : sink.rows()) {
    users[sl::get<"page">(r)] = sl::get<"users">(r);
    pages[sl::get<"page">(r)] = sl::get<"approx_count_distinct(page)">(r);
    counts[sl::get<"page">(r)] = sl::get<"count">(r);
  }
  REQUIRE(users.size() == 2);
  CHECK(std::abs(sigmas(users["a"], 30'000, 14)) <= 3.0);
  CHECK(std::abs(sigmas(users["b"], 500, 14)) <= 3.0);
  CHECK(pages["a"] == 1);
  CHECK(pages["b"] == 1);
  CHECK(counts["a"] == 60'000);
  CHECK(counts["b"] == 1'500);
}

TEST_CASE("aggregate functions: results and Spark's default column names", "[aggregates]") {
  sl::memory_stream<Visit> visits;
  auto plan = visits | sl::group_by(sl::col<"page">) |
              sl::aggregate(sl::count(), sl::sum(sl::col<"ms">), sl::sum(sl::col<"bytes">), sl::sum(sl::col<"user">),
                            sl::avg(sl::col<"ms">), sl::min(sl::col<"ms">), sl::max(sl::col<"user">),
                            sl::first(sl::col<"user">), sl::last(sl::col<"user">), sl::count_distinct(sl::col<"user">),
                            sl::min(sl::col<"page">).as<"min_page">());
  using R = decltype(plan)::row_type;
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "count">, std::int64_t>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "sum(ms)">, double>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "sum(bytes)">, std::uint64_t>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "sum(user)">, std::int64_t>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "avg(ms)">, double>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "min(ms)">, double>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "max(user)">, std::int64_t>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "count_distinct(user)">, std::int64_t>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "min_page">, std::string>);
  CHECK(sl::column_names<R>[4] == "sum(user)");
  CHECK(sl::column_names<R>[8] == "first(user)");
  CHECK(sl::column_names<R>[9] == "last(user)");

  sl::memory_sink<R> sink;
  auto q = sl::start(std::move(plan) | sink, sl::output_mode::complete);
  visits.add_data({{"a", 3, 10.0, 100}, {"a", 1, 30.0, 200}, {"b", 9, 5.5, 1}});
  q.process_all_available();
  visits.add_data({{"a", 7, 20.0, 300}, {"a", 3, -1.0, 4'000'000'000u}});
  q.process_all_available();
  q.stop();
  const auto rows = sink.rows();  // complete mode: the last batch's whole result
  REQUIRE(rows.size() == 2);
  const auto& a = sl::get<"page">(rows[0]) == "a" ? rows[0] : rows[1];
  const auto& b = sl::get<"page">(rows[0]) == "a" ? rows[1] : rows[0];
  CHECK(sl::get<"count">(a) == 4);
  CHECK(sl::get<"sum(ms)">(a) == 59.0);
  CHECK(sl::get<"sum(bytes)">(a) == 4'000'000'600u);  // unsigned sums widen to 64 bits
  CHECK(sl::get<"sum(user)">(a) == 14);
  CHECK(sl::get<"avg(ms)">(a) == Approx(14.75));
  CHECK(sl::get<"min(ms)">(a) == -1.0);
  CHECK(sl::get<"max(user)">(a) == 7);
  CHECK(sl::get<"first(user)">(a) == 3);
  CHECK(sl::get<"last(user)">(a) == 3);
  CHECK(sl::get<"count_distinct(user)">(a) == 3);
  CHECK(sl::get<"min_page">(a) == "a");
  CHECK(sl::get<"count">(b) == 1);
  CHECK(sl::get<"avg(ms)">(b) == 5.5);
  CHECK(sl::get<"first(user)">(b) == 9);
}

TEST_CASE("aggregate without group_by: one global group", "[aggregates]") {
  sl::memory_stream<Visit> visits;
  auto plan = visits | sl::aggregate(sl::count().as<"n">(), sl::max(sl::col<"ms">));
  sl::memory_sink<decltype(plan)::row_type> sink;
  auto q = sl::start(std::move(plan) | sink, sl::output_mode::complete);
  visits.add_data({{"a", 1, 2.0, 0}, {"b", 2, 3.0, 0}});
  q.process_all_available();
  q.stop();
  const auto rows = sink.rows();
  REQUIRE(rows.size() == 1);
  CHECK(sl::get<"n">(rows[0]) == 2);
  CHECK(sl::get<"max(ms)">(rows[0]) == 3.0);
}

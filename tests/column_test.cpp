// Columns by member pointer and by literal: &Visit::amount, sl::col<&Visit::page> and "page"_c
// name the same columns as sl::col<"...">, so a query written either way is the same query: the
// same plan type, the same rows, the same checkpoint description (a checkpoint written by one
// form is taken by the other).
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <filesystem>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using namespace sluice::literals;
namespace sl = sluice;
namespace fs = std::filesystem;

namespace {
// page and region share a type, so a member pointer *argument* cannot tell them apart (it names
// its column only by type): those two are written sl::col<&Visit::page> or "page"_c.
struct Visit {
  std::string page;
  sl::timestamp ts;
  std::int64_t user;
  double amount;
  std::string region;
};
BOOST_DESCRIBE_STRUCT(Visit, (), (page, ts, user, amount, region))

struct Region {
  std::string region;
  std::string country;
};
BOOST_DESCRIBE_STRUCT(Region, (), (region, country))

Visit visit(const char* page, int seconds, std::int64_t user, double amount, const char* region = "eu") {
  return {page, sl::timestamp{seconds * 1'000'000LL}, user, amount, region};
}

struct Partly {
  double a;
  double b;  // not described: &Partly::b has the type of a
};
BOOST_DESCRIBE_STRUCT(Partly, (), (a))

fs::path fresh_dir(const std::string& name) {
  std::random_device rd;
  auto dir = fs::temp_directory_path() / ("sluice-column-" + name + "-" + std::to_string(rd()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// The aggregation written with names.
auto by_name(sl::memory_stream<Visit>& in) {
  return in | sl::with_watermark(sl::col<"ts">, 5s) |
         sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) |
         sl::aggregate(sl::count(), sl::sum(sl::col<"amount">), sl::avg(sl::col<"amount">), sl::min(sl::col<"user">),
                       sl::max(sl::col<"amount">), sl::count_distinct(sl::col<"user">),
                       sl::approx_count_distinct(sl::col<"user">), sl::first(sl::col<"region">).as<"r">());
}
// The same with member pointers (SPEC's form) where the type names one member.
auto by_member(sl::memory_stream<Visit>& in) {
  return in | sl::with_watermark(&Visit::ts, 5s) |
         sl::group_by(sl::window(&Visit::ts, 10s), sl::col<&Visit::page>) |
         sl::aggregate(sl::count(), sl::sum(&Visit::amount), sl::avg(&Visit::amount), sl::min(&Visit::user),
                       sl::max(&Visit::amount), sl::count_distinct(&Visit::user),
                       sl::approx_count_distinct(&Visit::user), sl::first(sl::col<&Visit::region>).as<"r">());
}
// And with literals.
auto by_literal(sl::memory_stream<Visit>& in) {
  return in | sl::with_watermark("ts"_c, 5s) | sl::group_by(sl::window("ts"_c, 10s), "page"_c) |
         sl::aggregate(sl::count(), sl::sum("amount"_c), sl::avg("amount"_c), sl::min("user"_c), sl::max("amount"_c),
                       sl::count_distinct("user"_c), sl::approx_count_distinct("user"_c), sl::first("region"_c).as<"r">());
}

template <class Plan>
auto run(Plan plan, sl::memory_stream<Visit>& in, const std::vector<Visit>& rows, const sl::query_options& o = {}) {
  sl::memory_sink<typename Plan::row_type> sink;
  auto q = sl::start(std::move(plan) | sink, sl::output_mode::update, o);
  in.add_data(rows);
  q.process_all_available();
  q.stop();
  return sink.rows();
}
}  // namespace

TEST_CASE("columns: sl::col<&S::m> and \"m\"_c are sl::col<\"m\">", "[column]") {
  static_assert(std::is_same_v<decltype(sl::col<&Visit::page>), decltype(sl::col<"page">)>);
  static_assert(std::is_same_v<decltype(sl::col<&Visit::region>), decltype(sl::col<"region">)>);
  static_assert(std::is_same_v<decltype("amount"_c), std::remove_const_t<decltype(sl::col<"amount">)>>);
  // A member pointer argument becomes its column where its type names one described member.
  static_assert(std::is_same_v<sl::detail::selector_t<decltype(&Visit::ts)>, sl::col_t<"ts">>);
  static_assert(std::is_same_v<sl::detail::selector_t<decltype(&Visit::amount)>, sl::col_t<"amount">>);
  CHECK(sl::col<&Visit::region>.name.view() == "region");
  CHECK(decltype(sl::sum(&Visit::amount))::name.view() == "sum(amount)");  // Spark's default name, as with col<>
}

TEST_CASE("columns: the same aggregation by name, member pointer and literal is the same query", "[column]") {
  sl::memory_stream<Visit> a, b, c;
  // The same plan type: the same output row (names and types), the same stages.
  static_assert(std::is_same_v<decltype(by_name(a)), decltype(by_member(b))>);
  static_assert(std::is_same_v<decltype(by_name(a)), decltype(by_literal(c))>);

  const std::vector<Visit> rows{visit("home", 1, 1, 2.5), visit("home", 3, 2, 1.5, "us"), visit("cart", 4, 1, 10.0),
                                visit("home", 12, 1, 4.0), visit("cart", 13, 3, 1.0)};
  const auto ra = run(by_name(a), a, rows);
  const auto rb = run(by_member(b), b, rows);
  const auto rc = run(by_literal(c), c, rows);
  REQUIRE(ra.size() == 4);
  CHECK(ra == rb);
  CHECK(ra == rc);
  CHECK(sl::get<"sum(amount)">(ra.front()) + sl::get<"count">(ra.front()) > 0);
}

TEST_CASE("columns: a checkpoint written by the query by name is taken by the query by member pointer", "[column]") {
  const auto dir = fresh_dir("ckpt");
  const sl::query_options opts{.checkpoint = (dir / "ck").string()};
  sl::memory_stream<Visit> a;
  run(by_name(a), a, {visit("home", 1, 1, 2.5), visit("cart", 4, 1, 10.0)}, opts);
  // Restarted with the other spelling on the same checkpoint: the description must match (a
  // different one is refused), and the state goes on (home's window counts the earlier row).
  sl::memory_stream<Visit> b;
  b.add_data({visit("home", 1, 1, 2.5), visit("cart", 4, 1, 10.0)});  // batch 0 again: already committed
  const auto rows = run(by_member(b), b, {visit("home", 2, 2, 1.0)}, opts);
  REQUIRE(rows.size() == 1);
  CHECK(sl::get<"page">(rows[0]) == "home");
  CHECK(sl::get<"count">(rows[0]) == 2);
  CHECK(sl::get<"sum(amount)">(rows[0]) == 3.5);
  fs::remove_all(dir);
}

TEST_CASE("columns: member pointers in select, sort, dedup, sessions, joins and group_by_key", "[column]") {
  sl::memory_stream<Visit> in;
  // select: the same projection.
  static_assert(std::is_same_v<decltype(in | sl::select(&Visit::ts, sl::col<&Visit::page>, &Visit::amount)),
                               decltype(in | sl::select(sl::col<"ts">, sl::col<"page">, sl::col<"amount">))>);
  // drop_duplicates, session windows, group_by_key, sort_by and joins: the same stages.
  static_assert(std::is_same_v<decltype(in | sl::drop_duplicates(&Visit::user, "page"_c)),
                               decltype(in | sl::drop_duplicates(sl::col<"user">, sl::col<"page">))>);
  static_assert(std::is_same_v<decltype(sl::session_window(&Visit::ts, 5s)), decltype(sl::session_window(sl::col<"ts">, 5s))>);
  static_assert(std::is_same_v<decltype(sl::group_by_key(&Visit::user)), decltype(sl::group_by_key(sl::col<"user">))>);
  static_assert(std::is_same_v<decltype(sl::sort_by(&Visit::amount)), decltype(sl::sort_by(sl::col<"amount">))>);
  const sl::static_table<Region> regions({{"eu", "FR"}, {"us", "US"}});
  static_assert(std::is_same_v<decltype(in | sl::join(regions, sl::col<&Visit::region>)),
                               decltype(in | sl::join(regions, sl::col<"region">))>);

  // And they run: a projection and a join by member pointer.
  auto projected = in | sl::select(&Visit::amount, sl::col<&Visit::page>) |
                   sl::join(regions, "page"_c, sl::col<&Region::region>);
  using R = decltype(projected)::row_type;
  sl::memory_sink<R> sink;
  auto q = sl::start(std::move(projected) | sink, sl::output_mode::append);
  in.add_data({visit("eu", 1, 1, 2.5), visit("nowhere", 2, 1, 1.0)});
  q.process_all_available();
  q.stop();
  const auto rows = sink.rows();
  REQUIRE(rows.size() == 1);
  CHECK(sl::get<"amount">(rows[0]) == 2.5);
  CHECK(sl::get<"country">(rows[0]) == "FR");
}

TEST_CASE("columns: a member pointer left out of BOOST_DESCRIBE_STRUCT is refused, not taken for another",
          "[column]") {
  CHECK_THROWS_WITH(sl::sum(&Partly::b), Catch::Contains("not among the members described") && Catch::Contains("'a'"));
  CHECK_NOTHROW(sl::sum(&Partly::a));
}

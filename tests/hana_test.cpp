// <sluice/hana.hpp>: every row type is a Hana Struct (described structs and the rows generated
// by aggregations, joins and projections), and sl::stages(plan) is a Hana sequence of a plan's
// stages, usable in compile-time checks.
#include <catch2/catch.hpp>

#include <boost/hana/at_key.hpp>
#include <boost/hana/back.hpp>
#include <boost/hana/count_if.hpp>
#include <boost/hana/define_struct.hpp>
#include <boost/hana/equal.hpp>
#include <boost/hana/fuse.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/map.hpp>
#include <boost/hana/transform.hpp>
#include <sluice/hana.hpp>
#include <sluice/sluice.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace sl = sluice;
namespace hana = boost::hana;
using namespace std::chrono_literals;

namespace hana_test {
struct Click {
  std::string page;
  sl::timestamp at;
  std::int64_t user_id;
  double value;
};
BOOST_DESCRIBE_STRUCT(Click, (), (page, at, user_id, value))

struct User {
  std::int64_t user_id;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(User, (), (user_id, name))

// A Hana Struct of its own that is also described: Hana's accessors are kept (no ambiguity).
struct Both {
  BOOST_HANA_DEFINE_STRUCT(Both, (std::int64_t, id), (std::string, label));
};
BOOST_DESCRIBE_STRUCT(Both, (), (id, label))

// Field names joined with commas, through hana::for_each over (name, value) pairs.
template <class R>
std::string names_of(const R& r) {
  std::string out;
  hana::for_each(r, hana::fuse([&](auto name, const auto&) {
                   if (!out.empty()) out += ",";
                   out += hana::to<const char*>(name);
                 }));
  return out;
}

// True at compile time when no stage of the plan is stateful.
template <class Plan>
constexpr bool stateless(const Plan& plan) {
  return hana::count_if(sl::stages(plan), [](auto t) {
           return hana::bool_c<decltype(t)::type::kind == sl::stage_kind::stateful>;
         }) == hana::size_c<0>;
}
}  // namespace hana_test

using namespace hana_test;

TEST_CASE("hana: a described struct is a Hana Struct", "[hana]") {
  STATIC_REQUIRE(hana::Struct<Click>::value);
  Click c{"home", sl::timestamp{5}, 7, 2.5};
  STATIC_REQUIRE(hana::keys(c) == hana::make_tuple(BOOST_HANA_STRING("page"), BOOST_HANA_STRING("at"),
                                                   BOOST_HANA_STRING("user_id"), BOOST_HANA_STRING("value")));
  // (Parenthesised: Catch's decomposition and Hana's operators do not mix.)
  CHECK((hana::members(c) == hana::make_tuple(std::string("home"), sl::timestamp{5}, std::int64_t{7}, 2.5)));
  CHECK(names_of(c) == "page,at,user_id,value");
  // Accessors give the field itself: writable through hana::at_key.
  hana::at_key(c, BOOST_HANA_STRING("user_id")) = 9;
  CHECK(c.user_id == 9);
  auto m = hana::to<hana::map_tag>(c);
  CHECK(m[BOOST_HANA_STRING("page")] == "home");
  CHECK(m[BOOST_HANA_STRING("value")] == 2.5);
  STATIC_REQUIRE(decltype(hana::length(m))::value == 4);
  // Hana's equality of Structs compares members.
  CHECK(hana::equal(c, Click{"home", sl::timestamp{5}, 9, 2.5}));
  CHECK_FALSE(hana::equal(c, Click{"home", sl::timestamp{5}, 9, 3.0}));
}

TEST_CASE("hana: generated rows (aggregation, join, projection) are Hana Structs", "[hana]") {
  sl::memory_stream<Click> clicks;
  auto stats = clicks | sl::with_watermark(sl::col<"at">, 10s) |
               sl::group_by(sl::window(sl::col<"at">, 5s), sl::col<"page">) |
               sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"value">).as<"total">());
  using Stats = decltype(stats)::row_type;
  STATIC_REQUIRE(sl::is_row_v<Stats>);
  STATIC_REQUIRE(hana::Struct<Stats>::value);
  Stats s{};
  sl::get<"page">(s) = "home";
  sl::get<"n">(s) = 3;
  CHECK(names_of(s) == "window,page,n,total");
  CHECK(hana::at_key(s, BOOST_HANA_STRING("n")) == 3);
  auto m = hana::to<hana::map_tag>(s);
  CHECK(m[BOOST_HANA_STRING("page")] == "home");
  constexpr auto window_key = BOOST_HANA_STRING("window");
  STATIC_REQUIRE(std::is_same_v<std::remove_cvref_t<decltype(m[window_key])>, sl::time_window>);

  sl::static_table<User> users{{7, "ann"}};
  auto joined = clicks | sl::join(users, sl::col<"user_id">);
  using Joined = decltype(joined)::row_type;
  Joined j{};
  CHECK(names_of(j) == "user_id,page,at,value,name");
  STATIC_REQUIRE(hana::keys(j) == hana::make_tuple(BOOST_HANA_STRING("user_id"), BOOST_HANA_STRING("page"),
                                                   BOOST_HANA_STRING("at"), BOOST_HANA_STRING("value"),
                                                   BOOST_HANA_STRING("name")));

  auto projected = clicks | sl::select(sl::col<"page">, sl::expr<"doubled">([](const Click& c) { return c.value * 2; }));
  using Projected = decltype(projected)::row_type;
  Projected p{{"a"}, {4.0}};
  CHECK((hana::members(p) == hana::make_tuple(std::string("a"), 4.0)));
  CHECK(names_of(p) == "page,doubled");
}

TEST_CASE("hana: a plan's stages are a Hana sequence for compile-time checks", "[hana]") {
  sl::memory_stream<Click> clicks;
  auto plain = clicks | sl::filter([](const Click& c) { return c.value > 0; }) |
               sl::map([](const Click& c) { return User{c.user_id, c.page}; });
  STATIC_REQUIRE(decltype(hana::length(sl::stages(plain)))::value == 2);
  STATIC_REQUIRE(stateless(plain));
  // The row type after each stage.
  auto rows = hana::transform(sl::stages(plain), [](auto t) { return hana::type_c<typename decltype(t)::type::output_row>; });
  STATIC_REQUIRE(rows == hana::make_tuple(hana::type_c<Click>, hana::type_c<User>));

  auto counted = plain | sl::group_by(sl::col<"name">) | sl::aggregate(sl::count());
  sl::memory_sink<decltype(counted)::row_type> sink;
  auto plan = counted | sink;
  STATIC_REQUIRE(decltype(hana::length(sl::stages(plan)))::value == 3);
  STATIC_REQUIRE(!stateless(plan));
  using Last = typename decltype(+hana::back(sl::stages(plan)))::type;
  STATIC_REQUIRE(Last::kind == sl::stage_kind::stateful);
  STATIC_REQUIRE(std::is_same_v<Last::output_row, decltype(counted)::row_type>);

  // A union: the stages of each input, in order.
  sl::memory_stream<Click> more;
  auto both = sl::union_all(clicks | sl::filter([](const Click& c) { return c.value > 0; }), more) |
              sl::map([](const Click& c) { return c; });
  STATIC_REQUIRE(decltype(hana::length(sl::stages(both)))::value == 2);
  STATIC_REQUIRE(stateless(both));

  // The plan still runs as usual.
  clicks.add_data({{"home", sl::timestamp{1}, 7, 1.0}, {"home", sl::timestamp{2}, 8, -1.0}, {"faq", sl::timestamp{3}, 9, 2.0}});
  auto q = sl::start(std::move(plan), sl::output_mode::complete, {.trigger = sl::trigger::available_now()});
  q.await_termination();
  CHECK(sink.rows().size() == 2);
}

TEST_CASE("hana: a struct both described and defined with BOOST_HANA_DEFINE_STRUCT keeps Hana's accessors", "[hana]") {
  STATIC_REQUIRE(hana::Struct<Both>::value);
  STATIC_REQUIRE(sl::record<Both>);
  Both b{};
  b.id = 3;
  b.label = "x";
  CHECK(names_of(b) == "id,label");
  CHECK(hana::at_key(b, BOOST_HANA_STRING("label")) == "x");
  sl::memory_stream<Both> in;  // and it is still a sluice row
  in.add_data({b});
  sl::memory_sink<Both> out;
  auto q = sl::start(in | out, sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  q.await_termination();
  REQUIRE(out.rows().size() == 1);
  CHECK(out.rows()[0].label == "x");
}

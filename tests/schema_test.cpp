// sluice/schema.hpp and sluice/codec/json.hpp: described structs and generated rows, read through one
// interface (columns_of, get<"name">, for_each_field), converted by name (convert_to / as<T>)
// and to and from JSON, with errors naming the field path.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace schema_test {
struct Point {
  std::int32_t x = 0;
  std::int32_t y = 0;
};
BOOST_DESCRIBE_STRUCT(Point, (), (x, y))

struct Shape {
  std::string name;
  std::vector<Point> points;
  std::optional<double> area;
  Point origin;
  sl::timestamp created;
  std::uint8_t layer = 0;
  bool visible = false;
};
BOOST_DESCRIBE_STRUCT(Shape, (), (name, points, area, origin, created, layer, visible))

struct Stats {
  sl::time_window window;
  std::string event_type;
  std::int64_t event_count = 0;
};
BOOST_DESCRIBE_STRUCT(Stats, (), (window, event_type, event_count))

// Another order, a subset of the fields and a wider type: conversion is by name.
struct CountOnly {
  double event_count = 0;
  std::string event_type;
};
BOOST_DESCRIBE_STRUCT(CountOnly, (), (event_count, event_type))

struct Event {
  std::string event_type;
  sl::timestamp timestamp;
  double value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_type, timestamp, value))

using StatsRow = sl::row<sl::field<"window", sl::time_window>, sl::field<"event_type", std::string>,
                         sl::field<"event_count", std::int64_t>>;

sl::timestamp ts(const char* text) { return *sl::parse_timestamp(text); }
}  // namespace schema_test

using namespace schema_test;

TEST_CASE("columns_of: names and types of described structs and generated rows", "[schema]") {
  STATIC_REQUIRE(sl::record<Point>);
  STATIC_REQUIRE(sl::record<StatsRow>);
  STATIC_REQUIRE_FALSE(sl::record<int>);
  STATIC_REQUIRE(sl::described_struct<Point>);
  STATIC_REQUIRE_FALSE(sl::described_struct<StatsRow>);

  STATIC_REQUIRE(sl::column_count_v<Shape> == 7);
  STATIC_REQUIRE(sl::column_count_v<StatsRow> == 3);
  CHECK(sl::column_names<Shape>[0] == "name");
  CHECK(sl::column_names<Shape>[6] == "visible");
  CHECK(sl::column_names<StatsRow>[0] == "window");
  CHECK(sl::column_names<StatsRow>[2] == "event_count");

  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<Shape, "points">, std::vector<Point>>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<Shape, "area">, std::optional<double>>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<StatsRow, "window">, sl::time_window>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<StatsRow, "event_count">, std::int64_t>);
  STATIC_REQUIRE(sl::has_column<Shape, "origin">);
  STATIC_REQUIRE_FALSE(sl::has_column<Shape, "nope">);
  STATIC_REQUIRE(sl::has_column<StatsRow, "event_type">);
  STATIC_REQUIRE_FALSE(sl::has_column<StatsRow, "count">);

  using C = sl::columns_of<Point>;
  STATIC_REQUIRE(boost::mp11::mp_size<C>::value == 2);
  STATIC_REQUIRE(boost::mp11::mp_at_c<C, 1>::name.view() == "y");
  STATIC_REQUIRE(std::is_same_v<typename boost::mp11::mp_at_c<C, 1>::type, std::int32_t>);
}

TEST_CASE("get<name>: reads and writes fields of structs and generated rows", "[schema]") {
  Shape s;
  s.name = "square";
  s.origin = {1, 2};
  CHECK(sl::get<"name">(s) == "square");
  CHECK(sl::get<"origin">(s).y == 2);
  sl::get<"layer">(s) = 7;
  CHECK(s.layer == 7);
  const Shape& cs = s;
  STATIC_REQUIRE(std::is_same_v<decltype(sl::get<"name">(cs)), const std::string&>);

  StatsRow r{{sl::time_window{ts("2024-01-15T10:30:00"), ts("2024-01-15T10:35:00")}}, {"click"}, {3}};
  CHECK(sl::get<"event_type">(r) == "click");
  CHECK(sl::get<"event_count">(r) == 3);
  CHECK(sl::get<"window">(r).end == ts("2024-01-15T10:35:00"));
  sl::get<"event_count">(r) += 1;
  CHECK(sl::get<"event_count">(r) == 4);
  const StatsRow& cr = r;
  STATIC_REQUIRE(std::is_same_v<decltype(sl::get<"event_count">(cr)), const std::int64_t&>);

  // Rows compare field by field.
  StatsRow same = r;
  CHECK(same == r);
  sl::get<"event_type">(same) = "view";
  CHECK_FALSE(same == r);
}

TEST_CASE("for_each_field: every field in declaration order", "[schema]") {
  StatsRow r{{sl::time_window{sl::timestamp{0}, sl::timestamp{10}}}, {"click"}, {3}};
  std::vector<std::string> names;
  sl::for_each_field(r, [&](std::string_view name, const auto&) { names.emplace_back(name); });
  CHECK(names == std::vector<std::string>{"window", "event_type", "event_count"});

  Point p{3, 4};
  std::vector<std::string> seen;
  sl::for_each_field(p, [&](std::string_view name, auto& v) {
    seen.push_back(std::string(name) + "=" + std::to_string(v));
    v *= 10;  // mutable access through a non-const row
  });
  CHECK(seen == std::vector<std::string>{"x=3", "y=4"});
  CHECK(p.x == 30);
  CHECK(p.y == 40);

  std::vector<std::string> cols;
  sl::for_each_column<Shape>([&](auto c) { cols.emplace_back(decltype(c)::name.view()); });
  CHECK(cols.size() == 7);
  CHECK(cols[3] == "origin");
}

TEST_CASE("convert_to / as<T>: by field name, checked at compile time", "[schema]") {
  StatsRow r{{sl::time_window{ts("2024-01-15T10:30:00"), ts("2024-01-15T10:35:00")}}, {"click"}, {3}};
  STATIC_REQUIRE(sl::convertible_by_name<StatsRow, Stats>);
  STATIC_REQUIRE(sl::convertible_by_name<StatsRow, CountOnly>);
  STATIC_REQUIRE_FALSE(sl::convertible_by_name<StatsRow, Shape>);
  STATIC_REQUIRE_FALSE(sl::convertible_by_name<StatsRow, Event>);  // no timestamp / value

  const Stats s = sl::convert_to<Stats>(r);
  CHECK(s.window.start == ts("2024-01-15T10:30:00"));
  CHECK(s.event_type == "click");
  CHECK(s.event_count == 3);

  const CountOnly c = sl::convert_to<CountOnly>(r);
  CHECK(c.event_count == 3.0);
  CHECK(c.event_type == "click");

  // From a moved-from temporary too, and struct to struct.
  const Stats s2 = sl::convert_to<Stats>(StatsRow(r));
  CHECK(s2.event_type == "click");
  const CountOnly c2 = sl::convert_to<CountOnly>(s);
  CHECK(c2.event_count == 3.0);
}

TEST_CASE("as<T> in a pipeline turns generated rows into the user struct", "[schema]") {
  sl::memory_stream<Event> events;
  sl::memory_sink<Stats> sink;
  auto q = sl::start(events | sl::with_watermark(sl::col<"timestamp">, 0s) |
                         sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">) |
                         sl::aggregate(sl::count().as<"event_count">()) | sl::as<Stats>() | sink,
                     sl::output_mode::complete);
  events.add_data({{"click", ts("2024-01-15T10:31:00"), 1}, {"click", ts("2024-01-15T10:32:00"), 2}});
  q.process_all_available();
  q.stop();
  const auto rows = sink.rows();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].window.start == ts("2024-01-15T10:30:00"));
  CHECK(rows[0].window.end == ts("2024-01-15T10:35:00"));
  CHECK(rows[0].event_type == "click");
  CHECK(rows[0].event_count == 2);
}

TEST_CASE("to_json: numbers, strings, optionals, vectors, nested structs, timestamps, windows", "[schema][json]") {
  Shape s;
  s.name = "tri";
  s.points = {{0, 0}, {1, 0}, {0, -1}};
  s.origin = {5, 6};
  s.created = ts("2024-01-15T10:30:00.123Z");
  s.layer = 200;
  s.visible = true;
  const auto v = sl::to_json(s);
  const auto& o = v.as_object();
  CHECK(o.at("name") == "tri");
  REQUIRE(o.at("points").is_array());
  CHECK(o.at("points").as_array().size() == 3);
  CHECK(o.at("points").as_array()[2].as_object().at("y") == -1);
  CHECK(o.at("area").is_null());
  CHECK(o.at("origin").as_object().at("x") == 5);
  CHECK(o.at("created") == "2024-01-15T10:30:00.123Z");
  CHECK(o.at("layer") == 200u);
  CHECK(o.at("visible") == true);

  s.area = 0.5;
  CHECK(sl::to_json(s).as_object().at("area") == 0.5);

  StatsRow r{{sl::time_window{ts("2024-01-15T10:30:00"), ts("2024-01-15T10:35:00")}}, {"click"}, {3}};
  CHECK(sl::to_json_string(r) ==
        R"({"window":{"start":"2024-01-15T10:30:00.000Z","end":"2024-01-15T10:35:00.000Z"},"event_type":"click","event_count":3})");
}

TEST_CASE("from_json: the inverse of to_json", "[schema][json]") {
  Shape s;
  s.name = "tri";
  s.points = {{0, 0}, {1, 0}, {0, -1}};
  s.area = 0.25;
  s.origin = {5, 6};
  s.created = ts("1969-07-20T20:17:40.000001Z");
  s.layer = 255;
  s.visible = true;
  const Shape back = sl::from_json<Shape>(sl::to_json(s));
  CHECK(back.name == s.name);
  REQUIRE(back.points.size() == 3);
  CHECK(back.points[2].y == -1);
  CHECK(back.area == std::optional<double>(0.25));
  CHECK(back.origin.x == 5);
  CHECK(back.origin.y == 6);
  CHECK(back.created == s.created);
  CHECK(back.layer == 255);
  CHECK(back.visible);

  StatsRow r{{sl::time_window{ts("2024-01-15T10:30:00"), ts("2024-01-15T10:35:00")}}, {"click"}, {3}};
  CHECK(sl::from_json<StatsRow>(sl::to_json(r)) == r);
  const auto w = sl::from_json<sl::time_window>(boost::json::parse(R"({"start":"2024-01-15 10:30:00","end":"2024-01-15T10:35:00+00:00"})"));
  CHECK(w == sl::time_window{ts("2024-01-15T10:30:00"), ts("2024-01-15T10:35:00")});
}

TEST_CASE("from_json: optional fields may be absent or null, and unknown fields are ignored", "[schema][json]") {
  const auto json = boost::json::parse(
      R"({"name":"p","points":[],"origin":{"x":1,"y":2},"created":"2024-01-15T10:30:00Z",)"
      R"("layer":1,"visible":false,"extra":{"ignored":true}})");
  const Shape s = sl::from_json<Shape>(json);
  CHECK_FALSE(s.area.has_value());
  CHECK(s.points.empty());
  auto with_null = json;
  with_null.as_object()["area"] = nullptr;
  CHECK_FALSE(sl::from_json<Shape>(with_null).area.has_value());
  auto with_value = json;
  with_value.as_object()["area"] = 3;  // an integer for a double
  CHECK(sl::from_json<Shape>(with_value).area == std::optional<double>(3.0));
}

TEST_CASE("from_json: timestamps from text or epoch seconds", "[schema][json]") {
  CHECK(sl::from_json<sl::timestamp>(boost::json::value("2024-01-15T10:30:00Z")) == ts("2024-01-15T10:30:00"));
  CHECK(sl::from_json<sl::timestamp>(boost::json::value(1.5)).micros == 1'500'000);
  CHECK(sl::from_json<sl::timestamp>(boost::json::value(-2)).micros == -2'000'000);
  CHECK(sl::from_json<sl::timestamp>(boost::json::value(1705314600)) == ts("2024-01-15T10:30:00"));
  // beyond 64-bit microseconds (1e30 seconds became year -290308 before it was checked)
  CHECK_THROWS_AS(sl::from_json<sl::timestamp>(boost::json::value(1e30)), sl::schema_error);
  CHECK_THROWS_AS(sl::from_json<sl::timestamp>(boost::json::value(9223372036855)), sl::schema_error);
  CHECK(sl::from_json<sl::timestamp>(boost::json::value(-9223372036854)).micros == -9223372036854000000);
}

TEST_CASE("from_json: integers from integer literals only, and ranges", "[schema][json]") {
  CHECK(sl::from_json<std::int32_t>(boost::json::value(-5)) == -5);
  // 3.0 is a number with a fraction, refused as Spark's JSON and CSV readers refuse it.
  CHECK_THROWS_WITH(sl::from_json<std::int64_t>(boost::json::value(3.0)),
                    "expected an integer, got a number with a fraction or an exponent (3.0)");
  CHECK_THROWS_WITH(sl::from_json<std::int32_t>(boost::json::value(3e9)),
                    "expected an integer, got a number with a fraction or an exponent (3.0E9)");
  CHECK_THROWS_WITH(sl::from_json<double>(boost::json::value(HUGE_VAL)), "number beyond 1.8E308 out of range for a double");
  CHECK_THROWS_WITH(sl::from_json<float>(boost::json::value(1e39)), "number 1.0E39 out of range for a float");
  CHECK(std::isnan(sl::from_json<double>(boost::json::value("NaN"))));
  CHECK(sl::from_json<float>(boost::json::value("-Infinity")) == -HUGE_VALF);
  CHECK(sl::from_json<std::uint64_t>(boost::json::value(18446744073709551615ull)) == 18446744073709551615ull);
  CHECK(sl::from_json<std::int8_t>(boost::json::value(-128)) == -128);
  CHECK(sl::from_json<double>(boost::json::value(7)) == 7.0);
  CHECK_THROWS_AS(sl::from_json<std::int8_t>(boost::json::value(128)), sl::schema_error);
  CHECK_THROWS_AS(sl::from_json<std::uint32_t>(boost::json::value(-1)), sl::schema_error);
  CHECK_THROWS_AS(sl::from_json<std::int64_t>(boost::json::value(18446744073709551615ull)), sl::schema_error);
  CHECK_THROWS_AS(sl::from_json<std::int64_t>(boost::json::value(2.5)), sl::schema_error);
  CHECK_THROWS_AS(sl::from_json<bool>(boost::json::value(1)), sl::schema_error);
  CHECK_THROWS_AS(sl::from_json<std::string>(boost::json::value(1)), sl::schema_error);
}

namespace {
// The schema_error thrown by from_json<T>(json): its message and path.
template <class T>
sl::schema_error error_of(const char* json) {
  try {
    (void)sl::from_json<T>(boost::json::parse(json));
  } catch (const sl::schema_error& e) {
    return e;
  }
  FAIL("no schema_error for " << json);
  return sl::schema_error("", "");
}
constexpr const char* good_shape_rest = R"("origin":{"x":1,"y":2},"created":"2024-01-15T10:30:00Z","layer":1,"visible":true)";
std::string shape_json(const std::string& head) { return "{" + head + "," + good_shape_rest + "}"; }
}  // namespace

TEST_CASE("schema_error names the field path", "[schema][json]") {
  SECTION("wrong type of a top-level field") {
    const auto e = error_of<Shape>(shape_json(R"("name":5,"points":[])").c_str());
    CHECK(e.path() == "name");
    CHECK(std::string(e.what()) == "field 'name': expected a string, got an integer");
  }
  SECTION("missing required field") {
    const auto e = error_of<Shape>(R"({"name":"a","points":[],"created":"2024-01-15T10:30:00Z","layer":1,"visible":true})");
    CHECK(e.path() == "origin");
    CHECK(std::string(e.what()) == "field 'origin': missing required field");
  }
  SECTION("null for a required field") {
    const auto e = error_of<Shape>(shape_json(R"("name":null,"points":[])").c_str());
    CHECK(e.path() == "name");
    CHECK(std::string(e.what()).find("null for a required field") != std::string::npos);
  }
  SECTION("missing field of a nested struct") {
    const auto e = error_of<Shape>(
        R"({"name":"a","points":[],"origin":{"x":1},"created":"2024-01-15T10:30:00Z","layer":1,"visible":true})");
    CHECK(e.path() == "origin.y");
    CHECK(std::string(e.what()) == "field 'origin.y': missing required field");
  }
  SECTION("wrong type inside a vector of structs") {
    const auto e = error_of<Shape>(shape_json(R"("name":"a","points":[{"x":1,"y":2},{"x":1,"y":"two"}])").c_str());
    CHECK(e.path() == "points[1].y");
    CHECK(std::string(e.what()) == "field 'points[1].y': expected an integer, got a string");
  }
  SECTION("a vector that is not an array") {
    const auto e = error_of<Shape>(shape_json(R"("name":"a","points":{"x":1})").c_str());
    CHECK(e.path() == "points");
    CHECK(std::string(e.what()) == "field 'points': expected an array, got an object");
  }
  SECTION("an out-of-range integer") {
    const auto e = error_of<Shape>(
        R"({"name":"a","points":[],"origin":{"x":1,"y":2},"created":"2024-01-15T10:30:00Z","layer":256,"visible":true})");
    CHECK(e.path() == "layer");
    CHECK(std::string(e.what()) == "field 'layer': integer 256 out of range");
  }
  SECTION("an out-of-range integer in a nested struct") {
    const auto e = error_of<Shape>(shape_json(R"("name":"a","points":[{"x":1,"y":4294967296}])").c_str());
    CHECK(e.path() == "points[0].y");
    CHECK(std::string(e.what()) == "field 'points[0].y': integer 4294967296 out of range");
  }
  SECTION("a timestamp that is not one") {
    const auto e = error_of<Shape>(
        R"({"name":"a","points":[],"origin":{"x":1,"y":2},"created":"yesterday","layer":1,"visible":true})");
    CHECK(e.path() == "created");
    CHECK(std::string(e.what()) == "field 'created': 'yesterday' is not an ISO-8601 timestamp");
  }
  SECTION("a window in a generated row") {
    const auto e = error_of<StatsRow>(R"({"window":{"start":"2024-01-15T10:30:00Z","end":true},"event_type":"x","event_count":1})");
    CHECK(e.path() == "window.end");
    CHECK(std::string(e.what()) == "field 'window.end': expected a timestamp, got a boolean");
  }
  SECTION("not an object at the top") {
    const auto e = error_of<Point>("[1,2]");
    CHECK(e.path().empty());
    CHECK(std::string(e.what()) == "expected an object, got an array");
  }
}

// The codec's opt-in JSON conventions (sl::json_style), string maps and pass-through objects:
// what Delta's log actions are generated with.
#include <catch2/catch.hpp>

#include <sluice/codec/json.hpp>

#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace sl = sluice;

namespace {
struct styled {
  std::int64_t row_count = 0;
  std::optional<std::string> file_name;
  std::map<std::string, std::string> extra_options;
  std::map<std::string, std::optional<std::string>> partition_values;
  boost::json::object raw_value;
  static constexpr sl::json_style json_conventions{
      .camel_case = true, .omit_nullopt = true, .defaulted = "extra_options raw_value"};
};
BOOST_DESCRIBE_STRUCT(styled, (), (row_count, file_name, extra_options, partition_values, raw_value))

struct plain {
  std::int64_t row_count = 0;
  std::optional<std::string> file_name;
};
BOOST_DESCRIBE_STRUCT(plain, (), (row_count, file_name))

std::string error_of(const std::string& text) {
  try {
    (void)sl::from_json<styled>(boost::json::parse(text));
  } catch (const sl::schema_error& e) {
    return e.path() + ": " + e.message();
  }
  return "no error";
}
}  // namespace

TEST_CASE("json_style: camelCase names, empty optionals left out, defaulted members", "[codec][json]") {
  styled s;
  s.row_count = 3;
  s.partition_values = {{"p", "x"}, {"q", std::nullopt}};
  CHECK(sl::to_json_string(s) ==
        R"({"rowCount":3,"extraOptions":{},"partitionValues":{"p":"x","q":null},"rawValue":{}})");
  s.file_name = "f";
  s.raw_value["k"] = boost::json::array{1, "two"};
  CHECK(sl::to_json_string(s) ==
        R"({"rowCount":3,"fileName":"f","extraOptions":{},"partitionValues":{"p":"x","q":null},"rawValue":{"k":[1,"two"]}})");

  // Defaulted members may be absent or null; a null string-map value is an absent key unless
  // the values are optional; objects pass through as they are.
  const auto r = sl::from_json<styled>(boost::json::parse(
      R"({"rowCount":3,"fileName":null,"extraOptions":{"a":"1","b":null},"partitionValues":{"q":null},"rawValue":{"x":{"y":[]}}})"));
  CHECK(r.row_count == 3);
  CHECK_FALSE(r.file_name.has_value());
  CHECK(r.extra_options == std::map<std::string, std::string>{{"a", "1"}});
  CHECK(r.partition_values == std::map<std::string, std::optional<std::string>>{{"q", std::nullopt}});
  CHECK(sl::json_text(r.raw_value) == R"({"x":{"y":[]}})");
  const auto d = sl::from_json<styled>(boost::json::parse(R"({"rowCount":1,"partitionValues":{},"rawValue":null})"));
  CHECK(d.extra_options.empty());
  CHECK(d.raw_value.empty());

  // Required members are still required, under their JSON names; errors name the path.
  CHECK(error_of(R"({"partitionValues":{}})") == "rowCount: missing required field");
  CHECK(error_of(R"({"row_count":1,"partitionValues":{}})") == "rowCount: missing required field");
  CHECK(error_of(R"({"rowCount":1})") == "partitionValues: missing required field");
  CHECK(error_of(R"({"rowCount":1,"partitionValues":{"p":2}})") == "partitionValues.p: expected a string, got an integer");
  CHECK(error_of(R"({"rowCount":1,"partitionValues":{},"rawValue":[]})") == "rawValue: expected an object, got an array");
}

TEST_CASE("json_style is opt-in: other structs keep member names and write null", "[codec][json]") {
  CHECK(sl::to_json_string(plain{2, std::nullopt}) == R"({"row_count":2,"file_name":null})");
  CHECK(sl::from_json<plain>(boost::json::parse(R"({"row_count":2})")).row_count == 2);
}

// Definitions of the codec's non-template functions (codec/json.hpp, codec/spark_schema.hpp):
// the decoders' error messages and the pieces of a Spark schema, compiled once rather than in
// every translation unit that instantiates a decoder (see impl/config.hpp).
#pragma once
#include <cmath>
#include <string>

#include "../codec/json.hpp"
#include "../codec/spark_schema.hpp"

namespace sluice {
namespace detail {

void throw_json_kind(const json_path& path, const char* what, const boost::json::value& v) {
  throw schema_error(path, std::string("expected ") + what + ", got " + json_kind_name(v));
}

void throw_json_integer(const json_path& path, const boost::json::value& v) {
  if (v.is_int64()) throw schema_error(path, "integer " + std::to_string(v.get_int64()) + " out of range");
  if (v.is_uint64()) throw schema_error(path, "integer " + std::to_string(v.get_uint64()) + " out of range");
  if (v.is_double()) {
    // Boost.JSON reads an integer literal beyond 64 bits as a double: out of range for any T.
    const double d = v.get_double();
    if (std::trunc(d) == d && std::abs(d) >= 0x1p63)
      throw schema_error(path, "integer " + json_number_text(v) + " out of range");
    throw schema_error(path, "expected an integer, got a number with a fraction or an exponent (" +
                                 json_number_text(v) + ")");
  }
  throw schema_error(path, std::string("expected an integer, got ") + json_kind_name(v));
}

void throw_json_floating(const json_path& path, const boost::json::value& v, bool is_float) {
  if (v.is_string())
    throw schema_error(path, "expected a number, got the string " + json_text(v) +
                                 " (strings are read only as NaN, Infinity or -Infinity)");
  if (!v.is_number()) throw schema_error(path, std::string("expected a number, got ") + json_kind_name(v));
  throw schema_error(path, "number " + json_number_text(v) + " out of range for a " + (is_float ? "float" : "double"));
}

void throw_json_missing(const json_path& path, std::string_view name, bool found) {
  throw schema_error(path.field(name), found ? "null for a required field" : "missing required field");
}

void throw_json_timestamp(const json_path& path, const boost::json::value& v) {
  throw schema_error(path, "'" + std::string(v.get_string()) + "' is not an ISO-8601 timestamp");
}

void add_struct_field(boost::json::array& fields, std::string_view name, boost::json::value type, bool nullable) {
  fields.push_back(boost::json::object{
      {"name", name}, {"type", std::move(type)}, {"nullable", nullable}, {"metadata", boost::json::object{}}});
}

boost::json::object struct_type(boost::json::array fields) {
  return {{"type", "struct"}, {"fields", std::move(fields)}};
}

boost::json::value array_type(boost::json::value element_type, bool contains_null) {
  return boost::json::object{{"type", "array"}, {"elementType", std::move(element_type)}, {"containsNull", contains_null}};
}

}  // namespace detail
}  // namespace sluice

// JSON for every schema type: described structs, generated rows, timestamps, windows,
// optionals and vectors. Errors name the field path, so a bad record says where it is bad.
#pragma once
#include <boost/json.hpp>
#include <array>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../detail/numbers.hpp"
#include "../detail/traits.hpp"
#include "../impl/config.hpp"
#include "../schema.hpp"
#include "../time.hpp"
#include "error.hpp"
#include "format.hpp"

namespace sluice {

namespace detail {
inline const char* json_kind_name(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64: return "an integer";
    case boost::json::kind::double_: return "a number";
    case boost::json::kind::string: return "a string";
    case boost::json::kind::array: return "an array";
    case boost::json::kind::object: return "an object";
  }
  return "a value";
}
inline std::string join_path(const std::string& base, std::string_view name) {
  return base.empty() ? std::string(name) : base + "." + std::string(name);
}

// Where a value sits in the document ("user.tags[2]"), made into text only for an error
// message, rather than a string built for every field of every record decoded.
class json_path {
 public:
  json_path() = default;
  explicit json_path(const std::string& root) : root_(&root) {}
  json_path field(std::string_view name) const {
    json_path p;
    p.parent_ = this;
    p.name_ = name;
    return p;
  }
  json_path element(std::size_t i) const {
    json_path p;
    p.parent_ = this;
    p.index_ = i;
    p.is_index_ = true;
    return p;
  }
  std::string str() const {
    std::string out = parent_ ? parent_->str() : (root_ ? *root_ : std::string());
    if (is_index_) out += "[" + std::to_string(index_) + "]";
    else if (parent_) out = join_path(out, name_);
    return out;
  }
  operator std::string() const { return str(); }  // for schema_error(path, ...)

 private:
  const json_path* parent_ = nullptr;
  const std::string* root_ = nullptr;
  std::string_view name_{};
  std::size_t index_ = 0;
  bool is_index_ = false;
};

// The decoders' errors, out of line (impl/codec.ipp): a decoder generated for a type keeps
// only the test and the call, not the message's string building, in every translation unit
// that instantiates it.
// "expected <what>, got <v's kind>".
[[noreturn]] SLUICE_COLD SLUICE_DECL void throw_json_kind(const json_path& path, const char* what,
                                                          const boost::json::value& v);
// v is not an integer, or one out of range for the field's type.
[[noreturn]] SLUICE_COLD SLUICE_DECL void throw_json_integer(const json_path& path, const boost::json::value& v);
// v is not a number, or one out of range for a float (is_float) or a double.
[[noreturn]] SLUICE_COLD SLUICE_DECL void throw_json_floating(const json_path& path, const boost::json::value& v,
                                                              bool is_float);
// A required field `name` is absent, or null (found).
[[noreturn]] SLUICE_COLD SLUICE_DECL void throw_json_missing(const json_path& path, std::string_view name,
                                                             bool found);
// A string that is not an ISO-8601 timestamp.
[[noreturn]] SLUICE_COLD SLUICE_DECL void throw_json_timestamp(const json_path& path, const boost::json::value& v);
}  // namespace detail

// A type with a JSON form of its own (a source offset whose checkpoint text must match
// another system's, such as Kafka's per-topic, per-partition offsets): to_json and from_json
// use these two members instead of its fields.
template <class T>
concept custom_json = requires(const T& t, const boost::json::value& v) {
  { t.to_json_value() } -> std::convertible_to<boost::json::value>;
  { T::from_json_value(v) } -> std::same_as<T>;
};

// The JSON conventions of a described struct whose JSON form is another system's (Delta's log
// actions): opted into by a member `static constexpr sluice::json_style json_conventions{...}`.
// Only to_json / from_json follow it; such structs are not rows of a JSON source.
struct json_style {
  bool camel_case = false;       // member `min_reader_version` is the JSON field "minReaderVersion"
  bool omit_nullopt = false;     // an empty optional is left out when written, not written as null
  std::string_view defaulted{};  // members (space-separated) that keep their default when absent or null
};

template <class T>
concept styled_json = requires {
  { T::json_conventions } -> std::convertible_to<json_style>;
};

namespace detail {
template <class T>
constexpr json_style json_style_of() {
  if constexpr (styled_json<T>) return T::json_conventions;
  else return {};
}

// snake_case to camelCase, at compile time: "partition_values" -> "partitionValues".
template <fixed_string Name>
struct camel_case_name {
  static constexpr auto text = [] {
    std::array<char, Name.size() + 1> out{};
    std::size_t n = 0;
    bool upper = false;
    for (const char c : Name.view()) {
      if (c == '_') {
        upper = n > 0;
      } else {
        out[n++] = upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
        upper = false;
      }
    }
    out[Name.size()] = static_cast<char>(n);  // the length, in the spare last byte
    return out;
  }();
  static constexpr std::string_view view{text.data(), static_cast<std::size_t>(text[Name.size()])};
};

// The JSON field name of column C of T.
template <class T, class C>
constexpr std::string_view json_field_name() {
  if constexpr (json_style_of<T>().camel_case) return camel_case_name<C::name>::view;
  else return C::name.view();
}

constexpr bool listed_in(std::string_view words, std::string_view name) {
  while (!words.empty()) {
    const auto sp = words.find(' ');
    if (words.substr(0, sp) == name) return true;
    words = sp == std::string_view::npos ? std::string_view{} : words.substr(sp + 1);
  }
  return false;
}

template <class T>
inline constexpr bool is_string_map_v = false;
template <class V, class C, class A>
inline constexpr bool is_string_map_v<std::map<std::string, V, C, A>> = true;
}  // namespace detail

// ---------------------------------------------------------------- to JSON
template <class T>
boost::json::value to_json(const T& v);

namespace detail {
template <class T>
void to_json_into(boost::json::value& out, const T& v) {
  if constexpr (std::is_same_v<T, boost::json::value>) {
    out = v;
  } else if constexpr (std::is_same_v<T, boost::json::object>) {
    out = v;
  } else if constexpr (custom_json<T>) {
    out = v.to_json_value();
  } else if constexpr (std::is_same_v<T, bool>) {
    out = v;
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    out = static_cast<std::int64_t>(v);
  } else if constexpr (std::is_integral_v<T>) {
    out = static_cast<std::uint64_t>(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    out = static_cast<double>(v);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    out = std::string_view(v);
  } else if constexpr (std::is_same_v<T, timestamp>) {
    out = format_timestamp(v);
  } else if constexpr (is_optional_v<T>) {
    if (v) to_json_into(out, *v);
    else out = nullptr;
  } else if constexpr (is_vector_v<T>) {
    auto& arr = out.emplace_array();
    arr.reserve(v.size());
    for (const auto& e : v) {
      arr.emplace_back(nullptr);
      to_json_into(arr.back(), e);
    }
  } else if constexpr (is_string_map_v<T>) {
    auto& obj = out.emplace_object();
    for (const auto& [k, e] : v) to_json_into(obj[k], e);
  } else if constexpr (record<T>) {
    auto& obj = out.emplace_object();
    boost::mp11::mp_for_each<columns_of<T>>([&](auto c) {
      using C = decltype(c);
      const auto& value = get<C::name>(v);
      if constexpr (json_style_of<T>().omit_nullopt && is_optional_v<std::remove_cvref_t<decltype(value)>>)
        if (!value) return;
      to_json_into(obj[json_field_name<T, C>()], value);
    });
  } else {
    static_assert(sizeof(T) == 0, "sluice::to_json: unsupported field type (use numbers, bool, std::string, "
                                  "sl::timestamp, sl::window, std::optional, std::vector, std::map<std::string, "
                                  "V> or a described struct)");
  }
}
}  // namespace detail

template <class T>
boost::json::value to_json(const T& v) {
  boost::json::value out;
  detail::to_json_into(out, v);
  return out;
}

namespace detail {
inline void append_json_text(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_: {
      const double d = v.get_double();
      if (!std::isfinite(d)) {  // JSON has no NaN or infinity; Jackson writes them as strings
        out += d != d ? "\"NaN\"" : (d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
      } else {
        out += java_floating_string(d);
      }
      return;
    }
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        append_json_text(out, e);
      }
      out += ']';
      return;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, e] : v.get_object()) {
        if (!first) out += ',';
        first = false;
        out += boost::json::serialize(boost::json::string_view(k));
        out += ':';
        append_json_text(out, e);
      }
      out += '}';
      return;
    }
    default:
      out += boost::json::serialize(v);
  }
}
}  // namespace detail

// JSON text as Spark (Jackson) writes it: doubles in Java's form ("86.0", "1.0E7"), not
// Boost.JSON's ("8.6E1").
inline std::string json_text(const boost::json::value& v) {
  std::string out;
  detail::append_json_text(out, v);
  return out;
}

template <class T>
std::string to_json_string(const T& v) {
  return json_text(to_json(v));
}

// ---------------------------------------------------------------- from JSON
namespace detail {
template <class T>
void from_json_into(const boost::json::value& v, T& out, const json_path& path);

template <class T>
void from_json_into(const boost::json::value& v, T& out, const std::string& path) {
  from_json_into(v, out, json_path(path));
}

// A number as it appears in an error message (Java's form, as Spark writes it).
inline std::string json_number_text(const boost::json::value& v) {
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  const double d = v.get_double();
  if (!std::isfinite(d)) return d > 0 ? "beyond 1.8E308" : "beyond -1.8E308";  // a literal that overflowed
  return java_floating_string(d);
}

// Integers take only integer literals, as Spark's JSON reader (and CSV, and Java's
// parseLong) does: 3.0, 3e9 and 3.5 are refused; every value is range-checked for T.
template <class T>
void integer_from_json(const boost::json::value& v, T& out, const json_path& path) {
  if (v.is_int64()) {
    const auto x = v.get_int64();
    if (x < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
        (x > 0 && static_cast<std::uint64_t>(x) > static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
      throw_json_integer(path, v);
    out = static_cast<T>(x);
  } else if (v.is_uint64()) {
    const auto x = v.get_uint64();
    if (x > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) throw_json_integer(path, v);
    out = static_cast<T>(x);
  } else {
    throw_json_integer(path, v);  // Boost.JSON reads an integer literal beyond 64 bits as a double
  }
}

// Floats and doubles take any number that fits (a literal beyond the type's range is refused,
// never made infinity) and the strings "NaN", "Infinity", "-Infinity" (what Jackson and
// sluice write for them; any case, as CSV reads them, also "inf").
template <class T>
void floating_from_json(const boost::json::value& v, T& out, const json_path& path) {
  double d = 0;
  if (v.is_double()) d = v.get_double();
  else if (v.is_int64()) d = static_cast<double>(v.get_int64());
  else if (v.is_uint64()) d = static_cast<double>(v.get_uint64());
  else if (v.is_string()) {
    const auto& s = v.get_string();
    T x{};
    if (parse_floating(std::string_view(s.data(), s.size()), x) != number_text::ok || std::isfinite(x))
      throw_json_floating(path, v, std::is_same_v<T, float>);
    out = x;
    return;
  } else {
    throw_json_floating(path, v, std::is_same_v<T, float>);
  }
  if (!std::isfinite(d) || !narrow_floating(d, out)) throw_json_floating(path, v, std::is_same_v<T, float>);
}

template <class T>
void number_from_json(const boost::json::value& v, T& out, const json_path& path) {
  if constexpr (std::is_integral_v<T>) integer_from_json(v, out, path);
  else floating_from_json(v, out, path);
}

// A number of seconds since the epoch, range-checked to the microseconds' 64 bits.
inline void timestamp_from_json_number(const boost::json::value& v, timestamp& out, const json_path& path) {
  std::optional<timestamp> t;
  if (v.is_int64()) t = timestamp_from_seconds(v.get_int64());
  else if (v.is_double()) t = timestamp_from_seconds(v.get_double());
  if (!t)  // uint64: beyond int64 seconds, out of range as well
    throw schema_error(path, "number " + json_number_text(v) + " out of range for a timestamp (" +
                                 timestamp_seconds_range + ")");
  out = *t;
}

template <class T>
void from_json_into(const boost::json::value& v, T& out, const json_path& path) {
  if constexpr (std::is_same_v<T, boost::json::value>) {
    out = v;
  } else if constexpr (std::is_same_v<T, boost::json::object>) {  // passed through as it is
    if (!v.is_object()) throw_json_kind(path, "an object", v);
    out = v.get_object();
  } else if constexpr (custom_json<T>) {
    try {
      out = T::from_json_value(v);
    } catch (const schema_error& e) {
      if (!e.path().empty()) throw;
      throw schema_error(path, e.message());  // the type's own words, at its field
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_bool()) throw_json_kind(path, "a boolean", v);
    out = v.get_bool();
  } else if constexpr (std::is_arithmetic_v<T>) {
    number_from_json(v, out, path);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) throw_json_kind(path, "a string", v);
    out.assign(v.get_string().data(), v.get_string().size());
  } else if constexpr (std::is_same_v<T, timestamp>) {
    if (v.is_string()) {
      auto t = parse_timestamp(v.get_string());
      if (!t) throw_json_timestamp(path, v);
      out = *t;
    } else if (v.is_number()) {  // numbers are seconds since the epoch, as Spark casts them
      timestamp_from_json_number(v, out, path);
    } else {
      throw_json_kind(path, "a timestamp", v);
    }
  } else if constexpr (is_optional_v<T>) {
    if (v.is_null()) out.reset();
    else from_json_into(v, out.emplace(), path);
  } else if constexpr (is_vector_v<T>) {
    if (!v.is_array()) throw_json_kind(path, "an array", v);
    const auto& arr = v.get_array();
    out.clear();
    out.resize(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) from_json_into(arr[i], out[i], path.element(i));
  } else if constexpr (is_string_map_v<T>) {
    // A null value is an absent key unless values are optional (Spark writes a null
    // configuration value of a Delta table as absent).
    if (!v.is_object()) throw_json_kind(path, "an object", v);
    out.clear();
    for (const auto& [k, e] : v.get_object()) {
      if (e.is_null() && !is_optional_v<typename T::mapped_type>) continue;
      const std::string key(k);
      from_json_into(e, out[key], path.field(key));
    }
  } else if constexpr (record<T>) {
    if (!v.is_object()) throw_json_kind(path, "an object", v);
    const auto& obj = v.get_object();
    boost::mp11::mp_for_each<columns_of<T>>([&](auto c) {
      using C = decltype(c);
      auto& value = get<C::name>(out);
      using F = std::remove_cvref_t<decltype(value)>;
      constexpr auto name = json_field_name<T, C>();
      const auto* found = obj.if_contains(name);
      if (!found || (found->is_null() && !is_optional_v<F>)) {
        if constexpr (is_optional_v<F>) {
          value.reset();
        } else if constexpr (!listed_in(json_style_of<T>().defaulted, C::name.view())) {
          throw_json_missing(path, name, found != nullptr);
        }
      } else {
        from_json_into(*found, value, path.field(name));
      }
    });
  } else {
    static_assert(sizeof(T) == 0, "sluice::from_json: unsupported field type");
  }
}
}  // namespace detail

// Converts a JSON value to T; throws schema_error naming the field on a mismatch.
// Fields absent from T are ignored; optional fields may be absent or null.
template <class T>
T from_json(const boost::json::value& v) {
  T out{};
  detail::from_json_into(v, out, detail::json_path());
  return out;
}

}  // namespace sluice

#if SLUICE_HEADER_ONLY
#include "../impl/codec.ipp"
#endif

// Options from JSON, by reflection over the described option structs (rest/options.hpp): every
// field by its C++ name, unknown keys refused (a typo would otherwise be silently ignored), and
// every error names the file and the field (`config.json: retry.max_attempts: expected an
// integer, got a string`). Durations are milliseconds (a number) or text such as "250ms",
// "30s", "5m", "1h"; enums by name; headers and cookies as objects of strings.
#pragma once
#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/mp11.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "detail/text.hpp"
#include "options.hpp"

namespace sluice::rest {

namespace detail {

inline const char* kind_of(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: return "a number";
    case boost::json::kind::string: return "a string";
    case boost::json::kind::array: return "an array";
    case boost::json::kind::object: return "an object";
  }
  return "?";
}

template <class T>
inline constexpr bool is_string_map_v = std::is_same_v<T, std::map<std::string, std::string>>;

inline std::chrono::milliseconds parse_duration(const boost::json::value& v, const std::string& path) {
  if (v.is_int64() || v.is_uint64()) return std::chrono::milliseconds(v.to_number<std::int64_t>());
  if (!v.is_string()) throw error(path + ": expected a duration (milliseconds, or text like \"30s\"), got " + kind_of(v));
  const std::string s(v.get_string());
  std::size_t used = 0;
  double n = 0;
  try {
    n = std::stod(s, &used);
  } catch (const std::exception&) {
    throw error(path + ": '" + s + "' is not a duration (e.g. \"250ms\", \"30s\", \"5m\", \"1h\")");
  }
  const std::string unit = s.substr(used);
  double ms;
  if (unit == "ms") ms = n;
  else if (unit == "s" || unit.empty()) ms = n * 1000;
  else if (unit == "m" || unit == "min") ms = n * 60'000;
  else if (unit == "h") ms = n * 3'600'000;
  else throw error(path + ": unknown duration unit '" + unit + "' (ms, s, m, h)");
  if (ms < 0) throw error(path + ": a duration cannot be negative");
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

template <class T>
void load_value(const boost::json::value& v, T& out, const std::string& path) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_bool()) throw error(path + ": expected true or false, got " + kind_of(v));
    out = v.get_bool();
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_int64() && !v.is_uint64()) throw error(path + ": expected an integer, got " + kind_of(v));
    out = static_cast<T>(v.to_number<std::int64_t>());
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) throw error(path + ": expected a number, got " + kind_of(v));
    out = v.to_number<T>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) throw error(path + ": expected a string, got " + kind_of(v));
    out = std::string(v.get_string());
  } else if constexpr (std::is_same_v<T, std::chrono::milliseconds>) {
    out = parse_duration(v, path);
  } else if constexpr (std::is_enum_v<T>) {
    if (!v.is_string()) throw error(path + ": expected a string, got " + kind_of(v));
    std::string known;
    bool found = false;
    boost::mp11::mp_for_each<boost::describe::describe_enumerators<T>>([&](auto e) {
      known += (known.empty() ? "" : ", ") + std::string(e.name);
      if (v.get_string() == e.name) {
        out = e.value;
        found = true;
      }
    });
    if (!found) throw error(path + ": '" + std::string(v.get_string()) + "' is not one of " + known);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    if (!v.is_array()) throw error(path + ": expected an array of strings, got " + kind_of(v));
    out.clear();
    for (std::size_t i = 0; i < v.get_array().size(); ++i) {
      const auto& item = v.get_array()[i];
      if (!item.is_string()) throw error(path + "[" + std::to_string(i) + "]: expected a string, got " + kind_of(item));
      out.emplace_back(item.get_string());
    }
  } else if constexpr (is_string_map_v<T>) {
    if (!v.is_object()) throw error(path + ": expected an object of strings, got " + kind_of(v));
    out.clear();
    for (const auto& [k, val] : v.get_object()) {
      if (!val.is_string()) throw error(path + "." + std::string(k) + ": expected a string, got " + kind_of(val));
      out[std::string(k)] = std::string(val.get_string());
    }
  } else {
    static_assert(boost::describe::has_describe_members<T>::value, "sluice::rest config: unsupported option type");
    if (!v.is_object()) throw error((path.empty() ? std::string("the configuration") : path) + ": expected an object, got " + kind_of(v));
    using members = boost::describe::describe_members<T, boost::describe::mod_public>;
    for (const auto& [key, val] : v.get_object()) {
      bool known = false;
      boost::mp11::mp_for_each<members>([&](auto m) {
        if (known || key != m.name) return;
        known = true;
        load_value(val, out.*m.pointer, path.empty() ? std::string(m.name) : path + "." + m.name);
      });
      if (!known) {
        std::string names;
        boost::mp11::mp_for_each<members>([&](auto m) { names += (names.empty() ? "" : ", ") + std::string(m.name); });
        throw error((path.empty() ? std::string() : path + ".") + std::string(key) + ": unknown option (known: " +
                    names + ")");
      }
    }
  }
}

template <class T>
boost::json::value dump_value(const T& v) {
  if constexpr (std::is_same_v<T, bool> || std::is_arithmetic_v<T>) {
    return boost::json::value(v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return boost::json::value(v);
  } else if constexpr (std::is_same_v<T, std::chrono::milliseconds>) {
    return boost::json::value(v.count());
  } else if constexpr (std::is_enum_v<T>) {
    return boost::json::value(boost::describe::enum_to_string(v, "?"));
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return boost::json::value_from(v);
  } else if constexpr (is_string_map_v<T>) {
    boost::json::object o;
    for (const auto& [k, val] : v) o[k] = val;
    return o;
  } else {
    boost::json::object o;
    boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>(
        [&](auto m) { o[m.name] = dump_value(v.*m.pointer); });
    return o;
  }
}

}  // namespace detail

// Options from a parsed JSON object; absent fields keep their defaults.
inline options options_from_json(const boost::json::value& v) {
  options o;
  detail::load_value(v, o, "");
  return o;
}

// Options from a JSON file; errors name the file (and line:column for malformed JSON).
inline options load_options(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(path + ": cannot open the configuration file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  boost::json::stream_parser parser;
  boost::system::error_code ec;
  const std::size_t used = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    const std::size_t at = std::min(used, text.size());
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < at; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw error(path + ":" + std::to_string(line) + ":" + std::to_string(col) + ": invalid JSON: " + ec.message());
  }
  try {
    return options_from_json(parser.release());
  } catch (const error& e) {
    throw error(path + ": " + e.what());
  }
}

// The options as JSON (the same mapping the loader reads). Secrets are replaced by "***"
// unless `with_secrets`; the environment variable's name is not a secret, its value is never
// stored in the options.
inline boost::json::value options_to_json(const options& o, bool with_secrets = false) {
  options copy = o;
  if (!with_secrets) {
    const char* env = o.auth.type == auth_type::env_header && !o.auth.env.empty() ? std::getenv(o.auth.env.c_str())
                                                                                  : nullptr;
    const auto redact = detail::make_redactor(o, env ? env : "");
    copy.url = redact(copy.url);  // also user:password@ and ?api_key=...
    copy.body = redact(copy.body);
    for (auto* s : {&copy.auth.password, &copy.auth.token, &copy.auth.consumer_secret, &copy.auth.token_secret})
      if (!s->empty()) *s = "***";
    for (auto& [k, v] : copy.cookies) v = "***";
    for (auto& [k, v] : copy.headers)
      if (redact.sensitive(k)) v = "***";
  }
  return detail::dump_value(copy);
}

}  // namespace sluice::rest

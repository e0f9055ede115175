// The formats of the file sinks: their options and rows encoded as JSON lines (the text of
// sl::to_json_string, written straight into a buffer) or CSV (RFC 4180) (sinks/files.hpp).
#pragma once
#include <boost/json.hpp>
#include <boost/mp11.hpp>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../../codec/format.hpp"
#include "../../detail/traits.hpp"
#include "../../codec/json.hpp"
#include "../../schema.hpp"
#include "../../time.hpp"

namespace sluice::files {

struct json_lines_sink_options {
  // Omit fields whose optional is empty, as Spark's JSON writer does
  // (spark.sql.jsonGenerator.ignoreNullFields); false writes them as null.
  bool ignore_null_fields = true;
  // At most this many rows per data file (Spark's maxRecordsPerFile); 0: one file per batch.
  std::size_t max_rows_per_file = 0;
  // Delete orphan part files (see the top of sinks/files.hpp).
  bool delete_orphans = true;
};

struct csv_sink_options {
  bool header = false;             // column names first in each file (Spark's default: false)
  char delimiter = ',';            // Spark's sep
  bool quote_all = false;          // quote every non-null value (Spark's quoteAll)
  std::string line_separator = "\n";  // after each record (Spark's lineSep)
  std::size_t max_rows_per_file = 0;  // Spark's maxRecordsPerFile; 0: one file per batch
  bool delete_orphans = true;
};

namespace sink_impl {
// ---------------------------------------------------------------- JSON lines encoding
// Appends a JSON string as Boost.JSON serializes it (the text of sl::to_json_string).
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

template <class I>
void append_integer(std::string& out, I v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

template <class T>
void append_json_value(std::string& out, const T& v, bool ignore_null_fields);

template <class T>
void append_json_object(std::string& out, const T& v, bool ignore_null_fields) {
  out += '{';
  bool first = true;
  for_each_field(v, [&](std::string_view name, const auto& x) {
    if constexpr (sluice::detail::is_optional_v<std::remove_cvref_t<decltype(x)>>) {
      if (ignore_null_fields && !x) return;
    }
    if (!first) out += ',';
    first = false;
    append_json_string(out, name);
    out += ':';
    append_json_value(out, x, ignore_null_fields);
  });
  out += '}';
}

// The JSON text of sl::to_json_string(v), written straight into `out` (no JSON tree), except
// that floats are written with their own shortest digits (Spark: 1.1f is 1.1) and, with
// ignore_null_fields, empty optional fields of objects are left out (as Spark does).
template <class T>
void append_json_value(std::string& out, const T& v, bool ignore_null_fields) {
  if constexpr (std::is_same_v<T, boost::json::value> || std::is_same_v<T, boost::json::object>) {
    sluice::detail::append_json_text(out, boost::json::value(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    append_integer(out, static_cast<std::int64_t>(v));
  } else if constexpr (std::is_integral_v<T>) {
    append_integer(out, static_cast<std::uint64_t>(v));
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(v)) out += v != v ? "\"NaN\"" : (v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else out += sluice::detail::java_floating_string(v);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    append_json_string(out, std::string_view(v));
  } else if constexpr (std::is_same_v<T, timestamp>) {
    append_json_string(out, format_timestamp(v));
  } else if constexpr (sluice::detail::is_optional_v<T>) {
    if (v) append_json_value(out, *v, ignore_null_fields);
    else out += "null";
  } else if constexpr (sluice::detail::is_vector_v<T>) {
    out += '[';
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) out += ',';
      append_json_value(out, v[i], ignore_null_fields);
    }
    out += ']';
  } else if constexpr (record<T>) {
    append_json_object(out, v, ignore_null_fields);
  } else {
    static_assert(sluice::detail::always_false_v<T>,
                  "sluice::files::json_lines_sink: unsupported column type (use numbers, bool, std::string, "
                  "sl::timestamp, sl::window, std::optional, std::vector or a described struct)");
  }
}

// One row as one JSON object (a row that is not a record is the object {"value": ...}, as a
// Spark Dataset of a primitive type; a boost::json::value row is written as it is).
template <class Row>
void append_json_row(std::string& out, const Row& row, bool ignore_null_fields) {
  if constexpr (record<Row> || std::is_same_v<Row, boost::json::value> || std::is_same_v<Row, boost::json::object>) {
    append_json_value(out, row, ignore_null_fields);
  } else if constexpr (sluice::detail::is_optional_v<Row>) {
    if (ignore_null_fields && !row) {
      out += "{}";
    } else {
      out += "{\"value\":";
      append_json_value(out, row, ignore_null_fields);
      out += '}';
    }
  } else {
    out += "{\"value\":";
    append_json_value(out, row, ignore_null_fields);
    out += '}';
  }
}

// ---------------------------------------------------------------- CSV encoding
template <class T>
struct csv_column {
  static constexpr bool is_struct = record<T>;
  static constexpr bool is_array = sluice::detail::is_vector_v<T>;
  static constexpr bool is_scalar = std::is_arithmetic_v<T> || std::is_convertible_v<const T&, std::string_view> ||
                                    std::is_same_v<T, timestamp>;
};
template <class T>
struct csv_column<std::optional<T>> : csv_column<T> {};

template <class Row, template <class> class Pred>
consteval bool any_column() {
  if constexpr (record<Row>) {
    return []<class... C>(boost::mp11::mp_list<C...>) { return (Pred<typename C::type>::value || ...); }(
               columns_of<Row>{});
  } else {
    return Pred<Row>::value;
  }
}
template <class T>
struct csv_struct_pred : std::bool_constant<csv_column<T>::is_struct> {};
template <class T>
struct csv_array_pred : std::bool_constant<csv_column<T>::is_array> {};
template <class T>
struct csv_other_pred : std::bool_constant<!csv_column<T>::is_scalar> {};

template <class Row>
inline constexpr bool csv_has_struct_v = any_column<Row, csv_struct_pred>();
template <class Row>
inline constexpr bool csv_has_array_v = any_column<Row, csv_array_pred>();
template <class Row>
inline constexpr bool csv_writable_v = !any_column<Row, csv_other_pred>();

template <class Row>
std::vector<std::string_view> csv_column_names() {
  if constexpr (record<Row>) {
    const auto& names = column_names<Row>;
    return {names.begin(), names.end()};
  } else {
    return {"value"};
  }
}

inline bool csv_needs_quotes(std::string_view s, char delimiter) {
  for (char c : s)
    if (c == delimiter || c == '"' || c == '\n' || c == '\r') return true;
  return false;
}

// RFC 4180: a field holding the delimiter, a quote, CR or LF is quoted, quotes doubled. An
// empty string is written "" so that it differs from null (an empty field), as Spark does.
inline void append_csv_text(std::string& out, std::string_view s, const csv_sink_options& o) {
  if (!s.empty() && !o.quote_all && !csv_needs_quotes(s, o.delimiter)) {
    out += s;
    return;
  }
  out += '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '"') continue;
    out.append(s.data() + run, i + 1 - run);
    out += '"';
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

template <class T>
void append_csv_value(std::string& out, const T& v, const csv_sink_options& o) {
  if constexpr (sluice::detail::is_optional_v<T>) {
    if (v) append_csv_value(out, *v, o);  // null: an empty field
  } else if constexpr (std::is_same_v<T, bool>) {
    append_csv_text(out, v ? "true" : "false", o);
  } else if constexpr (std::is_floating_point_v<T>) {
    append_csv_text(out, sluice::detail::java_floating_string(v), o);
  } else if constexpr (std::is_integral_v<T>) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    append_csv_text(out, std::string_view(buf, static_cast<std::size_t>(end - buf)), o);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    append_csv_text(out, std::string_view(v), o);
  } else if constexpr (std::is_same_v<T, timestamp>) {
    append_csv_text(out, format_timestamp(v), o);  // ISO-8601, as Spark's default timestampFormat
  }
}

template <class Row>
void append_csv_row(std::string& out, const Row& row, const csv_sink_options& o) {
  if constexpr (record<Row>) {
    bool first = true;
    for_each_field(row, [&](std::string_view, const auto& v) {
      if (!first) out += o.delimiter;
      first = false;
      append_csv_value(out, v, o);
    });
  } else {
    append_csv_value(out, row, o);
  }
  out += o.line_separator;
}

template <class Row>
std::string csv_header_line(const csv_sink_options& o) {
  std::string out;
  bool first = true;
  for (auto name : csv_column_names<Row>()) {
    if (!first) out += o.delimiter;
    first = false;
    append_csv_text(out, name, o);
  }
  out += o.line_separator;
  return out;
}
}  // namespace sink_impl
}  // namespace sluice::files

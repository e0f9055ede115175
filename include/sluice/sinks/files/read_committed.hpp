// Reading what a file sink committed: only the files its manifests list, checked against
// the sizes and row counts there; bad records throw file_sink_error naming file:line
// (sinks/files.hpp).
#pragma once
#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "../../checkpoint/file_io.hpp"
#include "../../detail/traits.hpp"
#include "../../codec/json.hpp"
#include "../../schema.hpp"
#include "../../time.hpp"
#include "format.hpp"
#include "manifest.hpp"

namespace sluice::files {
namespace sink_impl {
namespace fs = std::filesystem;

// ---------------------------------------------------------------- reading CSV
struct csv_field {
  std::string text;
  bool quoted = false;
};

// Splits RFC 4180 text into records; calls on_record(fields, line) with the line on which
// each record starts. Accepts LF, CRLF and CR line ends.
template <class OnRecord>
void parse_csv(std::string_view text, char delimiter, const std::string& file, OnRecord&& on_record) {
  std::vector<csv_field> fields;
  csv_field field;
  std::size_t line = 1, record_line = 1;
  std::size_t i = 0;
  bool in_record = false;
  auto end_field = [&] {
    fields.push_back(std::move(field));
    field = {};
  };
  auto end_record = [&] {
    end_field();
    on_record(fields, record_line);
    fields.clear();
    in_record = false;
  };
  while (i < text.size()) {
    const char c = text[i];
    if (!in_record) {
      in_record = true;
      record_line = line;
    }
    if (c == '"' && field.text.empty() && !field.quoted) {
      field.quoted = true;
      ++i;
      bool closed = false;
      while (i < text.size()) {
        const char q = text[i++];
        if (q == '"') {
          if (i < text.size() && text[i] == '"') {
            field.text += '"';
            ++i;
          } else {
            closed = true;
            break;
          }
        } else {
          if (q == '\n') ++line;
          field.text += q;
        }
      }
      if (!closed)
        throw file_sink_error(file + ":" + std::to_string(record_line) + ": unterminated quoted field");
      if (i < text.size() && text[i] != delimiter && text[i] != '\n' && text[i] != '\r')
        throw file_sink_error(file + ":" + std::to_string(line) + ": unexpected character after a closing quote");
    } else if (c == delimiter) {
      end_field();
      ++i;
    } else if (c == '\n' || c == '\r') {
      end_record();
      ++i;
      if (c == '\r' && i < text.size() && text[i] == '\n') ++i;
      ++line;
    } else {
      field.text += c;
      ++i;
    }
  }
  if (in_record) end_record();
}

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// One CSV field into a value; returns an error message, empty on success.
template <class T>
std::string from_csv_field(const csv_field& f, T& out) {
  if constexpr (sluice::detail::is_optional_v<T>) {
    if (f.text.empty() && !f.quoted) {
      out.reset();
      return {};
    }
    return from_csv_field(f, out.emplace());
  } else if constexpr (std::is_same_v<T, std::string>) {
    out = f.text;
    return {};
  } else if constexpr (std::is_same_v<T, bool>) {
    if (iequals(f.text, "true")) out = true;
    else if (iequals(f.text, "false")) out = false;
    else return "'" + f.text + "' is not a boolean";
    return {};
  } else if constexpr (std::is_floating_point_v<T>) {
    std::string_view s = f.text;
    if (s == "NaN") out = std::numeric_limits<T>::quiet_NaN();
    else if (s == "Infinity" || s == "+Infinity" || s == "Inf") out = std::numeric_limits<T>::infinity();
    else if (s == "-Infinity" || s == "-Inf") out = -std::numeric_limits<T>::infinity();
    else {
      if (s.starts_with('+')) s.remove_prefix(1);
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
      if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return "'" + f.text + "' is not a number";
    }
    return {};
  } else if constexpr (std::is_integral_v<T>) {
    std::string_view s = f.text;
    if (s.starts_with('+')) s.remove_prefix(1);
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc::result_out_of_range) return "integer " + f.text + " out of range";
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return "'" + f.text + "' is not an integer";
    return {};
  } else if constexpr (std::is_same_v<T, timestamp>) {
    auto t = parse_timestamp(f.text);
    if (!t) return "'" + f.text + "' is not an ISO-8601 timestamp";
    out = *t;
    return {};
  } else {
    static_assert(sluice::detail::always_false_v<T>,
                  "sluice::files::read_committed_csv: unsupported column type (CSV holds numbers, bool, "
                  "std::string, sl::timestamp and std::optional of them)");
  }
}

template <class T>
T csv_record_to(const std::vector<csv_field>& fields, const std::string& where) {
  const auto names = csv_column_names<T>();
  if (fields.size() != names.size())
    throw file_sink_error(where + "expected " + std::to_string(names.size()) + " fields, got " +
                          std::to_string(fields.size()));
  T out{};
  auto fail = [&](std::string_view name, const std::string& message) {
    throw file_sink_error(where + "column '" + std::string(name) + "': " + message);
  };
  if constexpr (record<T>) {
    std::size_t i = 0;
    for_each_field(out, [&](std::string_view name, auto& value) {
      using F = std::remove_cvref_t<decltype(value)>;
      const auto& f = fields[i++];
      if constexpr (!sluice::detail::is_optional_v<F> && !std::is_same_v<F, std::string>) {
        if (f.text.empty() && !f.quoted) fail(name, "empty (null) for a required column");
      }
      if (auto err = from_csv_field(f, value); !err.empty()) fail(name, err);
    });
  } else {
    if (auto err = from_csv_field(fields[0], out); !err.empty()) fail("value", err);
  }
  return out;
}

template <class OnFile>
void for_each_committed_file(const fs::path& dir, OnFile&& on_file) {
  const auto ids = list_log_entries(dir / metadata_directory);
  for (auto id : ids) {
    for (const auto& f : read_manifest(dir, id).files) {
      std::error_code ec;
      const auto size = fs::file_size(f.path, ec);
      if (ec)
        throw file_sink_error(f.path.string() + ": listed in the manifest of batch " + std::to_string(id) +
                              " but cannot be read: " + ec.message());
      if (size != f.size)
        throw file_sink_error(f.path.string() + ": " + std::to_string(size) + " bytes, but the manifest of batch " +
                              std::to_string(id) + " says " + std::to_string(f.size) + " (truncated or replaced)");
      std::string text;
      try {
        text = read_whole_file(f.path);
      } catch (const checkpoint_error&) {
        throw file_sink_error("cannot read " + f.path.string());
      }
      on_file(f, text);
    }
  }
}

inline void check_rows(const committed_file& f, std::int64_t rows) {
  if (rows != f.rows)
    throw file_sink_error(f.path.string() + ": " + std::to_string(rows) + " rows, but its manifest says " +
                          std::to_string(f.rows));
}
}  // namespace sink_impl

// ---------------------------------------------------------------- reading committed output
// Every committed batch of a file sink directory, in batch order, with its data files (empty
// when the directory holds none).
inline std::vector<committed_batch> committed_batches(const std::filesystem::path& dir) {
  std::vector<committed_batch> out;
  for (auto id : list_log_entries(dir / metadata_directory)) out.push_back(sink_impl::read_manifest(dir, id));
  return out;
}

// The latest committed batch id, nullopt when none is.
inline std::optional<std::int64_t> latest_committed_batch(const std::filesystem::path& dir) {
  const auto ids = list_log_entries(dir / metadata_directory);
  if (ids.empty()) return std::nullopt;
  return ids.back();
}

// The rows of every committed JSON lines file, in batch order (files the manifests do not
// list are ignored). Throws file_sink_error naming file:line for a bad record, a missing,
// truncated or replaced file.
template <class T>
std::vector<T> read_committed_json_lines(const std::filesystem::path& dir) {
  std::vector<T> out;
  sink_impl::for_each_committed_file(dir, [&](const committed_file& f, std::string_view text) {
    std::size_t line_no = 0;
    std::int64_t rows = 0;
    while (!text.empty()) {
      std::string_view line = sink_impl::take_line(text);
      ++line_no;
      if (line.empty()) continue;
      const auto where = f.path.string() + ":" + std::to_string(line_no) + ": ";
      boost::system::error_code ec;
      auto v = boost::json::parse(line, ec);
      if (ec) throw file_sink_error(where + "malformed JSON: " + ec.message());
      try {
        if constexpr (record<T> || std::is_same_v<T, boost::json::value>) {
          out.push_back(from_json<T>(v));
        } else {
          const auto* obj = v.if_object();
          const auto* value = obj ? obj->if_contains("value") : nullptr;
          if (value) out.push_back(from_json<T>(*value));
          else if constexpr (sluice::detail::is_optional_v<T>) out.push_back(T{});
          else throw schema_error("value", "missing required field");
        }
      } catch (const schema_error& e) {
        throw file_sink_error(where + e.what());
      }
      ++rows;
    }
    sink_impl::check_rows(f, rows);
  });
  return out;
}

// The rows of every committed CSV file, in batch order, read with the options the sink wrote
// them with (header, delimiter). An unquoted empty field is null (an empty optional), "" an
// empty string. Throws file_sink_error naming file:line.
template <class T>
std::vector<T> read_committed_csv(const std::filesystem::path& dir, const csv_sink_options& options = {}) {
  std::vector<T> out;
  const auto names = sink_impl::csv_column_names<T>();
  sink_impl::for_each_committed_file(dir, [&](const committed_file& f, std::string_view text) {
    const std::string file = f.path.string();
    bool header_pending = options.header;
    std::int64_t rows = 0;
    sink_impl::parse_csv(text, options.delimiter, file,
                         [&](const std::vector<sink_impl::csv_field>& fields, std::size_t line) {
                           const auto where = file + ":" + std::to_string(line) + ": ";
                           if (header_pending) {
                             header_pending = false;
                             bool same = fields.size() == names.size();
                             for (std::size_t i = 0; same && i < names.size(); ++i) same = fields[i].text == names[i];
                             if (!same) throw file_sink_error(where + "the header does not name the columns of the row type");
                             return;
                           }
                           out.push_back(sink_impl::csv_record_to<T>(fields, where));
                           ++rows;
                         });
    sink_impl::check_rows(f, rows);
  });
  return out;
}

}  // namespace sluice::files

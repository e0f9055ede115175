// sl::files::json_lines_sink(dir, options) and sl::files::csv_sink(dir, options): exactly-once
// file sinks after Spark's FileStreamSink. Append output mode only, as Spark's file sink.
//
//   <dir>/part-00007-<uuid>.jsonl     data files of batch 7 (.csv for the CSV sink)
//   <dir>/_sluice_metadata/7          the manifest entry that commits batch 7:
//                                       v1
//                                       {"path":"part-00007-<uuid>.jsonl","size":1234,"rows":10}
//
// One batch: its rows are encoded into a buffer and written with large writes to a hidden
// temporary file (".part-....tmp"), which is fsynced and renamed to its final name; the
// directory is fsynced; then the manifest entry is created put-if-absent
// (sl::write_file_atomically). The batch is committed exactly when its manifest entry exists.
// A batch without rows gets a manifest entry with no files, and no data file.
//
// Exactly once: add_batch skips a batch id at or below the latest committed one (Spark's
// "Skipping already committed batch"), so a batch re-run after a restart from the checkpoint
// is not written twice. Readers (read_committed_*, and any reader honouring the manifests)
// read only the files the manifests list, so a data file left by a crash before its manifest
// (an orphan) is never read. Reuse an output directory only with the checkpoint that wrote
// it: a new query starting again at batch 0 would have its batches skipped (as in Spark).
//
// Orphans: with `delete_orphans` (default on), the sink deletes at start the part files
// (and temporaries) whose batch is committed, or at or below the latest committed batch, and
// which no manifest lists: a manifest entry is never rewritten, so nothing can ever refer to
// them. Part files of batches not committed yet are deleted once the sink commits that batch
// id with its own files. Nothing else in the directory is touched. Only one query may write
// to a directory (a second writer committing the same batch id fails with an error).
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <boost/mp11.hpp>

#include "../checkpoint/file_io.hpp"
#include "../detail/crash_point.hpp"
#include "../detail/uuid.hpp"
#include "../codec/format.hpp"
#include "../detail/traits.hpp"
#include "../codec/json.hpp"
#include "../schema.hpp"
#include "../time.hpp"
#include "../graph/pipe.hpp"

namespace sluice::files {

// `sl::files::json_lines<T>(dir) | sl::files::json_lines_sink(out)`: neither operand is in
// namespace sluice, so argument-dependent lookup looks for operator| here.
using sluice::operator|;

// An I/O or format error of a file sink or of the committed-output readers; what() names the
// file (and line, for a bad record).
class file_sink_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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

// The manifest directory inside the output directory, and its format version.
inline constexpr std::string_view metadata_directory = "_sluice_metadata";
inline constexpr std::string_view manifest_version = "v1";

// A data file listed in a manifest entry: its full path, size in bytes and number of rows.
struct committed_file {
  std::filesystem::path path;
  std::uint64_t size = 0;
  std::int64_t rows = 0;
};
struct committed_batch {
  std::int64_t batch_id = 0;
  std::vector<committed_file> files;  // empty for a batch without rows
};

namespace sink_impl {
namespace fs = std::filesystem;

inline std::string errno_text(int err) { return std::strerror(err); }


inline std::string batch_digits(std::int64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05lld", static_cast<long long>(id));
  return buf;
}

inline bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// The batch id of a file the sink writes: "part-<digits>-<uuid>.<ext>", or its temporary
// ".part-<digits>-<uuid>.<ext>.tmp"; nullopt for any other name.
inline std::optional<std::int64_t> part_file_batch(std::string_view name) {
  if (name.starts_with('.')) {
    if (!name.ends_with(".tmp")) return std::nullopt;
    name.remove_prefix(1);
    name.remove_suffix(4);
  }
  if (!name.starts_with("part-")) return std::nullopt;
  name.remove_prefix(5);
  const auto dash = name.find('-');
  if (dash == 0 || dash == std::string_view::npos) return std::nullopt;
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + dash, id);
  if (ec != std::errc{} || end != name.data() + dash) return std::nullopt;
  name.remove_prefix(dash + 1);
  if (name.size() < 38 || !is_uuid(name.substr(0, 36)) || name[36] != '.') return std::nullopt;
  return id;
}

inline fs::path manifest_path(const fs::path& dir, std::int64_t batch_id) {
  return dir / metadata_directory / std::to_string(batch_id);
}

// Takes the next line off the front of `text`, without its "\n" or "\r\n".
inline std::string_view take_line(std::string_view& text) {
  const auto nl = text.find('\n');
  std::string_view line = text.substr(0, nl);
  text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

inline committed_batch parse_manifest(const fs::path& dir, const fs::path& file, std::int64_t batch_id,
                                      std::string_view text) {
  committed_batch batch{batch_id, {}};
  std::size_t line_no = 0;
  bool versioned = false;
  while (!text.empty()) {
    std::string_view line = take_line(text);
    ++line_no;
    auto where = [&] { return file.string() + ":" + std::to_string(line_no) + ": "; };
    if (!versioned) {
      if (line != manifest_version)
        throw file_sink_error(where() + (line.size() > 1 && line[0] == 'v'
                                             ? "manifest version '" + std::string(line) +
                                                   "' is not supported (this sluice reads " +
                                                   std::string(manifest_version) + ")"
                                             : std::string("not a sluice file sink manifest (its first line must be ") +
                                                   std::string(manifest_version) + ")"));
      versioned = true;
      continue;
    }
    if (line.empty()) continue;
    boost::system::error_code ec;
    const auto v = boost::json::parse(line, ec);
    const boost::json::object* obj = ec ? nullptr : v.if_object();
    const boost::json::value* path = obj ? obj->if_contains("path") : nullptr;
    const boost::json::value* size = obj ? obj->if_contains("size") : nullptr;
    const boost::json::value* rows = obj ? obj->if_contains("rows") : nullptr;
    if (!path || !path->is_string() || !size || !(size->is_int64() || size->is_uint64()) || !rows ||
        !rows->is_int64())
      throw file_sink_error(where() + "malformed manifest line (expected {\"path\": ..., \"size\": ..., \"rows\": ...})");
    const fs::path p(std::string(path->get_string()));
    batch.files.push_back({p.is_absolute() ? p : dir / p, size->to_number<std::uint64_t>(), rows->get_int64()});
  }
  if (!versioned) throw file_sink_error(file.string() + ": empty manifest (its first line must be v1)");
  return batch;
}

inline committed_batch read_manifest(const fs::path& dir, std::int64_t batch_id) {
  const auto file = manifest_path(dir, batch_id);
  std::string text;
  try {
    text = read_whole_file(file);
  } catch (const checkpoint_error&) {
    throw file_sink_error("cannot read the manifest " + file.string());
  }
  return parse_manifest(dir, file, batch_id, text);
}

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

// ---------------------------------------------------------------- writing files
// A data file: written under a hidden temporary name, fsynced, renamed by finish(). Removed
// again if it is destroyed unfinished.
class data_file {
 public:
  data_file(const fs::path& dir, const std::string& name) : tmp_(dir / ("." + name + ".tmp")), final_(dir / name) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw file_sink_error("cannot create " + tmp_.string() + ": " + errno_text(errno));
  }
  data_file(const data_file&) = delete;
  data_file& operator=(const data_file&) = delete;
  ~data_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!finished_) ::unlink(tmp_.c_str());
  }

  void write(std::string_view bytes) {
    size_ += bytes.size();
    while (!bytes.empty()) {
      const auto n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw file_sink_error("write to " + tmp_.string() + " failed: " + errno_text(errno));
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void finish() {
    if (::fsync(fd_) != 0) throw file_sink_error("fsync of " + tmp_.string() + " failed: " + errno_text(errno));
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) throw file_sink_error("close of " + tmp_.string() + " failed: " + errno_text(errno));
    if (::rename(tmp_.c_str(), final_.c_str()) != 0)
      throw file_sink_error("cannot rename " + tmp_.string() + " to " + final_.string() + ": " + errno_text(errno));
    finished_ = true;
  }
  std::uint64_t size() const { return size_; }
  const fs::path& path() const { return final_; }

 private:
  fs::path tmp_, final_;
  int fd_ = -1;
  bool finished_ = false;
  std::uint64_t size_ = 0;
};

inline void sync_directory_best_effort(const fs::path& dir) {
  try {
    sluice::detail::fsync_path(dir, true);
  } catch (const checkpoint_error&) {
  }
}

// What both file sinks share: the directory, the manifests, the orphans.
class sink_core {
 public:
  static constexpr std::size_t flush_bytes = 1 << 20;  // write the buffer out every MiB

  sink_core(fs::path dir, std::string extension, std::size_t max_rows_per_file, bool delete_orphans)
      : dir_(std::move(dir)),
        extension_(std::move(extension)),
        max_rows_per_file_(max_rows_per_file),
        delete_orphans_(delete_orphans) {}

  // Reads where the output stands (latest committed batch) and deals with orphans. Runs at
  // query start, or at the first batch when the sink is used on its own.
  void start() {
    std::error_code ec;
    const bool existed = fs::is_directory(dir_ / metadata_directory, ec);
    fs::create_directories(dir_ / metadata_directory, ec);
    if (ec)
      throw file_sink_error("cannot create " + (dir_ / metadata_directory).string() + ": " + ec.message());
    if (!existed) {
      sync_directory_best_effort(dir_);
      if (dir_.has_parent_path()) sync_directory_best_effort(dir_.parent_path());
    }
    const auto ids = list_log_entries(dir_ / metadata_directory);
    latest_ = ids.empty() ? -1 : ids.back();
    pending_orphans_.clear();
    if (delete_orphans_) scan_orphans(ids);
    started_ = true;
  }

  bool already_committed(std::int64_t batch_id) {
    if (!started_) start();
    if (batch_id <= latest_) return true;
    std::error_code ec;
    if (fs::exists(manifest_path(dir_, batch_id), ec)) {  // committed by someone else meanwhile
      latest_ = batch_id;
      return true;
    }
    return false;
  }

  // Writes rows [0, n) of a batch (encode(buffer, i) appends row i) and commits it.
  template <class Encode>
  void write_batch(std::int64_t batch_id, std::size_t n, std::string_view file_header, Encode&& encode) {
    if (already_committed(batch_id)) return;
    std::vector<committed_file> files;
    struct discard_on_failure {  // files of a batch that did not commit are orphans: remove them
      std::vector<committed_file>& files;
      bool committed = false;
      ~discard_on_failure() {
        if (!committed)
          for (const auto& f : files) ::unlink(f.path.c_str());
      }
    } guard{files};
    std::size_t i = 0;
    while (i < n) {
      const std::size_t count = max_rows_per_file_ ? std::min(max_rows_per_file_, n - i) : n - i;
      data_file file(dir_, "part-" + batch_digits(batch_id) + "-" + sluice::detail::random_uuid() + extension_);
      buffer_.assign(file_header);
      for (std::size_t k = i; k < i + count; ++k) {
        encode(buffer_, k);
        if (buffer_.size() >= flush_bytes) {
          file.write(buffer_);
          buffer_.clear();
        }
      }
      file.write(buffer_);
      buffer_.clear();
      file.finish();
      files.push_back({file.path(), file.size(), static_cast<std::int64_t>(count)});
      i += count;
    }
    if (buffer_.capacity() > 4 * flush_bytes) std::string().swap(buffer_);
    if (!files.empty()) sluice::detail::fsync_path(dir_, true);  // the renames are durable
    sluice::detail::crash_point("files_sink_data_written");      // crash tests: data files, no manifest

    std::string manifest(manifest_version);
    manifest += '\n';
    for (const auto& f : files) {
      manifest += "{\"path\":";
      append_json_string(manifest, f.path.filename().string());
      manifest += ",\"size\":";
      append_integer(manifest, f.size);
      manifest += ",\"rows\":";
      append_integer(manifest, f.rows);
      manifest += "}\n";
    }
    const auto target = manifest_path(dir_, batch_id);
    try {
      write_file_atomically(target, manifest, /*overwrite=*/false);
    } catch (const checkpoint_error& e) {
      std::error_code ec;
      if (fs::exists(target, ec))
        throw file_sink_error("race while committing batch " + std::to_string(batch_id) + " to " + dir_.string() +
                              ": another writer committed it first (only one query may write to a file sink "
                              "directory)");
      throw file_sink_error(std::string("cannot commit batch ") + std::to_string(batch_id) + ": " + e.what());
    }
    guard.committed = true;
    latest_ = std::max(latest_, batch_id);
    if (auto it = pending_orphans_.find(batch_id); it != pending_orphans_.end()) {
      for (const auto& p : it->second) fs::remove(p, ec_ignored_);
      pending_orphans_.erase(it);
    }
  }

  std::string description() const { return "FileSink[" + dir_.string() + "]"; }
  const fs::path& directory() const { return dir_; }

 private:
  void scan_orphans(const std::vector<std::int64_t>& committed_ids) {
    const std::set<std::int64_t> committed(committed_ids.begin(), committed_ids.end());
    std::map<std::int64_t, std::vector<fs::path>> candidates;
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (auto id = part_file_batch(name)) candidates[*id].push_back(it->path());
    }
    // Temporaries of manifest entries (".<id>.<pid>.tmp", sl::write_file_atomically) of
    // batches already decided.
    for (fs::directory_iterator it(dir_ / metadata_directory, ec), end; !ec && it != end; it.increment(ec)) {
      std::string_view name = it->path().filename().native();
      if (!name.starts_with('.') || !name.ends_with(".tmp")) continue;
      name.remove_prefix(1);
      std::int64_t id = 0;
      const auto [p, e] = std::from_chars(name.data(), name.data() + name.size(), id);
      if (e == std::errc{} && p != name.data() && *p == '.' && id <= latest_) fs::remove(it->path(), ec_ignored_);
    }
    for (auto& [id, paths] : candidates) {
      if (committed.count(id)) {
        std::set<std::string> listed;
        for (const auto& f : read_manifest(dir_, id).files) listed.insert(f.path.filename().string());
        for (const auto& p : paths)
          if (!listed.count(p.filename().string())) fs::remove(p, ec_ignored_);
      } else if (id <= latest_) {
        for (const auto& p : paths) fs::remove(p, ec_ignored_);  // a batch this sink will skip
      } else {
        pending_orphans_[id] = std::move(paths);
      }
    }
  }

  fs::path dir_;
  std::string extension_;
  std::size_t max_rows_per_file_;
  bool delete_orphans_;
  bool started_ = false;
  std::int64_t latest_ = -1;
  std::map<std::int64_t, std::vector<fs::path>> pending_orphans_;
  std::string buffer_;  // reused: no allocation per batch once warm
  std::error_code ec_ignored_;
};

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

// ---------------------------------------------------------------- the sinks
template <class Row>
class json_lines_file_sink {
 public:
  json_lines_file_sink(std::filesystem::path dir, json_lines_sink_options options)
      : core_(std::move(dir), ".jsonl", options.max_rows_per_file, options.delete_orphans), options_(options) {}

  static constexpr bool supports(output_mode_kind mode) { return mode == output_mode_kind::append; }
  void start(const sink_context&) { core_.start(); }
  void add_batch(std::int64_t batch_id, std::span<const Row> rows) {
    const bool ignore_nulls = options_.ignore_null_fields;
    core_.write_batch(batch_id, rows.size(), {}, [&](std::string& out, std::size_t i) {
      sink_impl::append_json_row(out, rows[i], ignore_nulls);
      out += '\n';
    });
  }
  std::string description() const { return core_.description(); }
  const std::filesystem::path& directory() const { return core_.directory(); }

 private:
  sink_impl::sink_core core_;
  json_lines_sink_options options_;
};

template <class Row>
class csv_file_sink {
 public:
  csv_file_sink(std::filesystem::path dir, csv_sink_options options)
      : core_(std::move(dir), ".csv", options.max_rows_per_file, options.delete_orphans),
        options_(std::move(options)) {
    if (options_.delimiter == '"' || options_.delimiter == '\n' || options_.delimiter == '\r')
      throw std::invalid_argument("sluice::files::csv_sink: the delimiter cannot be a quote, CR or LF");
    if constexpr (sink_impl::csv_writable_v<Row>)
      if (options_.header) header_ = sink_impl::csv_header_line<Row>(options_);
  }

  static constexpr bool supports(output_mode_kind mode) { return mode == output_mode_kind::append; }
  void start(const sink_context&) { core_.start(); }
  void add_batch(std::int64_t batch_id, std::span<const Row> rows) {
    if constexpr (sink_impl::csv_writable_v<Row>) {  // else bind() has already said why not
      core_.write_batch(batch_id, rows.size(), header_, [&](std::string& out, std::size_t i) {
        sink_impl::append_csv_row(out, rows[i], options_);
      });
    }
  }
  std::string description() const { return core_.description(); }
  const std::filesystem::path& directory() const { return core_.directory(); }

 private:
  sink_impl::sink_core core_;
  csv_sink_options options_;
  std::string header_;
};

struct json_lines_sink_t {
  using is_sink_descriptor = void;
  std::filesystem::path dir;
  json_lines_sink_options options;
  template <class Row>
  auto bind() && {
    return json_lines_file_sink<Row>(std::move(dir), options);
  }
};

struct csv_sink_t {
  using is_sink_descriptor = void;
  std::filesystem::path dir;
  csv_sink_options options;
  // (auto: the assertions below are the first error, at the `|`.)
  template <class Row>
  auto bind() && {
    static_assert(!sink_impl::csv_has_struct_v<Row>,
                  "sluice::files::csv_sink: CSV cannot hold struct columns such as window; flatten them with "
                  "sl::select (e.g. sl::expr<\"window_start\">([](const auto& r) { return "
                  "sl::get<\"window\">(r).start; })) or write JSON lines");
    static_assert(!sink_impl::csv_has_array_v<Row>,
                  "sluice::files::csv_sink: CSV cannot hold array columns (std::vector); flatten them with "
                  "sl::flat_map or write JSON lines");
    static_assert(sink_impl::csv_writable_v<Row>,
                  "sluice::files::csv_sink: unsupported column type (CSV holds numbers, bool, std::string, "
                  "sl::timestamp and std::optional of them)");
    return csv_file_sink<Row>(std::move(dir), std::move(options));
  }
};

// Writes each batch as JSON lines files in `dir` (see the top of this header).
inline json_lines_sink_t json_lines_sink(std::filesystem::path dir, json_lines_sink_options options = {}) {
  return {std::move(dir), options};
}
// Writes each batch as CSV files in `dir` (see the top of this header).
inline csv_sink_t csv_sink(std::filesystem::path dir, csv_sink_options options = {}) {
  return {std::move(dir), std::move(options)};
}

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

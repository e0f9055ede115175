// Delta Lake log actions (PROTOCOL.md of delta-io/delta, "Actions"): the C++ structs for
// protocol, metaData, add, remove, txn and commitInfo, parsed from and written to the
// newline-delimited JSON of a commit file `_delta_log/<20-digit version>.json`, one action
// per line, with the protocol's field names. Parse errors name the log file and the line.
#pragma once
#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "../checkpoint/file_io.hpp"
#include "../codec/json.hpp"

namespace sluice::delta {

// Anything wrong with a Delta table or its log; what() names the file (and line or field).
class delta_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// {"protocol":{"minReaderVersion":1,"minWriterVersion":2}}; reader/writer features only
// with reader version 3 / writer version 7.
struct protocol_action {
  std::int32_t min_reader_version = 1;
  std::int32_t min_writer_version = 2;
  std::optional<std::vector<std::string>> reader_features;
  std::optional<std::vector<std::string>> writer_features;
  friend bool operator==(const protocol_action&, const protocol_action&) = default;
};

struct format_spec {
  std::string provider = "parquet";
  std::map<std::string, std::string> options;
  friend bool operator==(const format_spec&, const format_spec&) = default;
};

// {"metaData":{...}}: the table's schema (Spark StructType JSON as a string), partition
// columns and configuration. The latest one in the log is the table's.
struct metadata_action {
  std::string id;  // a GUID, fixed for the table's life
  std::optional<std::string> name;
  std::optional<std::string> description;
  format_spec format;
  std::string schema_string;
  std::vector<std::string> partition_columns;
  std::map<std::string, std::string> configuration;
  std::optional<std::int64_t> created_time;  // ms since the epoch
  friend bool operator==(const metadata_action&, const metadata_action&) = default;
};

// Partition column -> value as a string; null (std::nullopt) for a null partition value.
using partition_values_map = std::map<std::string, std::optional<std::string>>;

// {"add":{...}}: a data file that is part of the table from this version on. `path` is a
// URI relative to the table root (percent-encoded: see file_path_of).
struct add_action {
  std::string path;
  partition_values_map partition_values;
  std::int64_t size = 0;
  std::int64_t modification_time = 0;  // ms since the epoch
  bool data_change = true;
  std::optional<std::string> stats;  // JSON text: numRecords, minValues, maxValues, nullCount
  std::optional<std::map<std::string, std::string>> tags;
  std::optional<boost::json::object> deletion_vector;  // unsupported by our reader: refused
  std::optional<std::int64_t> base_row_id;
  std::optional<std::int64_t> default_row_commit_version;
  friend bool operator==(const add_action&, const add_action&) = default;
};

// {"remove":{...}}: the file at `path` is no longer part of the table from this version on.
struct remove_action {
  std::string path;
  std::optional<std::int64_t> deletion_timestamp;  // ms since the epoch
  bool data_change = true;
  std::optional<bool> extended_file_metadata;
  std::optional<partition_values_map> partition_values;
  std::optional<std::int64_t> size;
  std::optional<std::string> stats;
  std::optional<std::map<std::string, std::string>> tags;
  std::optional<boost::json::object> deletion_vector;
  friend bool operator==(const remove_action&, const remove_action&) = default;
};

// {"txn":{"appId":...,"version":...}}: the latest version an application (for a streaming
// sink: the query id; version = batch id) committed. This is what makes the sink exactly-once.
struct txn_action {
  std::string app_id;
  std::int64_t version = 0;
  std::optional<std::int64_t> last_updated;  // ms since the epoch
  friend bool operator==(const txn_action&, const txn_action&) = default;
};

// {"commitInfo":{...}}: free-form provenance (operation, timestamp, engineInfo ...).
struct commit_info_action {
  boost::json::object fields;
  friend bool operator==(const commit_info_action&, const commit_info_action&) = default;
};

// Any other action (cdc, domainMetadata, checkpointMetadata, sidecar ...), kept verbatim so a
// commit round-trips; the snapshot ignores them.
struct other_action {
  std::string key;
  boost::json::value value;
  friend bool operator==(const other_action&, const other_action&) = default;
};

using action =
    std::variant<protocol_action, metadata_action, add_action, remove_action, txn_action, commit_info_action, other_action>;

// The `stats` JSON of an add action.
struct file_stats {
  std::int64_t num_records = 0;
  boost::json::object min_values;
  boost::json::object max_values;
  boost::json::object null_count;
};

namespace detail {
// Reads fields of one action object; errors carry "<where>: <action>.<field>: ...".
class field_reader {
 public:
  field_reader(const boost::json::object& obj, std::string where, std::string action)
      : obj_(obj), where_(std::move(where)), action_(std::move(action)) {}

  [[noreturn]] void fail(std::string_view field, const std::string& message) const {
    throw delta_error(where_ + ": " + action_ + (field.empty() ? "" : "." + std::string(field)) + ": " + message);
  }
  const boost::json::value* find(std::string_view field) const {
    const auto* v = obj_.if_contains(field);
    return v && !v->is_null() ? v : nullptr;
  }
  const boost::json::value& need(std::string_view field) const {
    const auto* v = find(field);
    if (!v) fail(field, "missing required field");
    return *v;
  }
  std::string string(std::string_view field) const { return as_string(need(field), field); }
  std::optional<std::string> opt_string(std::string_view field) const {
    const auto* v = find(field);
    return v ? std::optional(as_string(*v, field)) : std::nullopt;
  }
  std::int64_t int64(std::string_view field) const { return as_int64(need(field), field); }
  std::optional<std::int64_t> opt_int64(std::string_view field) const {
    const auto* v = find(field);
    return v ? std::optional(as_int64(*v, field)) : std::nullopt;
  }
  bool boolean(std::string_view field) const {
    const auto& v = need(field);
    if (!v.is_bool()) fail(field, std::string("expected a boolean, got ") + sluice::detail::json_kind_name(v));
    return v.get_bool();
  }
  std::optional<bool> opt_boolean(std::string_view field) const {
    if (!find(field)) return std::nullopt;
    return boolean(field);
  }
  const boost::json::object& object(std::string_view field) const { return as_object(need(field), field); }
  std::optional<boost::json::object> opt_object(std::string_view field) const {
    const auto* v = find(field);
    return v ? std::optional(as_object(*v, field)) : std::nullopt;
  }
  std::vector<std::string> strings(std::string_view field) const { return as_strings(need(field), field); }
  std::optional<std::vector<std::string>> opt_strings(std::string_view field) const {
    const auto* v = find(field);
    return v ? std::optional(as_strings(*v, field)) : std::nullopt;
  }
  std::map<std::string, std::string> string_map(std::string_view field) const {
    std::map<std::string, std::string> out;
    const auto* v = find(field);
    if (!v) return out;
    for (const auto& [k, e] : as_object(*v, field)) {
      if (e.is_null()) continue;  // Spark writes a null configuration value as absent
      out.emplace(std::string(k), as_string(e, std::string(field) + "." + std::string(k)));
    }
    return out;
  }
  std::optional<std::map<std::string, std::string>> opt_string_map(std::string_view field) const {
    if (!find(field)) return std::nullopt;
    return string_map(field);
  }
  partition_values_map partition_values(std::string_view field) const {
    partition_values_map out;
    for (const auto& [k, e] : as_object(need(field), field)) {
      if (e.is_null()) out.emplace(std::string(k), std::nullopt);
      else out.emplace(std::string(k), as_string(e, std::string(field) + "." + std::string(k)));
    }
    return out;
  }

 private:
  std::string as_string(const boost::json::value& v, std::string_view field) const {
    if (!v.is_string()) fail(field, std::string("expected a string, got ") + sluice::detail::json_kind_name(v));
    return std::string(v.get_string());
  }
  std::int64_t as_int64(const boost::json::value& v, std::string_view field) const {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
      return static_cast<std::int64_t>(v.get_uint64());
    fail(field, std::string("expected an integer, got ") + sluice::detail::json_kind_name(v));
  }
  const boost::json::object& as_object(const boost::json::value& v, std::string_view field) const {
    if (!v.is_object()) fail(field, std::string("expected an object, got ") + sluice::detail::json_kind_name(v));
    return v.get_object();
  }
  std::vector<std::string> as_strings(const boost::json::value& v, std::string_view field) const {
    if (!v.is_array()) fail(field, std::string("expected an array, got ") + sluice::detail::json_kind_name(v));
    std::vector<std::string> out;
    for (const auto& e : v.get_array()) out.push_back(as_string(e, field));
    return out;
  }

  const boost::json::object& obj_;
  std::string where_;
  std::string action_;
};

inline boost::json::object string_map_json(const std::map<std::string, std::string>& m) {
  boost::json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}
inline boost::json::object partition_values_json(const partition_values_map& m) {
  boost::json::object o;
  for (const auto& [k, v] : m) {
    if (v) o[k] = *v;
    else o[k] = nullptr;
  }
  return o;
}
inline boost::json::array strings_json(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}
}  // namespace detail

// Parses one action object ({"add":{...}}). `where` names the place for errors ("file:line").
inline action parse_action(const boost::json::value& v, const std::string& where) {
  if (!v.is_object() || v.get_object().size() != 1)
    throw delta_error(where + ": an action must be a JSON object with exactly one key (add, remove, metaData ...)");
  const auto& [key_sv, body] = *v.get_object().begin();
  const std::string key(key_sv);
  if (!body.is_object()) throw delta_error(where + ": " + key + ": expected an object");
  const auto& obj = body.get_object();
  const detail::field_reader r(obj, where, key);
  if (key == "protocol") {
    protocol_action p;
    p.min_reader_version = static_cast<std::int32_t>(r.int64("minReaderVersion"));
    p.min_writer_version = static_cast<std::int32_t>(r.int64("minWriterVersion"));
    p.reader_features = r.opt_strings("readerFeatures");
    p.writer_features = r.opt_strings("writerFeatures");
    return p;
  }
  if (key == "metaData") {
    metadata_action m;
    m.id = r.string("id");
    m.name = r.opt_string("name");
    m.description = r.opt_string("description");
    if (const auto fmt = r.opt_object("format")) {
      const detail::field_reader f(*fmt, where, "metaData.format");
      m.format.provider = f.string("provider");
      m.format.options = f.string_map("options");
    }
    m.schema_string = r.string("schemaString");
    m.partition_columns = r.strings("partitionColumns");
    m.configuration = r.string_map("configuration");
    m.created_time = r.opt_int64("createdTime");
    return m;
  }
  if (key == "add") {
    add_action a;
    a.path = r.string("path");
    a.partition_values = r.partition_values("partitionValues");
    a.size = r.int64("size");
    a.modification_time = r.int64("modificationTime");
    a.data_change = r.boolean("dataChange");
    a.stats = r.opt_string("stats");
    a.tags = r.opt_string_map("tags");
    a.deletion_vector = r.opt_object("deletionVector");
    a.base_row_id = r.opt_int64("baseRowId");
    a.default_row_commit_version = r.opt_int64("defaultRowCommitVersion");
    return a;
  }
  if (key == "remove") {
    remove_action a;
    a.path = r.string("path");
    a.deletion_timestamp = r.opt_int64("deletionTimestamp");
    a.data_change = r.boolean("dataChange");
    a.extended_file_metadata = r.opt_boolean("extendedFileMetadata");
    if (r.find("partitionValues")) a.partition_values = r.partition_values("partitionValues");
    a.size = r.opt_int64("size");
    a.stats = r.opt_string("stats");
    a.tags = r.opt_string_map("tags");
    a.deletion_vector = r.opt_object("deletionVector");
    return a;
  }
  if (key == "txn") {
    txn_action t;
    t.app_id = r.string("appId");
    t.version = r.int64("version");
    t.last_updated = r.opt_int64("lastUpdated");
    return t;
  }
  if (key == "commitInfo") return commit_info_action{obj};
  return other_action{key, body};
}

// The JSON object of one action, with the protocol's field names; absent optionals are omitted.
inline boost::json::object action_json(const action& a) {
  return std::visit(
      [](const auto& x) -> boost::json::object {
        using A = std::decay_t<decltype(x)>;
        boost::json::object o;
        if constexpr (std::is_same_v<A, protocol_action>) {
          o["minReaderVersion"] = x.min_reader_version;
          o["minWriterVersion"] = x.min_writer_version;
          if (x.reader_features) o["readerFeatures"] = detail::strings_json(*x.reader_features);
          if (x.writer_features) o["writerFeatures"] = detail::strings_json(*x.writer_features);
          return {{"protocol", std::move(o)}};
        } else if constexpr (std::is_same_v<A, metadata_action>) {
          o["id"] = x.id;
          if (x.name) o["name"] = *x.name;
          if (x.description) o["description"] = *x.description;
          o["format"] = boost::json::object{{"provider", x.format.provider},
                                            {"options", detail::string_map_json(x.format.options)}};
          o["schemaString"] = x.schema_string;
          o["partitionColumns"] = detail::strings_json(x.partition_columns);
          o["configuration"] = detail::string_map_json(x.configuration);
          if (x.created_time) o["createdTime"] = *x.created_time;
          return {{"metaData", std::move(o)}};
        } else if constexpr (std::is_same_v<A, add_action>) {
          o["path"] = x.path;
          o["partitionValues"] = detail::partition_values_json(x.partition_values);
          o["size"] = x.size;
          o["modificationTime"] = x.modification_time;
          o["dataChange"] = x.data_change;
          if (x.stats) o["stats"] = *x.stats;
          if (x.tags) o["tags"] = detail::string_map_json(*x.tags);
          if (x.deletion_vector) o["deletionVector"] = *x.deletion_vector;
          if (x.base_row_id) o["baseRowId"] = *x.base_row_id;
          if (x.default_row_commit_version) o["defaultRowCommitVersion"] = *x.default_row_commit_version;
          return {{"add", std::move(o)}};
        } else if constexpr (std::is_same_v<A, remove_action>) {
          o["path"] = x.path;
          if (x.deletion_timestamp) o["deletionTimestamp"] = *x.deletion_timestamp;
          o["dataChange"] = x.data_change;
          if (x.extended_file_metadata) o["extendedFileMetadata"] = *x.extended_file_metadata;
          if (x.partition_values) o["partitionValues"] = detail::partition_values_json(*x.partition_values);
          if (x.size) o["size"] = *x.size;
          if (x.stats) o["stats"] = *x.stats;
          if (x.tags) o["tags"] = detail::string_map_json(*x.tags);
          if (x.deletion_vector) o["deletionVector"] = *x.deletion_vector;
          return {{"remove", std::move(o)}};
        } else if constexpr (std::is_same_v<A, txn_action>) {
          o["appId"] = x.app_id;
          o["version"] = x.version;
          if (x.last_updated) o["lastUpdated"] = *x.last_updated;
          return {{"txn", std::move(o)}};
        } else if constexpr (std::is_same_v<A, commit_info_action>) {
          return {{"commitInfo", x.fields}};
        } else {
          return {{x.key, x.value}};
        }
      },
      a);
}

// One action as one line of a commit file (no newline).
inline std::string to_json_line(const action& a) { return sluice::json_text(action_json(a)); }

// The text of a commit file: one action per line, each line ending in '\n'.
inline std::string commit_text(const std::vector<action>& actions) {
  std::string out;
  for (const auto& a : actions) {
    out += to_json_line(a);
    out += '\n';
  }
  return out;
}

// Parses the text of a commit file; `file` names it in errors ("<file>:<line>: ...").
// Blank lines are allowed (some writers end with an extra newline).
inline std::vector<action> parse_commit(std::string_view text, const std::string& file) {
  std::vector<action> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    const std::string where = file + ":" + std::to_string(line_no);
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    if (ec) throw delta_error(where + ": not valid JSON (" + ec.message() + ")");
    out.push_back(parse_action(v, where));
  }
  return out;
}

inline std::vector<action> read_commit_file(const std::filesystem::path& file) {
  std::string text;
  try {
    text = read_whole_file(file);
  } catch (const checkpoint_error&) {
    throw delta_error("cannot read Delta log file " + file.string());
  }
  return parse_commit(text, file.string());
}

// Parses an add action's stats JSON; `where` names the file for errors.
inline file_stats parse_stats(std::string_view stats_json, const std::string& where) {
  boost::system::error_code ec;
  auto v = boost::json::parse(stats_json, ec);
  if (ec || !v.is_object()) throw delta_error(where + ": add.stats is not a JSON object");
  const detail::field_reader r(v.get_object(), where, "add.stats");
  file_stats s;
  s.num_records = r.int64("numRecords");
  if (auto o = r.opt_object("minValues")) s.min_values = std::move(*o);
  if (auto o = r.opt_object("maxValues")) s.max_values = std::move(*o);
  if (auto o = r.opt_object("nullCount")) s.null_count = std::move(*o);
  return s;
}

inline std::string stats_json(const file_stats& s) {
  return sluice::json_text(boost::json::object{{"numRecords", s.num_records},
                                               {"minValues", s.min_values},
                                               {"maxValues", s.max_values},
                                               {"nullCount", s.null_count}});
}

// ---------------------------------------------------------------- paths and partition values
namespace detail {
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
inline std::string percent_decode(std::string_view s, std::string_view what) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      const int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) throw delta_error("bad percent escape in " + std::string(what) + " '" + std::string(s) + "'");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}
}  // namespace detail

// The file an add/remove path names, relative to the table root (or absolute): the path is
// a URI, so it is percent-decoded ("a%20b" -> "a b"; Hive's escape of a partition directory
// "x%3Ay" appears as "x%253Ay"). file:// URIs become local paths.
inline std::filesystem::path file_path_of(const std::filesystem::path& table, std::string_view uri) {
  if (uri.starts_with("file://")) return detail::percent_decode(uri.substr(7), "file URI");
  if (uri.starts_with("file:")) return detail::percent_decode(uri.substr(5), "file URI");
  if (uri.find("://") != std::string_view::npos)
    throw delta_error("data file '" + std::string(uri) + "' of table " + table.string() +
                      " is not on the local file system");
  const std::string decoded = detail::percent_decode(uri, "data file path");
  if (!decoded.empty() && decoded.front() == '/') return decoded;
  return table / decoded;
}

// Hive-style escaping of a partition value in a directory name ("col=value"), as Spark's
// ExternalCatalogUtils.escapePathName: control characters and "\"#%'*/:=?\\\x7F{[]^" become
// %XX (upper-case hex). A null value is written as __HIVE_DEFAULT_PARTITION__.
inline std::string escape_partition_value(std::string_view v) {
  static constexpr std::string_view special = "\"#%'*/:=?\\\x7f{[]^";
  std::string out;
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || special.find(c) != std::string_view::npos) {
      static constexpr char hex[] = "0123456789ABCDEF";
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}
inline std::string unescape_partition_value(std::string_view v) {
  return detail::percent_decode(v, "partition directory");
}
inline constexpr std::string_view hive_default_partition = "__HIVE_DEFAULT_PARTITION__";

// Percent-encodes a relative file path for an add/remove action's `path` (a URI): characters
// outside RFC 3986's unreserved set and '/' are escaped, so "%" of a Hive escape becomes "%25".
inline std::string encode_file_uri(std::string_view relative_path) {
  std::string out;
  for (const char c : relative_path) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '_' || c == '.' || c == '~' || c == '/' || c == '=';
    if (plain) {
      out += c;
    } else {
      static constexpr char hex[] = "0123456789ABCDEF";
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

}  // namespace sluice::delta

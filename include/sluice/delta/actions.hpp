// Delta Lake log actions (PROTOCOL.md of delta-io/delta, "Actions"): the C++ structs for
// protocol, metaData, add, remove, txn and commitInfo, parsed from and written to the
// newline-delimited JSON of a commit file `_delta_log/<20-digit version>.json`, one action
// per line, with the protocol's field names. Parse errors name the log file and the line.
#pragma once
#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/mp11.hpp>
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
#include "../codec/error.hpp"
#include "../codec/json.hpp"

namespace sluice::delta {

// Anything wrong with a Delta table or its log; what() names the file (and line or field).
class delta_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The actions' JSON is generated from the structs below by the schema codec (codec/json.hpp):
// members are the protocol's field names in snake_case, an empty optional is left out (Delta
// readers refuse some nulls), and `action_key` is the action's key in the log line.
inline constexpr sluice::json_style action_json_style{.camel_case = true, .omit_nullopt = true};

// {"protocol":{"minReaderVersion":1,"minWriterVersion":2}}; reader/writer features only
// with reader version 3 / writer version 7.
struct protocol_action {
  std::int32_t min_reader_version = 1;
  std::int32_t min_writer_version = 2;
  std::optional<std::vector<std::string>> reader_features;
  std::optional<std::vector<std::string>> writer_features;
  static constexpr std::string_view action_key = "protocol";
  static constexpr sluice::json_style json_conventions = action_json_style;
  friend bool operator==(const protocol_action&, const protocol_action&) = default;
};
BOOST_DESCRIBE_STRUCT(protocol_action, (), (min_reader_version, min_writer_version, reader_features, writer_features))

struct format_spec {
  std::string provider = "parquet";
  std::map<std::string, std::string> options;
  static constexpr sluice::json_style json_conventions{.defaulted = "options"};
  friend bool operator==(const format_spec&, const format_spec&) = default;
};
BOOST_DESCRIBE_STRUCT(format_spec, (), (provider, options))

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
  static constexpr std::string_view action_key = "metaData";
  static constexpr sluice::json_style json_conventions{
      .camel_case = true, .omit_nullopt = true, .defaulted = "format configuration"};
  friend bool operator==(const metadata_action&, const metadata_action&) = default;
};
BOOST_DESCRIBE_STRUCT(metadata_action, (),
                      (id, name, description, format, schema_string, partition_columns, configuration, created_time))

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
  static constexpr std::string_view action_key = "add";
  static constexpr sluice::json_style json_conventions = action_json_style;
  friend bool operator==(const add_action&, const add_action&) = default;
};
BOOST_DESCRIBE_STRUCT(add_action, (),
                      (path, partition_values, size, modification_time, data_change, stats, tags, deletion_vector,
                       base_row_id, default_row_commit_version))

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
  static constexpr std::string_view action_key = "remove";
  static constexpr sluice::json_style json_conventions = action_json_style;
  friend bool operator==(const remove_action&, const remove_action&) = default;
};
BOOST_DESCRIBE_STRUCT(remove_action, (),
                      (path, deletion_timestamp, data_change, extended_file_metadata, partition_values, size, stats,
                       tags, deletion_vector))

// {"txn":{"appId":...,"version":...}}: the latest version an application (for a streaming
// sink: the query id; version = batch id) committed. This is what makes the sink exactly-once.
struct txn_action {
  std::string app_id;
  std::int64_t version = 0;
  std::optional<std::int64_t> last_updated;  // ms since the epoch
  static constexpr std::string_view action_key = "txn";
  static constexpr sluice::json_style json_conventions = action_json_style;
  friend bool operator==(const txn_action&, const txn_action&) = default;
};
BOOST_DESCRIBE_STRUCT(txn_action, (), (app_id, version, last_updated))

// {"commitInfo":{...}}: free-form provenance (operation, timestamp, engineInfo ...), kept as
// the object it is.
struct commit_info_action {
  boost::json::object fields;
  static constexpr std::string_view action_key = "commitInfo";
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
  static constexpr sluice::json_style json_conventions{.camel_case = true,
                                                       .defaulted = "min_values max_values null_count"};
};
BOOST_DESCRIBE_STRUCT(file_stats, (), (num_records, min_values, max_values, null_count))

// _delta_log/_last_checkpoint: the newest checkpoint (`size` actions in `parts` files).
struct last_checkpoint {
  std::int64_t version = 0;
  std::optional<std::int64_t> size;
  std::optional<std::int32_t> parts;  // absent: one file
  std::optional<std::int64_t> size_in_bytes;
  std::optional<std::int64_t> num_of_add_files;
  static constexpr sluice::json_style json_conventions = action_json_style;
};
BOOST_DESCRIBE_STRUCT(last_checkpoint, (), (version, size, parts, size_in_bytes, num_of_add_files))

namespace detail {
// Decodes `v` into T through the codec; a mismatch becomes "<where>: <root>.<field>: <what>".
template <class T>
T decode(const boost::json::value& v, const std::string& where, const std::string& root) {
  T out{};
  try {
    sluice::detail::from_json_into(v, out, sluice::detail::json_path(root));
  } catch (const schema_error& e) {
    throw delta_error(where + ": " + (e.path().empty() ? root : e.path()) + ": " + e.message());
  }
  return out;
}

// The actions with a described struct, found by their key.
using described_actions = boost::mp11::mp_list<protocol_action, metadata_action, add_action, remove_action, txn_action>;
}  // namespace detail

// Parses one action object ({"add":{...}}). `where` names the place for errors ("file:line").
inline action parse_action(const boost::json::value& v, const std::string& where) {
  if (!v.is_object() || v.get_object().size() != 1)
    throw delta_error(where + ": an action must be a JSON object with exactly one key (add, remove, metaData ...)");
  const auto& [key_sv, body] = *v.get_object().begin();
  const std::string key(key_sv);
  if (!body.is_object()) throw delta_error(where + ": " + key + ": expected an object");
  if (key == commit_info_action::action_key) return commit_info_action{body.get_object()};
  std::optional<action> out;
  boost::mp11::mp_for_each<boost::mp11::mp_transform<boost::mp11::mp_identity, detail::described_actions>>(
      [&](auto type) {
        using A = typename decltype(type)::type;
        if (!out && key == A::action_key) out.emplace(detail::decode<A>(body, where, key));
      });
  if (out) return std::move(*out);
  return other_action{key, body};
}

// The JSON object of one action, with the protocol's field names; absent optionals are omitted.
inline boost::json::object action_json(const action& a) {
  return std::visit(
      [](const auto& x) -> boost::json::object {
        using A = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<A, commit_info_action>) return {{A::action_key, x.fields}};
        else if constexpr (std::is_same_v<A, other_action>) return {{x.key, x.value}};
        else return {{A::action_key, sluice::to_json(x)}};
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
  return detail::decode<file_stats>(v, where, "add.stats");
}

inline std::string stats_json(const file_stats& s) { return sluice::to_json_string(s); }

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

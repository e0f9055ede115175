// The manifests of the file sinks: `<dir>/_sluice_metadata/<batch>` lists the data files that
// commit a batch (version line, then one JSON line per file), and the names of the sink's
// part files (sinks/files.hpp).
#pragma once
#include <boost/json.hpp>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../../checkpoint/file_io.hpp"

namespace sluice::files {

// An I/O or format error of a file sink or of the committed-output readers; what() names the
// file (and line, for a bad record).
class file_sink_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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
}  // namespace sink_impl
}  // namespace sluice::files

// The Delta log of a table, reconciled into a snapshot (PROTOCOL.md, "Action Reconciliation"):
// at a version, the table is the latest protocol and metaData, the latest txn version per
// appId, and the files added and not removed since. A snapshot is read from the newest
// checkpoint at or before the version (found through `_last_checkpoint`) plus the JSON
// commits after it.
#pragma once
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "actions.hpp"

namespace sluice::delta {

// ---------------------------------------------------------------- file names
inline std::filesystem::path log_dir(const std::filesystem::path& table) { return table / "_delta_log"; }

// 00000000000000000042.json
inline std::string commit_file_name(std::int64_t version) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld.json", static_cast<long long>(version));
  return buf;
}
// 00000000000000000040.checkpoint.parquet
inline std::string checkpoint_file_name(std::int64_t version) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%020lld.checkpoint.parquet", static_cast<long long>(version));
  return buf;
}
// 00000000000000000040.checkpoint.0000000001.0000000003.parquet (part 1 of 3)
inline std::string checkpoint_part_file_name(std::int64_t version, int part, int parts) {
  char buf[80];
  std::snprintf(buf, sizeof buf, "%020lld.checkpoint.%010d.%010d.parquet", static_cast<long long>(version), part, parts);
  return buf;
}
inline std::filesystem::path commit_path(const std::filesystem::path& table, std::int64_t version) {
  return log_dir(table) / commit_file_name(version);
}
inline std::filesystem::path last_checkpoint_path(const std::filesystem::path& table) {
  return log_dir(table) / "_last_checkpoint";
}

namespace detail {
// The version of "<20 digits><suffix>", or nullopt for any other name.
inline std::optional<std::int64_t> version_of(std::string_view name, std::string_view suffix) {
  if (name.size() != 20 + suffix.size() || !name.ends_with(suffix)) return std::nullopt;
  std::int64_t v = 0;
  const auto* end = name.data() + 20;
  const auto [p, ec] = std::from_chars(name.data(), end, v);
  if (ec != std::errc{} || p != end) return std::nullopt;
  return v;
}
}  // namespace detail

// The versions of the JSON commit files present in the log, ascending (empty: no table).
inline std::vector<std::int64_t> commit_versions(const std::filesystem::path& table) {
  std::vector<std::int64_t> out;
  std::error_code ec;
  const auto dir = log_dir(table);
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (auto v = detail::version_of(e.path().filename().string(), ".json")) out.push_back(*v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The newest version of the table, or nullopt when there is no table (no commit) at `table`.
inline std::optional<std::int64_t> latest_version(const std::filesystem::path& table) {
  const auto v = commit_versions(table);
  if (v.empty()) return std::nullopt;
  return v.back();
}

// The actions of one commit, in order.
inline std::vector<action> read_commit(const std::filesystem::path& table, std::int64_t version) {
  const auto p = commit_path(table, version);
  std::error_code ec;
  if (!std::filesystem::exists(p, ec))
    throw delta_error("Delta table " + table.string() + ": version " + std::to_string(version) + " has no commit file " +
                      p.string());
  return read_commit_file(p);
}

// ---------------------------------------------------------------- snapshot
// A table at one version, reconciled.
struct table_snapshot {
  std::filesystem::path table;
  std::int64_t version = -1;
  protocol_action protocol;
  metadata_action metadata;
  // The live data files, keyed by their decoded path (relative to the table root as the
  // log spells it, percent-decoded), in path order.
  std::map<std::string, add_action> files;
  // Files removed and not re-added, kept so that a checkpoint can carry them as tombstones.
  std::map<std::string, remove_action> tombstones;
  // The latest txn version of each application id (a streaming sink's query id -> batch id).
  std::map<std::string, std::int64_t> app_versions;
  std::map<std::string, std::int64_t> app_last_updated;
  // Which checkpoint the snapshot started from (nullopt: replayed from version 0).
  std::optional<std::int64_t> checkpoint_version;

  // The latest version the application `app_id` committed (txn), if any.
  std::optional<std::int64_t> txn_version(std::string_view app_id) const {
    const auto it = app_versions.find(std::string(app_id));
    if (it == app_versions.end()) return std::nullopt;
    return it->second;
  }
  std::int64_t num_records() const {
    std::int64_t n = 0;
    for (const auto& [p, a] : files) {
      if (!a.stats) return -1;
      n += parse_stats(*a.stats, p).num_records;
    }
    return n;
  }
  // The live files' add actions, in path order.
  std::vector<add_action> live_files() const {
    std::vector<add_action> out;
    out.reserve(files.size());
    for (const auto& [p, a] : files) out.push_back(a);
    return out;
  }
  // Throws unless our reader can read the table's data: reader version 1, or 3 with only
  // features that do not change how data files are read.
  void check_readable() const {
    const auto where = "Delta table " + table.string() + " (version " + std::to_string(version) + ")";
    if (protocol.min_reader_version == 1) return;
    if (protocol.min_reader_version == 2)
      throw delta_error(where + " needs reader version 2 (column mapping), which sluice does not read");
    if (protocol.min_reader_version == 3) {
      for (const auto& f : protocol.reader_features.value_or(std::vector<std::string>{})) {
        if (f != "timestampNtz" && f != "vacuumProtocolCheck")
          throw delta_error(where + " needs the reader feature '" + f + "', which sluice does not support");
      }
      return;
    }
    throw delta_error(where + " needs reader version " + std::to_string(protocol.min_reader_version) +
                      "; sluice reads versions 1 and 3");
  }
};

// Applies one commit's actions to a snapshot (the protocol's reconciliation: newest
// protocol/metaData win, txn per appId, add/remove by path), and sets its version.
inline void apply_commit(table_snapshot& s, std::int64_t version, const std::vector<action>& actions,
                         bool* saw_metadata = nullptr, bool* saw_protocol = nullptr) {
  for (const auto& a : actions) {
    if (const auto* add = std::get_if<add_action>(&a)) {
      auto key = detail::percent_decode(add->path, "add.path");
      s.tombstones.erase(key);
      s.files.insert_or_assign(std::move(key), *add);
    } else if (const auto* rm = std::get_if<remove_action>(&a)) {
      auto key = detail::percent_decode(rm->path, "remove.path");
      s.files.erase(key);
      s.tombstones.insert_or_assign(std::move(key), *rm);
    } else if (const auto* txn = std::get_if<txn_action>(&a)) {
      s.app_versions[txn->app_id] = txn->version;
      if (txn->last_updated) s.app_last_updated[txn->app_id] = *txn->last_updated;
    } else if (const auto* m = std::get_if<metadata_action>(&a)) {
      s.metadata = *m;
      if (saw_metadata) *saw_metadata = true;
    } else if (const auto* p = std::get_if<protocol_action>(&a)) {
      s.protocol = *p;
      if (saw_protocol) *saw_protocol = true;
    }
  }
  s.version = version;
}

namespace detail {
// Hook for the checkpoint reader (checkpoint_read.hpp): fills `s` from the newest checkpoint
// at or before `version` and returns true, or returns false when there is none.
inline bool load_checkpoint_into(table_snapshot& s, std::int64_t version);
}  // namespace detail

// Replays commits (after - 1, to] onto `s`; every version in between must exist.
inline void replay_commits(table_snapshot& s, std::int64_t to, bool* saw_metadata = nullptr,
                           bool* saw_protocol = nullptr) {
  for (std::int64_t v = s.version + 1; v <= to; ++v) apply_commit(s, v, read_commit(s.table, v), saw_metadata, saw_protocol);
}

// The table at `version` (default: the latest). Throws delta_error naming the table when it
// does not exist, the version is not there, or the log is inconsistent.
inline table_snapshot load_snapshot(const std::filesystem::path& table, std::optional<std::int64_t> version = {}) {
  const auto versions = commit_versions(table);
  if (versions.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(last_checkpoint_path(table), ec))
      throw delta_error("no Delta table at " + table.string() + " (no commit in " + log_dir(table).string() + ")");
  }
  const std::int64_t latest = versions.empty() ? -1 : versions.back();
  const std::int64_t target = version.value_or(latest);
  if (target < 0 || (version && *version > latest))
    throw delta_error("Delta table " + table.string() + " has no version " + std::to_string(target) +
                      " (latest is " + std::to_string(latest) + ")");
  table_snapshot s;
  s.table = table;
  bool saw_metadata = false, saw_protocol = false;
  if (detail::load_checkpoint_into(s, target)) {
    saw_metadata = saw_protocol = true;
  } else if (versions.empty() || versions.front() != 0) {
    throw delta_error("Delta table " + table.string() + ": commits before version " +
                      std::to_string(versions.empty() ? 0 : versions.front()) +
                      " are gone and there is no checkpoint to start from");
  }
  replay_commits(s, target, &saw_metadata, &saw_protocol);
  if (!saw_metadata) throw delta_error("Delta table " + table.string() + ": the log has no metaData action");
  if (!saw_protocol) throw delta_error("Delta table " + table.string() + ": the log has no protocol action");
  return s;
}

// Brings a snapshot forward to `version` (default: the latest) by replaying later commits.
inline void update_snapshot(table_snapshot& s, std::optional<std::int64_t> version = {}) {
  const auto target = version ? *version : latest_version(s.table).value_or(s.version);
  if (target < s.version)
    throw delta_error("Delta table " + s.table.string() + ": cannot move a snapshot back from version " +
                      std::to_string(s.version) + " to " + std::to_string(target));
  replay_commits(s, target);
}

}  // namespace sluice::delta

#include "checkpoint_read.hpp"

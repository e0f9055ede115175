// Versioned state of stateful operators in a checkpoint: state/<op>/<version>.delta after every
// batch, and state/<op>/<version>.snapshot every `snapshot_interval` versions. Version V (the
// state after batch V) loads from the newest snapshot at or before V plus the deltas after it,
// so batch V+1 can run again from exactly the state it first ran from.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "../pipeline.hpp"
#include "checkpoint.hpp"
#include "file_io.hpp"
#include "serialize.hpp"

namespace sluice::detail {

inline std::filesystem::path state_file(const checkpoint_dir& dir, std::size_t op, std::int64_t version,
                                        const char* kind) {
  return dir.state_dir(op) / (std::to_string(version) + "." + kind);
}

// Versions of one kind ("delta" or "snapshot") present for an operator, ascending.
inline std::vector<std::int64_t> state_versions(const checkpoint_dir& dir, std::size_t op, const std::string& kind) {
  std::vector<std::int64_t> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir.state_dir(op), ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir.state_dir(op))) {
    const auto name = e.path().filename().string();
    const auto dot = name.find('.');
    if (dot == std::string::npos || dot == 0 || name.substr(dot + 1) != kind) continue;
    const auto stem = name.substr(0, dot);
    if (!std::all_of(stem.begin(), stem.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    out.push_back(std::stoll(stem));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Writes the state after batch `version`. A re-run of an uncommitted batch rewrites its files
// (the commit log, not these files, says which versions count).
inline void save_state(const checkpoint_dir& dir, std::size_t op, std::int64_t version, const stateful_control& st,
                       std::int64_t snapshot_interval) {
  binary_writer delta;
  st.write_delta(delta);
  write_file_atomically(state_file(dir, op, version, "delta"), delta.buffer(), /*overwrite=*/true);
  if (snapshot_interval > 0 && (version + 1) % snapshot_interval == 0) {
    binary_writer snap;
    st.write_snapshot(snap);
    write_file_atomically(state_file(dir, op, version, "snapshot"), snap.buffer(), /*overwrite=*/true);
  }
}

inline void load_state(const checkpoint_dir& dir, std::size_t op, std::int64_t version, stateful_control& st) {
  std::int64_t from = 0;
  const auto snapshots = state_versions(dir, op, "snapshot");
  std::optional<std::int64_t> base;
  for (auto v : snapshots)
    if (v <= version) base = v;
  if (base) {
    const auto path = state_file(dir, op, *base, "snapshot");
    const auto bytes = read_whole_file(path);
    binary_reader in(bytes, path.string());
    st.load_snapshot(in);
    if (!in.at_end()) in.fail("trailing bytes after the snapshot");
    from = *base + 1;
  } else {
    binary_writer empty;
    empty.write_size(0);
    binary_reader in(empty.buffer(), "empty state");
    st.load_snapshot(in);
  }
  for (std::int64_t v = from; v <= version; ++v) {
    const auto path = state_file(dir, op, v, "delta");
    if (!std::filesystem::exists(path))
      throw checkpoint_error(path.string() + ": missing; the state of batch " + std::to_string(version) +
                             " cannot be rebuilt");
    const auto bytes = read_whole_file(path);
    binary_reader in(bytes, path.string());
    st.apply_delta(in);
    if (!in.at_end()) in.fail("trailing bytes after the delta");
  }
}

// Drops state files no longer needed to rebuild any version >= keep_from.
inline void purge_state(const checkpoint_dir& dir, std::size_t op, std::int64_t keep_from) {
  std::optional<std::int64_t> base;
  for (auto v : state_versions(dir, op, "snapshot"))
    if (v < keep_from) base = v;
  if (!base) return;
  for (const char* kind : {"delta", "snapshot"})
    for (auto v : state_versions(dir, op, kind))
      if (v < *base || (v == *base && std::string(kind) == "delta")) std::filesystem::remove(state_file(dir, op, v, kind));
}

}  // namespace sluice::detail

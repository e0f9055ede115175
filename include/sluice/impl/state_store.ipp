// Definitions of checkpoint/state_store.hpp's functions (see impl/config.hpp).
#pragma once
#include <algorithm>
#include <system_error>

#include "../checkpoint/state_store.hpp"

namespace sluice::detail {

std::filesystem::path state_file(const checkpoint_dir& dir, std::size_t op, std::int64_t version, const char* kind) {
  return dir.state_dir(op) / (std::to_string(version) + "." + kind);
}

std::vector<std::int64_t> state_versions(const checkpoint_dir& dir, std::size_t op, const std::string& kind) {
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

void save_state(const checkpoint_dir& dir, std::size_t op, std::int64_t version, const stored_state& st,
                std::int64_t snapshot_interval) {
  if (const auto schema = dir.state_schema_path(op); !std::filesystem::exists(schema)) {
    const auto layout = st.state_layout();
    if (!layout.empty()) {
      write_checkpoint_file(schema, boost::json::serialize(layout) + "\n", dir.query_id(), /*overwrite=*/true);
    }
  }
  binary_writer delta;
  st.write_delta(delta);
  write_checkpoint_file(state_file(dir, op, version, "delta"), delta.buffer(), dir.query_id(), /*overwrite=*/true);
  if (snapshot_interval > 0 && (version + 1) % snapshot_interval == 0) {
    binary_writer snap;
    st.write_snapshot(snap);
    write_checkpoint_file(state_file(dir, op, version, "snapshot"), snap.buffer(), dir.query_id(), /*overwrite=*/true);
  }
}

void load_state(const checkpoint_dir& dir, std::size_t op, std::int64_t version, stored_state& st) {
  std::int64_t from = 0;
  const auto snapshots = state_versions(dir, op, "snapshot");
  std::optional<std::int64_t> base;
  for (auto v : snapshots)
    if (v <= version) base = v;
  if (base) {
    const auto path = state_file(dir, op, *base, "snapshot");
    const auto bytes = read_checkpoint_file(path, dir.query_id());
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
    const auto bytes = read_checkpoint_file(path, dir.query_id());
    binary_reader in(bytes, path.string());
    st.apply_delta(in);
    if (!in.at_end()) in.fail("trailing bytes after the delta");
  }
}

void purge_state(const checkpoint_dir& dir, std::size_t op, std::int64_t keep_from) {
  std::optional<std::int64_t> base;
  for (auto v : state_versions(dir, op, "snapshot"))
    if (v < keep_from) base = v;
  if (!base) return;
  for (const char* kind : {"delta", "snapshot"})
    for (auto v : state_versions(dir, op, kind))
      if (v < *base || (v == *base && std::string(kind) == "delta")) std::filesystem::remove(state_file(dir, op, v, kind));
}

}  // namespace sluice::detail

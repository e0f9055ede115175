// Definitions of checkpoint/state_store.hpp's functions (see impl/config.hpp).
#pragma once
#include <algorithm>
#include <system_error>

#include "../checkpoint/state_store.hpp"

namespace sluice::detail {

inline bool state_name_is_number(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::filesystem::path state_file(const checkpoint_dir& dir, std::size_t op, std::int64_t version, const char* kind) {
  return dir.state_dir(op) / (std::to_string(version) + "." + kind);
}

std::filesystem::path state_partition_dir(const checkpoint_dir& dir, std::size_t op, std::size_t partition) {
  return dir.state_dir(op) / std::to_string(partition);
}

std::vector<std::int64_t> state_versions_in(const std::filesystem::path& directory, const std::string& kind) {
  std::vector<std::int64_t> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(directory)) {
    const auto name = e.path().filename().string();
    const auto dot = name.find('.');
    if (dot == std::string::npos || dot == 0 || name.substr(dot + 1) != kind) continue;
    const auto stem = name.substr(0, dot);
    if (!state_name_is_number(stem)) continue;
    out.push_back(std::stoll(stem));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::int64_t> state_versions(const checkpoint_dir& dir, std::size_t op, const std::string& kind) {
  return state_versions_in(dir.state_dir(op), kind);
}

std::vector<std::size_t> state_partition_dirs(const checkpoint_dir& dir, std::size_t op) {
  std::vector<std::size_t> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir.state_dir(op), ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir.state_dir(op))) {
    const auto name = e.path().filename().string();
    if (e.is_directory() && state_name_is_number(name)) out.push_back(static_cast<std::size_t>(std::stoull(name)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::vector<state_partition_files>> recorded_state_files(const checkpoint_dir& dir, std::size_t op,
                                                                             std::int64_t version) {
  if (version < 0 || !std::filesystem::exists(dir.commits_path(version))) return std::nullopt;
  auto entry = dir.read_commit(version);
  if (op >= entry.state_files.size()) return std::nullopt;
  return std::move(entry.state_files[op]);
}

// The newest version in (base, version] whose delta of partition p is missing although its
// commit counts one more delta than the previous version's (or than the base, none); nullopt
// when none is, or when a commit needed to tell is gone (purged) or has no record.
inline std::optional<std::int64_t> lost_state_delta(const checkpoint_dir& dir, std::size_t op, std::size_t p,
                                                    std::int64_t base, std::int64_t version) {
  auto deltas_at = [&](std::int64_t v) -> std::optional<std::int64_t> {
    if (v == base) return 0;
    const auto r = recorded_state_files(dir, op, v);
    if (!r || p >= r->size() || (*r)[p].snapshot != base) return std::nullopt;
    return (*r)[p].deltas;
  };
  auto after = deltas_at(version);
  for (std::int64_t v = version; v > base && after; --v) {
    const auto before = deltas_at(v - 1);
    if (before && *after == *before + 1 &&
        !std::filesystem::exists(state_partition_dir(dir, op, p) / (std::to_string(v) + ".delta")))
      return v;
    after = before;
  }
  return std::nullopt;
}

std::vector<state_chain> state_chains(const checkpoint_dir& dir, std::size_t op, std::int64_t version) {
  if (const auto recorded = recorded_state_files(dir, op, version)) {
    // Partitions write deltas only for the batches that changed them: the commit says how many
    // follow each base snapshot, and any other count is a lost (or stray) file.
    std::vector<state_chain> out;
    for (std::size_t p = 0; p < recorded->size(); ++p) {
      const auto& f = (*recorded)[p];
      const auto d = state_partition_dir(dir, op, p);
      state_chain c{p, d, std::nullopt, {}};
      if (f.snapshot >= 0) {
        auto path = d / (std::to_string(f.snapshot) + ".snapshot");
        if (!std::filesystem::exists(path))
          throw checkpoint_error(path.string() + ": missing; commits/" + std::to_string(version) +
                                 " records it as the base of state partition " + std::to_string(p));
        c.snapshot = std::move(path);
      }
      for (auto v : state_versions_in(d, "delta"))
        if (v > f.snapshot && v <= version) c.deltas.push_back(d / (std::to_string(v) + ".delta"));
      if (static_cast<std::int64_t>(c.deltas.size()) != f.deltas) {
        std::string lost;  // the missing delta, when the commits since the base tell which
        if (const auto v = lost_state_delta(dir, op, p, f.snapshot, version))
          lost = (d / (std::to_string(*v) + ".delta")).string() + ": missing, and commits/" + std::to_string(*v) +
                 " counts it; ";
        throw checkpoint_error(lost + d.string() + ": " + std::to_string(c.deltas.size()) + " deltas after " +
                               (f.snapshot >= 0 ? "snapshot " + std::to_string(f.snapshot) : std::string("the start")) +
                               " up to version " + std::to_string(version) + ", where commits/" + std::to_string(version) +
                               " records " + std::to_string(f.deltas) + ": a state file of a committed batch is missing");
      }
      out.push_back(std::move(c));
    }
    return out;
  }
  auto base_in = [&](const std::filesystem::path& d) {
    std::optional<std::int64_t> base;
    for (auto v : state_versions_in(d, "snapshot"))
      if (v <= version) base = v;
    return base;
  };
  auto chain_in = [&](const std::filesystem::path& d, std::optional<std::size_t> partition) {
    state_chain c{partition, d, std::nullopt, {}};
    std::int64_t from = 0;
    if (const auto base = base_in(d)) {
      c.snapshot = d / (std::to_string(*base) + ".snapshot");
      from = *base + 1;
    }
    for (std::int64_t v = from; v <= version; ++v) {
      auto path = d / (std::to_string(v) + ".delta");
      if (!std::filesystem::exists(path))
        throw checkpoint_error(path.string() + ": missing; the state of batch " + std::to_string(version) +
                               " cannot be rebuilt (purged: older than the retained batches?)");
      c.deltas.push_back(std::move(path));
    }
    return c;
  };
  const auto partitions = state_partition_dirs(dir, op);
  if (!partitions.empty()) {
    // A state restored from the whole layout wrote a snapshot of every partition in its next
    // batch: versions before that one are in the whole layout still.
    bool any_base = false;
    for (auto p : partitions) any_base |= base_in(state_partition_dir(dir, op, p)).has_value();
    const bool whole = !state_versions(dir, op, "delta").empty() || !state_versions(dir, op, "snapshot").empty();
    if (any_base || !whole) {
      std::vector<state_chain> out;
      for (auto p : partitions) out.push_back(chain_in(state_partition_dir(dir, op, p), p));
      return out;
    }
  }
  return {chain_in(dir.state_dir(op), std::nullopt)};
}

void save_state(const checkpoint_dir& dir, std::size_t op, std::int64_t version, stored_state& st,
                std::int64_t snapshot_interval, const for_each_partition& each) {
  if (const auto schema = dir.state_schema_path(op); !std::filesystem::exists(schema)) {
    const auto layout = st.state_layout();
    if (!layout.empty()) {
      write_checkpoint_file(schema, boost::json::serialize(layout) + "\n", dir.query_id(), /*overwrite=*/true);
    }
  }
  const bool snapshot_now = snapshot_interval > 0 && (version + 1) % snapshot_interval == 0;
  const std::size_t partitions = st.state_partitions();
  if (partitions == 0) {
    binary_writer delta;
    st.write_delta(delta);
    write_checkpoint_file(state_file(dir, op, version, "delta"), delta.buffer(), dir.query_id(), /*overwrite=*/true);
    if (snapshot_now) {
      binary_writer snap;
      st.write_snapshot(snap);
      write_checkpoint_file(state_file(dir, op, version, "snapshot"), snap.buffer(), dir.query_id(), /*overwrite=*/true);
    }
    return;
  }
  // A partition the batch did not change writes no delta (the commit records how many each
  // has: state_partition_files), nor a snapshot while its files are one already. Partitions
  // may be written at once (each touches only its own entry of `files`).
  auto& files = st.partition_files;
  if (files.size() != partitions) files.assign(partitions, {});
  const auto write_partition = [&](std::size_t p) {
    const auto d = state_partition_dir(dir, op, p);
    const auto name = std::to_string(version);
    const bool changed = st.full_snapshot_due || !st.partition_unchanged(p);
    if (changed) {
      binary_writer delta;
      st.write_partition_delta(p, delta);
      write_checkpoint_file(d / (name + ".delta"), delta.buffer(), dir.query_id(), /*overwrite=*/true);
      ++files[p].deltas;
    } else {
      // A delta an earlier run of this uncommitted batch left (a re-run changes the same
      // partitions, so there is none unless the batch ran otherwise): not counted, so gone.
      std::error_code ec;
      std::filesystem::remove(d / (name + ".delta"), ec);
    }
    if ((snapshot_now && files[p].deltas > 0) || st.full_snapshot_due) {
      binary_writer snap;
      st.write_partition_snapshot(p, snap);
      write_checkpoint_file(d / (name + ".snapshot"), snap.buffer(), dir.query_id(), /*overwrite=*/true);
      files[p] = {version, 0};
    }
  };
  if (each) {
    each(partitions, write_partition);
  } else {
    for (std::size_t p = 0; p < partitions; ++p) write_partition(p);
  }
  st.full_snapshot_due = false;
}

void load_state(const checkpoint_dir& dir, std::size_t op, std::int64_t version, stored_state& st) {
  const auto chains = state_chains(dir, op, version);
  const bool whole = chains.size() == 1 && !chains.front().partition;
  st.full_snapshot_due = false;
  st.partition_files.clear();
  if (!whole) st.reset_partitions(chains.size());
  for (std::size_t i = 0; i < chains.size(); ++i) {
    const auto& c = chains[i];
    if (c.partition && *c.partition != i)
      throw checkpoint_error(c.directory.string() + ": state partition " + std::to_string(*c.partition) +
                             " where partition " + std::to_string(i) + " was expected (a partition's directory is missing)");
    auto load_snapshot = [&](binary_reader& in) {
      if (whole) st.load_snapshot(in);
      else st.load_partition_snapshot(i, in);
    };
    if (c.snapshot) {
      const auto bytes = read_checkpoint_file(*c.snapshot, dir.query_id());
      binary_reader in(bytes, c.snapshot->string());
      load_snapshot(in);
      if (!in.at_end()) in.fail("trailing bytes after the snapshot");
    } else {
      binary_writer empty;
      empty.write_size(0);
      binary_reader in(empty.buffer(), "empty state");
      load_snapshot(in);
    }
    for (const auto& path : c.deltas) {
      const auto bytes = read_checkpoint_file(path, dir.query_id());
      binary_reader in(bytes, path.string());
      if (whole) st.apply_delta(in);
      else st.apply_partition_delta(i, in);
      if (!in.at_end()) in.fail("trailing bytes after the delta");
    }
    if (!whole) {
      std::int64_t base = -1;
      if (c.snapshot) base = std::stoll(c.snapshot->filename().string());
      st.partition_files.push_back({base, static_cast<std::int64_t>(c.deltas.size())});
    }
  }
  // A partitioned state restored from the whole layout: its partitions have no files yet. (Set
  // by the restore too when it moved groups to other partitions than the files had them in.)
  if (whole && st.state_partitions() > 0) st.full_snapshot_due = true;
}

std::optional<std::vector<state_partition_files>> committed_state_files(const stored_state& st) {
  if (st.state_partitions() == 0) return std::nullopt;
  return st.partition_files;
}

// In one state directory: the files no version >= keep_from needs (those before the newest
// snapshot older than keep_from); returns that snapshot's version.
inline std::optional<std::int64_t> purge_state_in(const std::filesystem::path& d, std::int64_t keep_from) {
  std::optional<std::int64_t> base;
  for (auto v : state_versions_in(d, "snapshot"))
    if (v < keep_from) base = v;
  if (!base) return base;
  for (const char* kind : {"delta", "snapshot"})
    for (auto v : state_versions_in(d, kind))
      if (v < *base || (v == *base && std::string(kind) == "delta"))
        std::filesystem::remove(d / (std::to_string(v) + "." + kind));
  return base;
}

void purge_state(const checkpoint_dir& dir, std::size_t op, std::int64_t keep_from) {
  const auto partitions = state_partition_dirs(dir, op);
  bool all_based = !partitions.empty();
  for (auto p : partitions) all_based &= purge_state_in(state_partition_dir(dir, op, p), keep_from).has_value();
  if (partitions.empty()) {
    purge_state_in(dir.state_dir(op), keep_from);
  } else if (all_based) {
    // Every version still kept rebuilds from the partitions: the whole layout's files go.
    for (const char* kind : {"delta", "snapshot"})
      for (auto v : state_versions(dir, op, kind)) std::filesystem::remove(state_file(dir, op, v, kind));
  }
}

}  // namespace sluice::detail

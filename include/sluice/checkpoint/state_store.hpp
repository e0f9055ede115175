// Versioned state of stateful operators in a checkpoint. A state kept in partitions by key
// hash (stored_state::state_partitions, Spark's layout) has state/<op>/<partition>/<v>.delta
// after every batch that changed the partition and state/<op>/<partition>/<v>.snapshot every
// `snapshot_interval` versions (if it changed since its last one), the batch's commit entry
// recording how many deltas follow each partition's snapshot; one kept whole has them in state/<op>/ itself (the layout of every state before
// partitions, still read: such a state restores into partitions, which then start with a
// snapshot each). Version V (the state after batch V) loads from the newest snapshot at or
// before V plus the deltas after it, so batch V+1 can run again from exactly the state it
// first ran from.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "../impl/config.hpp"
#include "checkpoint.hpp"
#include "file_io.hpp"
#include "../codec/binary.hpp"
#include "stored_state.hpp"

namespace sluice::detail {

// state/<op>/<version>.<kind>: a state kept whole.
SLUICE_DECL std::filesystem::path state_file(const checkpoint_dir& dir, std::size_t op, std::int64_t version,
                                             const char* kind);
// state/<op>/<partition>/: one partition of a partitioned state.
SLUICE_DECL std::filesystem::path state_partition_dir(const checkpoint_dir& dir, std::size_t op, std::size_t partition);

// Versions of one kind ("delta" or "snapshot") present in a state directory, ascending.
SLUICE_DECL std::vector<std::int64_t> state_versions_in(const std::filesystem::path& directory, const std::string& kind);
// Those of an operator's state kept whole (state/<op>/ itself).
SLUICE_DECL std::vector<std::int64_t> state_versions(const checkpoint_dir& dir, std::size_t op,
                                                     const std::string& kind);
// The partitions present in state/<op>/, ascending (none: a state kept whole, or none yet).
SLUICE_DECL std::vector<std::size_t> state_partition_dirs(const checkpoint_dir& dir, std::size_t op);

// The files that rebuild one version of a state: per partition (or one for a state kept
// whole: partition empty), the base snapshot if any and the deltas after it, in order.
struct state_chain {
  std::optional<std::size_t> partition;
  std::filesystem::path directory;
  std::optional<std::filesystem::path> snapshot;
  std::vector<std::filesystem::path> deltas;
};
// The state files commits/<version> records for operator op (none: no such entry, an entry
// from before the record, or a state kept whole).
SLUICE_COLD SLUICE_DECL std::optional<std::vector<state_partition_files>> recorded_state_files(const checkpoint_dir& dir,
                                                                                             std::size_t op,
                                                                                             std::int64_t version);
// With the commit's record, a partition's chain is its recorded base snapshot and the deltas
// after it up to the version, which must be as many as recorded; without, every version after
// the newest snapshot needs a delta. Throws naming the first missing file.
SLUICE_COLD SLUICE_DECL std::vector<state_chain> state_chains(const checkpoint_dir& dir, std::size_t op,
                                                              std::int64_t version);

// Calls f(p) for every p in [0, n), perhaps at once on several threads (the engine passes its
// workers: a state's partitions are written at once, each file with its own fsync); empty:
// one after another.
using for_each_partition = std::function<void(std::size_t n, const std::function<void(std::size_t)>& f)>;

// Writes the state after batch `version` (and the state's schema file when it is missing:
// checkpoints older than it get it on their next batch). A re-run of an uncommitted batch rewrites its files
// (the commit log, not these files, says which versions count). The partitions of a
// partitioned state go through `each`: write_partition_delta / write_partition_snapshot of
// different partitions may run at once.
SLUICE_DECL void save_state(const checkpoint_dir& dir, std::size_t op, std::int64_t version, stored_state& st,
                            std::int64_t snapshot_interval, const for_each_partition& each = {});

// The operator's state back to version `version` (-1: empty): on restart and after a failure.
SLUICE_COLD SLUICE_DECL void load_state(const checkpoint_dir& dir, std::size_t op, std::int64_t version,
                                        stored_state& st);

// What a partitioned state's files hold after save_state, for the batch's commit entry
// (commit_log_entry::state_files); none for a state kept whole.
SLUICE_DECL std::optional<std::vector<state_partition_files>> committed_state_files(const stored_state& st);

// Drops state files no longer needed to rebuild any version >= keep_from.
SLUICE_DECL void purge_state(const checkpoint_dir& dir, std::size_t op, std::int64_t keep_from);

}  // namespace sluice::detail

#if SLUICE_HEADER_ONLY
#include "../impl/state_store.ipp"
#endif

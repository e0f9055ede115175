// Versioned state of stateful operators in a checkpoint: state/<op>/<version>.delta after every
// batch, and state/<op>/<version>.snapshot every `snapshot_interval` versions. Version V (the
// state after batch V) loads from the newest snapshot at or before V plus the deltas after it,
// so batch V+1 can run again from exactly the state it first ran from.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "../impl/config.hpp"
#include "checkpoint.hpp"
#include "file_io.hpp"
#include "../codec/binary.hpp"
#include "stored_state.hpp"

namespace sluice::detail {

SLUICE_DECL std::filesystem::path state_file(const checkpoint_dir& dir, std::size_t op, std::int64_t version,
                                             const char* kind);

// Versions of one kind ("delta" or "snapshot") present for an operator, ascending.
SLUICE_DECL std::vector<std::int64_t> state_versions(const checkpoint_dir& dir, std::size_t op,
                                                     const std::string& kind);

// Writes the state after batch `version` (and the state's schema file when it is missing:
// checkpoints older than it get it on their next batch). A re-run of an uncommitted batch rewrites its files
// (the commit log, not these files, says which versions count).
SLUICE_DECL void save_state(const checkpoint_dir& dir, std::size_t op, std::int64_t version,
                            const stored_state& st, std::int64_t snapshot_interval);

// The operator's state back to version `version` (-1: empty): on restart and after a failure.
SLUICE_COLD SLUICE_DECL void load_state(const checkpoint_dir& dir, std::size_t op, std::int64_t version,
                                        stored_state& st);

// Drops state files no longer needed to rebuild any version >= keep_from.
SLUICE_DECL void purge_state(const checkpoint_dir& dir, std::size_t op, std::int64_t keep_from);

}  // namespace sluice::detail

#if SLUICE_HEADER_ONLY
#include "../impl/state_store.ipp"
#endif

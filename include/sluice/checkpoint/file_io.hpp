// Durable files for checkpoints and sinks: write to a temporary name, rename (or link), and
// fsync the file and, where a file's name must be durable by POSIX's rules alone, its
// directory; an existing entry is never overwritten. Checkpoint files also end with a checksum
// and the id of the query that wrote them (write_checkpoint_file). docs/checkpoints.md, "Files",
// says which files get which syncs and what survives a power loss.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../impl/config.hpp"

namespace sluice {

class checkpoint_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
inline std::atomic<std::uint64_t> fsyncs{0};
// Every fsync sluice issues goes through here, so that tests and benchmarks can count them.
inline int counted_fsync(int fd) {
  fsyncs.fetch_add(1, std::memory_order_relaxed);
  return ::fsync(fd);
}

// Error: the exception thrown (components throw their own, e.g. delta_error).
template <class Error = checkpoint_error>
void fsync_path(const std::filesystem::path& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) throw Error("cannot open " + p.string() + " to sync: " + std::strerror(errno));
  const int rc = counted_fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error("fsync of " + p.string() + " failed: " + std::strerror(err));
}

template <class Error = checkpoint_error>
void write_all(int fd, std::string_view bytes, const std::filesystem::path& p) {
  while (!bytes.empty()) {
    const auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("write to " + p.string() + " failed: " + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}
}  // namespace detail

// The fsyncs this process has issued through sluice (checkpoint files, sinks' files).
inline std::uint64_t fsync_count() { return detail::fsyncs.load(std::memory_order_relaxed); }

// How write_file_atomically makes a file durable.
enum class file_sync {
  none,                // atomic only: a process crash keeps it, a power loss may not
  file,                // one fsync of the file after it got its name (see below)
  file_and_directory,  // fsync of the file before it gets its name, then of the directory
};

// Writes `bytes` to `target` atomically (readers see all of it or none) and, with `durable`,
// durably (file and directory synced before returning). With `overwrite` false an existing
// target is an error (put-if-absent, via link(2), so two writers cannot both succeed).
SLUICE_DECL void write_file_atomically(const std::filesystem::path& target, std::string_view bytes,
                                       bool overwrite = false, bool durable = true);
// The same with a choice of syncs. file_sync::file costs one fsync whatever the directory: the
// file is linked or renamed into place first and then synced, and on Linux's journaling file
// systems (ext4, XFS, btrfs) an fsync of a file also makes the name it was just given durable
// (the rename or link is in the journal transaction or log the fsync forces). POSIX alone does
// not promise that; the checkpoint's recovery (docs/checkpoints.md) copes with a file whose
// name survived a power loss but whose bytes did not.
SLUICE_DECL void write_file_atomically(const std::filesystem::path& target, std::string_view bytes, bool overwrite,
                                       file_sync sync);

SLUICE_DECL std::string read_whole_file(const std::filesystem::path& p);

// The numbered entries of a log directory (offsets/0, offsets/1 ...), ascending.
SLUICE_DECL std::vector<std::int64_t> list_log_entries(const std::filesystem::path& dir);

// CRC-32C (Castagnoli) of `bytes`, continuing from `crc` (0 to start).
SLUICE_DECL std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0);

// Every file of a checkpoint (metadata, offsets, commits, state deltas and snapshots, source
// logs) is its content followed by one trailer line,
//   #sluice-crc32c <8 hex digits> <query id>\n
// the CRC-32C of the content followed by the query id: a flipped byte anywhere is caught,
// and so is a file (or a metadata file) copied from another query's checkpoint. Written as
// write_file_atomically does.
inline constexpr std::string_view checkpoint_trailer_tag = "#sluice-crc32c ";
// `overwrite`: a file a re-run may rewrite (state files), whose validity the commit log decides:
// one fsync (file_sync::file); else (log entries, metadata) file and directory are synced.
SLUICE_DECL void write_checkpoint_file(const std::filesystem::path& target, std::string_view content,
                                       std::string_view query_id, bool overwrite, file_sync sync);
inline void write_checkpoint_file(const std::filesystem::path& target, std::string_view content, std::string_view query_id,
                                  bool overwrite = false) {
  write_checkpoint_file(target, content, query_id, overwrite, overwrite ? file_sync::file : file_sync::file_and_directory);
}

struct checkpoint_file {
  std::string content;   // without the trailer
  std::string query_id;  // of the query that wrote it
};
// Reads and verifies a checkpoint file; throws checkpoint_error naming it when it has no
// trailer (truncated, or not a checkpoint file) or its checksum does not match.
SLUICE_COLD SLUICE_DECL checkpoint_file read_checkpoint_file(const std::filesystem::path& p);
// Whether the file ends without a well-formed trailer (empty, cut short, or a tail of zero
// bytes): what a write leaves that a power loss interrupted before its fsync returned. A
// complete trailer whose checksum does not match is corruption instead, and not torn.
SLUICE_COLD SLUICE_DECL bool checkpoint_file_is_torn(const std::filesystem::path& p);
// The same, and the file must have been written by query `query_id` (unless empty).
SLUICE_COLD SLUICE_DECL std::string read_checkpoint_file(const std::filesystem::path& p, std::string_view query_id);

}  // namespace sluice

#if SLUICE_HEADER_ONLY
#include "../impl/file_io.ipp"
#endif

// Put-if-absent commits of a Delta log: version N is the file _delta_log/<N, 20 digits>.json,
// created once and never overwritten (PROTOCOL.md, "Creation of New Log Entries": two writers
// must not both succeed in creating the same version). The commit text is written to a
// hidden temporary file in _delta_log, fsynced, then link(2)ed to the version's name -- which
// fails with EEXIST when another writer got there first, atomically, on any POSIX file
// system -- and the directory is fsynced. Readers skip the temporaries (their names do not
// parse as versions); a crash leaves at most one behind, never a partial version file. A
// writer may name its temporaries with an owner tag (".<name>.<owner>.<uuid>.tmp") so that it
// can find and delete the ones a crash of its own left (the Delta sink does, at start).
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "../detail/crash_point.hpp"
#include "actions.hpp"
#include "log.hpp"
#include "parquet_write.hpp"

namespace sluice::delta {

enum class commit_result { committed, version_exists };

namespace detail {
// Writes `bytes` to a new hidden temporary file in `dir` and fsyncs it; returns its path.
inline std::filesystem::path write_synced_temporary(const std::filesystem::path& dir, std::string_view name,
                                                    std::string_view bytes, std::string_view owner = {}) {
  std::filesystem::create_directories(dir);
  const auto tmp = dir / ("." + std::string(name) + "." + (owner.empty() ? std::string() : std::string(owner) + ".") +
                          random_uuid() + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw delta_error("cannot create " + tmp.string() + ": " + std::strerror(errno));
  try {
    sluice::detail::write_all<delta_error>(fd, bytes, tmp);
    if (::fsync(fd) != 0) throw delta_error("fsync of " + tmp.string() + " failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  return tmp;
}
}  // namespace detail

// Creates version `version` of the table's log with `text` (one action per line), unless that
// version exists: then nothing is written and version_exists is returned.
// `owner`: see write_synced_temporary.
inline commit_result commit_version(const std::filesystem::path& table, std::int64_t version, std::string_view text,
                                    std::string_view owner = {}) {
  const auto dir = log_dir(table);
  const auto target = commit_path(table, version);
  const auto tmp = detail::write_synced_temporary(dir, commit_file_name(version), text, owner);
  sluice::detail::crash_point("delta_commit_temporary_written");
  const int rc = ::link(tmp.c_str(), target.c_str());
  const int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (err == EEXIST) return commit_result::version_exists;
    throw delta_error("cannot create the Delta commit " + target.string() + ": " + std::strerror(err));
  }
  sluice::detail::fsync_path<delta_error>(dir, true);
  return commit_result::committed;
}

// Replaces `target` (a file the protocol lets writers overwrite, such as _last_checkpoint or a
// checkpoint of a version, whose content is the same whoever writes it) atomically: the
// temporary is renamed over it.
inline void replace_file_atomically(const std::filesystem::path& target, std::string_view bytes,
                                    std::string_view owner = {}) {
  const auto dir = target.parent_path();
  const auto tmp = detail::write_synced_temporary(dir, target.filename().string(), bytes, owner);
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw delta_error("cannot rename " + tmp.string() + " to " + target.string() + ": " + std::strerror(err));
  }
  sluice::detail::fsync_path<delta_error>(dir, true);
}

}  // namespace sluice::delta

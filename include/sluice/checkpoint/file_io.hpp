// Durable files for checkpoints and sinks: write to a temporary name, fsync, rename, fsync
// the directory; an existing entry is never overwritten.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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

namespace sluice {

class checkpoint_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Error: the exception thrown (components throw their own, e.g. delta_error).
template <class Error = checkpoint_error>
void fsync_path(const std::filesystem::path& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) throw Error("cannot open " + p.string() + " to sync: " + std::strerror(errno));
  const int rc = ::fsync(fd);
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

// Writes `bytes` to `target` atomically (readers see all of it or none) and, with `durable`,
// durably (file and directory synced before returning). With `overwrite` false an existing
// target is an error (put-if-absent, via link(2), so two writers cannot both succeed).
inline void write_file_atomically(const std::filesystem::path& target, std::string_view bytes, bool overwrite = false,
                                  bool durable = true) {
  namespace fs = std::filesystem;
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  fs::create_directories(dir);
  const fs::path tmp = dir / ("." + target.filename().string() + "." + std::to_string(::getpid()) + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw checkpoint_error("cannot create " + tmp.string() + ": " + std::strerror(errno));
  try {
    detail::write_all(fd, bytes, tmp);
    if (durable && ::fsync(fd) != 0)
      throw checkpoint_error("fsync of " + tmp.string() + " failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (overwrite) {
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      throw checkpoint_error("cannot rename " + tmp.string() + " to " + target.string() + ": " + std::strerror(err));
    }
  } else {
    if (::link(tmp.c_str(), target.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      if (err == EEXIST) throw checkpoint_error(target.string() + " already exists; a log entry is never overwritten");
      throw checkpoint_error("cannot create " + target.string() + ": " + std::strerror(err));
    }
    ::unlink(tmp.c_str());
  }
  if (durable) detail::fsync_path(dir, true);
}

inline std::string read_whole_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw checkpoint_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

// The numbered entries of a log directory (offsets/0, offsets/1 ...), ascending.
inline std::vector<std::int64_t> list_log_entries(const std::filesystem::path& dir) {
  std::vector<std::int64_t> ids;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return ids;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    ids.push_back(std::stoll(name));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace sluice

// Definitions of checkpoint/file_io.hpp's non-template functions (see impl/config.hpp).
#pragma once
#include "../checkpoint/file_io.hpp"

namespace sluice {

void write_file_atomically(const std::filesystem::path& target, std::string_view bytes, bool overwrite, bool durable) {
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

std::string read_whole_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw checkpoint_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

std::vector<std::int64_t> list_log_entries(const std::filesystem::path& dir) {
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

// The directory listing of the file sources: the regular files of a directory that match a
// glob, with the names writers use for files in progress left out (sources/files.hpp).
#pragma once
#include <fnmatch.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../../time.hpp"

namespace sluice::files {
namespace detail {

struct file_entry {
  std::string name;  // the file's name in the directory: what "taken" is keyed on
  std::int64_t size = 0;
  std::int64_t mtime = 0;  // microseconds since the epoch
  std::int64_t batch = -1;  // in the source log: the file batch that took it
};

inline std::int64_t now_us() {
  return std::chrono::duration_cast<duration>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline bool hidden_name(std::string_view name) {
  constexpr std::string_view copying = "._COPYING_";
  return name.empty() || name[0] == '.' || name[0] == '_' ||
         (name.size() >= copying.size() && name.substr(name.size() - copying.size()) == copying);
}

// Regular files of `dir` (not recursive) whose names match `glob`, hidden names and names
// `skip(name)` rejects excluded (before their stat). A missing directory has no files (yet).
template <class Skip>
std::vector<file_entry> list_directory(const std::filesystem::path& dir, const std::string& glob, Skip&& skip) {
  namespace fs = std::filesystem;
  std::vector<file_entry> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return out;
    throw std::runtime_error("sluice::files: cannot list " + dir.string() + ": " + ec.message());
  }
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) throw std::runtime_error("sluice::files: cannot list " + dir.string() + ": " + ec.message());
    std::string name = it->path().filename().string();
    if (hidden_name(name) || ::fnmatch(glob.c_str(), name.c_str(), FNM_PERIOD) != 0 || skip(name)) continue;
    struct ::stat st {};
    if (::stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // gone, or not a file
    out.push_back({std::move(name), static_cast<std::int64_t>(st.st_size),
                   static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000 + st.st_mtim.tv_nsec / 1000});
  }
  return out;
}
}  // namespace detail
}  // namespace sluice::files

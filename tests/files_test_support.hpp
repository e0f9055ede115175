// For the tests of the file sources: a scratch directory whose `in/` a source watches, and a
// file's bytes.
#pragma once
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

namespace sluice_test {

// A fresh directory under the system's temporary one, named after `prefix` and `tag`,
// removed with everything in it at the end of the scope.
struct files_scratch {
  std::filesystem::path root;
  files_scratch(std::string_view prefix, std::string_view tag) {
    static std::atomic<int> counter{0};
    std::random_device rd;
    root = std::filesystem::temp_directory_path() /
           (std::string(prefix) + "-" + std::string(tag) + "-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter++) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(root / "in");
  }
  ~files_scratch() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
  files_scratch(const files_scratch&) = delete;
  files_scratch& operator=(const files_scratch&) = delete;
  // Writes `in/<name>`.
  std::filesystem::path write(const std::string& name, const std::string& bytes) const {
    const auto p = root / "in" / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace sluice_test

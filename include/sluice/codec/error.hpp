// The error of every decoder generated from a schema struct (JSON, CSV, offsets, Delta's log):
// a value that does not fit its field's type; what() names the field path.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace sluice {

// Thrown when a value does not fit a schema type; what() names the field path.
class schema_error : public std::runtime_error {
 public:
  schema_error(std::string path, const std::string& message)
      : std::runtime_error(path.empty() ? message : "field '" + path + "': " + message), path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

}  // namespace sluice

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
      : std::runtime_error(path.empty() ? message : "field '" + path + "': " + message),
        path_(std::move(path)),
        message_(message) {}
  const std::string& path() const noexcept { return path_; }
  // What is wrong, without the path (for an error that names the place its own way).
  const std::string& message() const noexcept { return message_; }

 private:
  std::string path_;
  std::string message_;
};

}  // namespace sluice

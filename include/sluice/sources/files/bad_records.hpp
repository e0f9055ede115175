// What the file sources do with a record they cannot read: fail (bad_record_error naming
// file:line), skip (counted), or dead_letter(dir): the bad lines and their reasons, staged
// under temporary names and renamed into place when the file has been read
// (sources/files.hpp).
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "../../checkpoint/file_io.hpp"
#include "../bad_record.hpp"

namespace sluice::files {

using sluice::bad_record;
// What happens to a record that cannot be read: fail (default), skip, or dead_letter(dir).
using bad_record_policy = bad_record_policy_for<std::filesystem::path>;

// Bad records go to `<dir>/<file name>.bad` (the lines, byte for byte) and
// `<dir>/<file name>.bad.reasons` (JSON lines {file, line, reason}).
inline bad_record_policy dead_letter(std::filesystem::path dir) { return bad_record_policy::dead_letter(std::move(dir)); }

// A bad record under bad_record::fail; what() is "file:line: reason".
class bad_record_error : public std::runtime_error {
 public:
  bad_record_error(std::string file, std::int64_t line, std::string reason)
      : std::runtime_error(file + ":" + std::to_string(line) + ": " + reason),
        file_(std::move(file)),
        line_(line),
        reason_(std::move(reason)) {}
  const std::string& file() const noexcept { return file_; }
  std::int64_t line() const noexcept { return line_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string file_;
  std::int64_t line_;
  std::string reason_;
};

namespace detail {
// A file written under a hidden temporary name and renamed into place by commit().
class staged_output {
 public:
  explicit staged_output(std::filesystem::path target) : target_(std::move(target)) {}
  ~staged_output() { abandon(); }
  staged_output(const staged_output&) = delete;
  staged_output& operator=(const staged_output&) = delete;

  void write(std::string_view bytes) {
    if (fd_ < 0) open();
    if (buf_.size() + bytes.size() > flush_at) {
      flush();
      if (bytes.size() > flush_at) {
        sluice::detail::write_all(fd_, bytes, tmp_);
        return;
      }
    }
    buf_.append(bytes);
  }
  bool opened() const { return fd_ >= 0; }
  // Syncs and renames into place (replacing an earlier copy); the caller syncs the directory.
  void commit() {
    if (fd_ < 0) return;
    flush();
    if (::fsync(fd_) != 0) throw checkpoint_error("fsync of " + tmp_.string() + " failed: " + std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    if (::rename(tmp_.c_str(), target_.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp_.c_str());
      throw checkpoint_error("cannot rename " + tmp_.string() + " to " + target_.string() + ": " + std::strerror(err));
    }
  }
  void abandon() noexcept {
    if (fd_ < 0) return;
    ::close(fd_);
    fd_ = -1;
    ::unlink(tmp_.c_str());
  }

 private:
  static constexpr std::size_t flush_at = 1u << 20;
  void open() {
    std::filesystem::create_directories(target_.parent_path());
    tmp_ = target_.parent_path() / ("." + target_.filename().string() + "." + std::to_string(::getpid()) + "." +
                                    std::to_string(reinterpret_cast<std::uintptr_t>(this)) + ".tmp");
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw checkpoint_error("cannot create " + tmp_.string() + ": " + std::strerror(errno));
  }
  void flush() {
    if (!buf_.empty()) sluice::detail::write_all(fd_, buf_, tmp_);
    buf_.clear();
  }
  std::filesystem::path target_, tmp_;
  int fd_ = -1;
  std::string buf_;
};

// The dead letters of one source file.
class dead_letters {
 public:
  dead_letters(const std::filesystem::path& dir, const std::string& file_name, std::string display)
      : dir_(dir), bad_(dir / (file_name + ".bad")), reasons_(dir / (file_name + ".bad.reasons")),
        display_(std::move(display)) {}
  void bytes(std::string_view b) { bad_.write(b); }
  void end_record(std::int64_t line, const std::string& reason) {
    bad_.write("\n");
    boost::json::object o;
    o["file"] = display_;
    o["line"] = line;
    o["reason"] = reason;
    reasons_.write(boost::json::serialize(o));
    reasons_.write("\n");
    ++count_;
  }
  std::int64_t count() const { return count_; }
  void commit() {
    if (!bad_.opened()) return;
    bad_.commit();
    reasons_.commit();
    sluice::detail::fsync_path(dir_, true);
  }

 private:
  std::filesystem::path dir_;
  staged_output bad_, reasons_;
  std::string display_;
  std::int64_t count_ = 0;
};

// Keeps reasons (which may quote a value) to a readable size, cut at a UTF-8 boundary.
inline void shorten(std::string& reason) {
  constexpr std::size_t max = 1024;
  if (reason.size() <= max) return;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
  reason.resize(cut);
  reason += "...";
}
}  // namespace detail
}  // namespace sluice::files

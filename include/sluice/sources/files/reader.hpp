// Reading a file as records for the file sources and sl::files::read_*: lines, or CSV
// records, in one buffer, with a limit on the length of one record (sources/files.hpp).
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "../../codec/csv.hpp"

namespace sluice::files {

inline constexpr std::size_t default_max_line_bytes = 16u << 20;  // 16 MiB

namespace detail {
// Readable bytes after the reader's buffer, so after every record and block it returns:
// simdjson reads up to 64 bytes past a document (json_lines_parser::begin_block).
inline constexpr std::size_t read_padding = 64;

namespace csvd = sluice::detail::csv;

// Reads a file's first `size` bytes as records: lines, or CSV records (a newline inside a
// quoted field does not end one). Large reads into one buffer that grows to hold the longest
// record, up to max_record + 1 bytes; a longer record is reported as oversize and its
// remaining bytes streamed (finish_oversize) rather than held.
class record_reader {
 public:
  struct record {
    std::string_view bytes;  // without the '\n'
    std::int64_t line = 0;   // the line it starts on, from 1
    bool oversize = false;   // then `bytes` is only its start when !terminated: call finish_oversize
    bool terminated = false; // ended by '\n' (not by the end of the file)
  };

  // `block_bytes` > 0: the buffer holds that many bytes (for next_block), whatever max_record.
  // `offset` > 0: reads the `size` bytes from there (a block of the file, which starts a line:
  // lines are numbered from 1 within it, and no byte order mark is looked for).
  record_reader(const std::filesystem::path& path, std::int64_t size, std::size_t max_record,
                std::optional<csvd::dialect> csv, std::size_t block_bytes = 0, std::int64_t offset = 0)
      : path_(path), remaining_(size), max_(std::min(max_record, std::numeric_limits<std::size_t>::max() / 4)), csv_(csv) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      throw std::runtime_error("sluice::files: cannot open " + path.string() + ": " + std::strerror(errno) +
                               " (files must stay in the directory until the query has read them)");
    ::posix_fadvise(fd_, offset, size, POSIX_FADV_SEQUENTIAL);
    if (offset > 0 && ::lseek(fd_, offset, SEEK_SET) != offset) {
      const int err = errno;
      ::close(fd_);
      throw std::runtime_error("sluice::files: cannot seek in " + path.string() + ": " + std::strerror(err));
    }
    constexpr std::size_t chunk = 1u << 20;
    if (block_bytes > 0) {
      cap_ = static_cast<std::size_t>(std::clamp<std::int64_t>(size + 1, 64, static_cast<std::int64_t>(block_bytes)));
    } else {
      cap_ = static_cast<std::size_t>(std::clamp<std::int64_t>(size + 1, 64, chunk));
      if (cap_ > max_ + 1) cap_ = std::max<std::size_t>(max_ + 1, 64);
    }
    buf_ = std::make_unique_for_overwrite<char[]>(cap_ + read_padding);
    eof_ = remaining_ == 0;
    bom_pending_ = offset == 0;
  }
  ~record_reader() {
    if (fd_ >= 0) ::close(fd_);
  }
  record_reader(const record_reader&) = delete;
  record_reader& operator=(const record_reader&) = delete;

  bool next(record& r) {
    while (true) {
      if (bom_pending_) skip_bom();
      if (const char* t = find_end(buf_.get() + scan_, buf_.get() + end_)) {
        const std::size_t len = static_cast<std::size_t>(t - (buf_.get() + begin_));
        r = {{buf_.get() + begin_, len}, line_, len > max_, true};
        end_record();
        begin_ = scan_ = static_cast<std::size_t>(t - buf_.get()) + 1;
        return true;
      }
      scan_ = end_;
      if (end_ - begin_ > max_) {  // too long, and not over yet
        r = {{buf_.get() + begin_, end_ - begin_}, line_, true, false};
        begin_ = scan_ = end_;
        oversize_pending_ = true;
        return true;
      }
      if (eof_) {
        if (begin_ == end_) return false;
        r = {{buf_.get() + begin_, end_ - begin_}, line_, false, false};
        end_record();
        begin_ = scan_ = end_;
        return true;
      }
      refill();
    }
  }

  // Block mode, for formats whose records are lines (JSON lines): fills the buffer and returns
  // the complete lines it holds, from the current position to its last '\n' (to the end of the
  // file when the file is over), starting at line `first_line`. False when there are none: the
  // file is over, or the next line alone fills the buffer (read that one with next()). After a
  // block, call end_block with the number of lines it held.
  struct block {
    std::string_view bytes;
    std::int64_t first_line = 0;
  };
  bool next_block(block& b) {
    if (bom_pending_) skip_bom();
    while (!eof_ && (begin_ > 0 || end_ < cap_)) refill();  // never grows: the buffer is not full
    if (begin_ == end_) return false;
    std::size_t stop = end_;
    if (!eof_) {
      const void* last = ::memrchr(buf_.get() + begin_, '\n', end_ - begin_);
      if (last == nullptr) return false;
      stop = static_cast<std::size_t>(static_cast<const char*>(last) - buf_.get()) + 1;
    }
    b = {{buf_.get() + begin_, stop - begin_}, line_};
    begin_ = scan_ = stop;
    return true;
  }
  void end_block(std::int64_t lines) { line_ += lines; }

  // Lines read so far (a last line without a newline counted).
  std::int64_t lines_read() const { return line_ - 1; }

  // After next() returned an unterminated oversize record: passes the rest of its bytes to
  // sink(std::string_view), up to its end. A no-op otherwise.
  template <class Sink>
  void finish_oversize(Sink&& sink) {
    if (!oversize_pending_) return;
    oversize_pending_ = false;
    while (true) {
      begin_ = scan_ = end_ = 0;
      if (eof_) break;
      refill();
      if (const char* t = find_end(buf_.get(), buf_.get() + end_)) {
        sink(std::string_view(buf_.get(), static_cast<std::size_t>(t - buf_.get())));
        begin_ = scan_ = static_cast<std::size_t>(t - buf_.get()) + 1;
        break;
      }
      sink(std::string_view(buf_.get(), end_));
    }
    end_record();
  }

 private:
  const char* find_end(const char* p, const char* e) {
    if (p >= e) return nullptr;
    if (csv_) return scanner_.scan(p, e, *csv_, inner_newlines_);
    return static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(e - p)));
  }
  void end_record() {
    line_ += 1 + inner_newlines_;
    inner_newlines_ = 0;
    scanner_.reset();
  }
  // A UTF-8 byte order mark starts the file, not its first record.
  void skip_bom() {
    while (end_ < 3 && !eof_) refill();
    bom_pending_ = false;
    if (end_ >= 3 && std::memcmp(buf_.get(), "\xEF\xBB\xBF", 3) == 0) begin_ = scan_ = 3;
  }
  void refill() {
    if (begin_ > 0) {
      std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      scan_ -= begin_;
      begin_ = 0;
    }
    if (end_ == cap_) {  // one record fills the buffer: grow it, up to max_ + 1 bytes
      const std::size_t cap = std::min(cap_ * 2, max_ + 1);
      auto bigger = std::make_unique_for_overwrite<char[]>(cap + read_padding);
      std::memcpy(bigger.get(), buf_.get(), end_);
      buf_ = std::move(bigger);
      cap_ = cap;
    }
    const auto want = static_cast<std::size_t>(std::min<std::int64_t>(static_cast<std::int64_t>(cap_ - end_), remaining_));
    while (true) {
      const auto n = ::read(fd_, buf_.get() + end_, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error("sluice::files: cannot read " + path_.string() + ": " + std::strerror(errno));
      }
      if (n == 0)
        throw std::runtime_error("sluice::files: " + path_.string() + " is shorter than when it was listed (" +
                                 std::to_string(remaining_) + " bytes missing); files must not change once they " +
                                 "are in the directory");
      end_ += static_cast<std::size_t>(n);
      remaining_ -= n;
      break;
    }
    eof_ = remaining_ == 0;
  }

  std::filesystem::path path_;
  int fd_ = -1;
  std::int64_t remaining_;
  std::size_t max_;
  std::optional<csvd::dialect> csv_;
  csvd::record_scanner scanner_;
  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0, begin_ = 0, end_ = 0, scan_ = 0;
  std::int64_t line_ = 1, inner_newlines_ = 0;
  bool eof_ = false, oversize_pending_ = false, bom_pending_ = false;
};
}  // namespace detail
}  // namespace sluice::files

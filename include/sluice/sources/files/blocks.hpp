// Large JSON-lines files cut into blocks, each a partition of the batch, so that one large
// file beside small ones keeps every worker busy (sources/files.hpp): how large a block is
// (Spark's FilePartition.maxSplitBytes), where a block's lines begin, and what the blocks of
// one file share (its line count so far and its dead letters, written in file order).
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bad_records.hpp"

namespace sluice::files {

// json_lines_options::max_partition_bytes: Spark's spark.sql.files.maxPartitionBytes is 128 MB,
// a few seconds of one Spark core decoding JSON; sluice decodes about ten times faster per
// core, and a smaller block spreads the end of a batch better over the workers.
inline constexpr std::int64_t default_max_partition_bytes = std::int64_t{32} << 20;

namespace detail {

// Spark's spark.sql.files.openCostInBytes: opening a file costs about as much as reading this
// many bytes; each file of a batch counts this much more, and no block is cut smaller than it
// (unless max_partition_bytes is smaller).
inline constexpr std::int64_t open_cost_bytes = std::int64_t{4} << 20;

// Spark's FilePartition.maxSplitBytes: min(maxPartitionBytes, max(openCostInBytes,
// bytesPerCore)), bytesPerCore being the batch's bytes (each file plus its open cost) over
// minPartitionNum (the parallelism by default).
inline std::int64_t max_split_bytes(std::int64_t max_partition_bytes, std::int64_t total_bytes,
                                    std::size_t min_partitions) {
  const std::int64_t per_core = total_bytes / static_cast<std::int64_t>(std::max<std::size_t>(min_partitions, 1));
  return std::min(max_partition_bytes, std::max(open_cost_bytes, per_core));
}

// How many blocks a file of `size` bytes is cut into (1: read whole). Equal blocks, their
// number a multiple of `parallelism` (Spark cuts maxSplitBytes pieces and packs them with the
// small files; sluice does not pack, so equal blocks in a multiple of the workers keep them
// evenly loaded: 100 MB on 2 workers is 4 blocks of 25, not 3 of 33).
inline std::size_t blocks_for(std::int64_t size, std::int64_t split, std::size_t parallelism) {
  if (split <= 0 || size <= split) return 1;
  const auto n = static_cast<std::size_t>((size + split - 1) / split);
  const std::size_t p = std::max<std::size_t>(parallelism, 1);
  return (n + p - 1) / p * p;
}

// A compressed file cannot be cut (a block would start inside the compressed stream, as
// Spark's non-splittable codecs): names with a compression suffix stay one partition.
inline bool compressed_name(const std::filesystem::path& p) {
  const std::string ext = p.extension().string();
  for (const char* c : {".gz", ".bz2", ".xz", ".zst", ".lz4", ".snappy", ".deflate", ".zip", ".br"})
    if (ext == c) return true;
  return false;
}

// A file opened for the scans below.
class raw_file {
 public:
  explicit raw_file(const std::filesystem::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      throw std::runtime_error("sluice::files: cannot open " + path.string() + ": " + std::strerror(errno) +
                               " (files must stay in the directory until the query has read them)");
  }
  ~raw_file() { ::close(fd_); }
  raw_file(const raw_file&) = delete;
  raw_file& operator=(const raw_file&) = delete;

  // Up to buf.size() bytes at `at`; fewer only at the end of the file.
  std::size_t read_at(std::int64_t at, std::span<char> buf) const {
    std::size_t got = 0;
    while (got < buf.size()) {
      const auto n = ::pread(fd_, buf.data() + got, buf.size() - got, at + static_cast<std::int64_t>(got));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error("sluice::files: cannot read " + path_.string() + ": " + std::strerror(errno));
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    return got;
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// Where the first line that starts at or after `pos` starts (a line starts at 0 or after a
// '\n'); `size` if none does. A block [begin, end) of a file reads the lines that start in it:
// from line_start_at(begin) to line_start_at(end), so blocks meet exactly, whatever the bytes
// at the cut (inside a UTF-8 character, between '\r' and '\n'): only '\n' ends a line.
inline std::int64_t line_start_at(const raw_file& f, std::int64_t pos, std::int64_t size) {
  if (pos <= 0) return 0;
  if (pos >= size) return size;
  char buf[16 << 10];
  for (std::int64_t at = pos - 1; at < size;) {
    const auto want = static_cast<std::size_t>(std::min<std::int64_t>(sizeof buf, size - at));
    const std::size_t got = f.read_at(at, std::span<char>(buf, want));
    if (got == 0) break;  // shorter than listed: the block's reader says so
    if (const void* nl = std::memchr(buf, '\n', got))
      return at + (static_cast<const char*>(nl) - buf) + 1;
    at += static_cast<std::int64_t>(got);
  }
  return size;
}

// The number of '\n' in the file's first `pos` bytes: lines before a block, for the line
// number of its bad record under bad_record::fail (the error path only).
inline std::int64_t newlines_before(const raw_file& f, std::int64_t pos) {
  std::vector<char> buf(std::size_t{1} << 20);
  std::int64_t lines = 0;
  for (std::int64_t at = 0; at < pos;) {
    const auto want = static_cast<std::size_t>(std::min<std::int64_t>(static_cast<std::int64_t>(buf.size()), pos - at));
    const std::size_t got = f.read_at(at, std::span<char>(buf.data(), want));
    if (got == 0) break;
    lines += std::count(buf.data(), buf.data() + got, '\n');
    at += static_cast<std::int64_t>(got);
  }
  return lines;
}

// A block's dead letters, held until the blocks before it have written theirs (their line
// numbers count from the block's first line, 1).
class held_letters {
 public:
  void bytes(std::string_view b) { bytes_.append(b); }
  void end_record(std::int64_t line, const std::string& reason) { records_.push_back({line, reason, bytes_.size()}); }
  std::int64_t count() const { return static_cast<std::int64_t>(records_.size()); }
  void write_to(dead_letters& out, std::int64_t lines_before) const {
    std::size_t from = 0;
    for (const auto& r : records_) {
      out.bytes(std::string_view(bytes_).substr(from, r.end - from));
      out.end_record(lines_before + r.line, r.reason);
      from = r.end;
    }
  }

 private:
  struct record {
    std::int64_t line;
    std::string reason;
    std::size_t end;  // of its bytes in bytes_
  };
  std::string bytes_;
  std::vector<record> records_;
};

// What the blocks of one file share, for one reading of the batch's partitions.
class file_blocks {
 public:
  explicit file_blocks(std::size_t blocks) : unfinished_(blocks), ended_(blocks) {}

  std::size_t blocks() const { return ended_.size(); }

  // Block `i` has been read: `lines` lines, its dead letters in `letters` (null: none kept).
  // Dead letters are written in file order, each block's once those before it ended, with
  // line numbers counted from the file's start; the file's are committed by the last block.
  // Returns true for the file's last block to end (the file has been read). open(out) emplaces
  // the file's dead_letters into `out` when the first is written.
  template <class OpenDeadLetters>
  bool block_ended(std::size_t i, std::int64_t lines, held_letters* letters, OpenDeadLetters&& open) {
    {
      std::lock_guard lock(mutex_);
      auto& e = ended_[i];
      e.ended = true;
      e.lines = lines;
      if (letters != nullptr) e.letters = std::move(*letters);
      for (; next_ < ended_.size() && ended_[next_].ended; ++next_) {
        auto& n = ended_[next_];
        if (n.letters && n.letters->count() > 0) {
          if (!out_) open(out_);
          n.letters->write_to(*out_, lines_before_next_);
        }
        n.letters.reset();
        lines_before_next_ += n.lines;
      }
      if (next_ == ended_.size() && out_) out_->commit();
    }
    return unfinished_.fetch_sub(1, std::memory_order_acq_rel) == 1;
  }

 private:
  struct ended {
    bool ended = false;
    std::int64_t lines = 0;
    std::optional<held_letters> letters;
  };
  std::atomic<std::size_t> unfinished_;
  std::mutex mutex_;
  std::vector<ended> ended_;
  std::size_t next_ = 0;                // the first block not yet written out
  std::int64_t lines_before_next_ = 0;  // lines of the blocks before it
  std::optional<dead_letters> out_;
};

}  // namespace detail
}  // namespace sluice::files

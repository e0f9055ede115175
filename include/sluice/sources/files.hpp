// sl::files::json_lines<T>(dir, options) and sl::files::csv<T>(dir, options): streaming
// sources over a directory, after Spark's FileStreamSource.
//
//   auto events = sl::files::json_lines<Event>("input/", {.max_files_per_trigger = 1});
//   auto people = sl::files::csv<Person>("people/", {.header = true,
//                                                    .on_bad_record = sl::files::dead_letter("bad/")});
//
// Files. Each batch lists the directory (not its subdirectories) and takes the regular files
// whose names match `glob` and that it has not taken before, oldest first (modification
// time, then name; newest first with `latest_first`), at most `max_files_per_trigger` of
// them. Names starting with '.' or '_' and names ending in "._COPYING_" are never taken:
// they are how writers hide files in progress. The files of each batch are recorded in the
// source's log before the batch runs (the offset is the number of that log entry, Spark's
// logOffset); a logged file batch never changes, and a file, once taken, is never taken
// again, across restarts too when the query has a checkpoint. The log is compacted as
// Spark's FileStreamSourceLog (detail::source_log).
//
// Files must be complete when they appear: write them elsewhere (or under a hidden name) and
// rename them into the directory, as Spark requires. A file is read up to the size it had
// when it was taken; bytes appended later are not read, and a file that shrank or vanished
// fails the batch. A taken file that changes later is reported (check_taken_files).
//
// Records. JSON lines: one JSON object per line; blank lines are skipped (as Spark does);
// fields of the row type are matched by name, fields the row type lacks are ignored,
// std::optional fields may be absent or null. CSV (RFC 4180): columns by position, or by
// name from each file's first line with `header`. A last line without a newline is still a
// record; an empty file has none. Lines longer than `max_line_bytes` and lines that are not
// valid UTF-8 are bad records.
//
// Threads: a JSON-lines file of 1 MiB or more is cut at line boundaries and decoded on
// `decode_threads` threads (one per core by default); rows, bad records and their order are
// those of one thread (read_lines_in_parallel below).
//
// Bad records: `fail` (the default) throws sl::files::bad_record_error, whose message is
// `file:line: reason`; `skip` drops them and counts them (metrics()); `dead_letter(dir)`
// copies each bad line byte for byte into `<dir>/<file name>.bad`, with one JSON line
// {file, line, reason} per bad record in `<dir>/<file name>.bad.reasons`. Both are written
// under temporary names and renamed into place when the file has been read, so a file read
// again after a failure replaces its dead letters rather than adding to them.
#pragma once
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/mp11.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../checkpoint/file_io.hpp"
#include "../detail/crash_point.hpp"
#include "../codec/csv.hpp"
#include "../codec/json_parser.hpp"
#include "../detail/utf8.hpp"
#include "../codec/json.hpp"
#include "../schema.hpp"
#include "../time.hpp"
#include "../graph/source.hpp"
#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
#include "../codec/simdjson_decode.hpp"
#endif

namespace sluice::files {

// ---------------------------------------------------------------- options
enum class bad_record { fail, skip };

// What happens to a record that cannot be read: fail (default), skip, or dead_letter(dir).
class bad_record_policy {
 public:
  enum class kind { fail, skip, dead_letter };
  bad_record_policy(bad_record b = bad_record::fail)  // NOLINT: implicit on purpose
      : kind_(b == bad_record::fail ? kind::fail : kind::skip) {}
  static bad_record_policy dead_letter(std::filesystem::path dir) {
    bad_record_policy p;
    p.kind_ = kind::dead_letter;
    p.dir_ = std::move(dir);
    return p;
  }
  kind which() const { return kind_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  kind kind_ = kind::fail;
  std::filesystem::path dir_;
};

// Bad records go to `<dir>/<file name>.bad` (the lines, byte for byte) and
// `<dir>/<file name>.bad.reasons` (JSON lines {file, line, reason}).
inline bad_record_policy dead_letter(std::filesystem::path dir) { return bad_record_policy::dead_letter(std::move(dir)); }

inline constexpr std::size_t default_max_line_bytes = 16u << 20;  // 16 MiB

// Receives the source's warnings (a file that changed after it was read); empty: each is
// written to stderr as one line "sluice: warning: ...".
using warning_handler = std::function<void(const std::string&)>;

// Options common to both formats (json_lines_options and csv_options have them too):
//   log_compact_interval: every this many file batches, the source log entry is written as
//     "<n>.compact" holding every entry so far, so a restart reads one file and the entries
//     before it can be deleted (Spark's spark.sql.streaming.fileSource.log.compactInterval).
//   log_cleanup_delay: log files before the compaction that precedes the last
//     min_batches_to_retain batches (query_options) are deleted once they are this old
//     (spark.sql.streaming.fileSource.log.cleanupDelay).
//   on_warning: see warning_handler.

struct json_lines_options {
  std::string glob = "*";                  // file names to take (fnmatch syntax: "*.json")
  std::int64_t max_files_per_trigger = 0;  // 0: no limit (Spark's maxFilesPerTrigger)
  bool latest_first = false;               // newest files first (Spark's latestFirst)
  // Files older than this, relative to the newest file taken so far, are ignored (Spark's
  // maxFileAge); not on the first batch, and not when latest_first and a file limit are set.
  duration max_file_age = std::chrono::days{7};
  bad_record_policy on_bad_record = bad_record::fail;
  std::size_t max_line_bytes = default_max_line_bytes;  // a longer line is a bad record
  // Threads decoding one file of 1 MiB or more, cut at line boundaries (rows, errors and
  // their order are the same): 0 = one per core, at most 8; 1 = the calling thread only.
  std::size_t decode_threads = 0;
  // The source log and warnings: see above json_lines_options.
  std::int64_t log_compact_interval = 10;
  duration log_cleanup_delay = std::chrono::minutes{10};
  warning_handler on_warning{};
};

struct csv_options {
  std::string glob = "*";
  std::int64_t max_files_per_trigger = 0;
  bool latest_first = false;
  duration max_file_age = std::chrono::days{7};
  bad_record_policy on_bad_record = bad_record::fail;
  std::size_t max_line_bytes = default_max_line_bytes;  // bytes of one record (quoted newlines included)
  bool header = false;   // true: each file's first line names its columns, matched to fields by name
  char delimiter = ',';
  char quote = '"';      // doubled inside a quoted field for a literal quote (RFC 4180)
  // The source log and warnings: see above json_lines_options.
  std::int64_t log_compact_interval = 10;
  duration log_cleanup_delay = std::chrono::minutes{10};
  warning_handler on_warning{};
};

// ---------------------------------------------------------------- errors, offsets, metrics
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

// The number of the last file batch taken (Spark's FileStreamSourceOffset.logOffset).
struct offset {
  std::int64_t batch = -1;
};
BOOST_DESCRIBE_STRUCT(offset, (), (batch))

// One file of a logged file batch.
struct partition {
  std::filesystem::path path;
  std::int64_t size = 0;   // bytes read: the size the file had when it was taken
  std::int64_t mtime = 0;  // microseconds since the epoch
  std::int64_t batch = 0;  // the file batch it belongs to
};

// Counters since the source was created (a file read again after a failure counts again).
struct source_metrics {
  std::int64_t files_read = 0;
  std::int64_t rows = 0;
  std::int64_t bad_records_skipped = 0;
  std::int64_t bad_records_dead_lettered = 0;
  // Files found changed (size or modification time) on a listing after they were taken: the
  // query read them as they were when taken (see file_source::check_taken_files).
  std::int64_t files_changed_after_read = 0;
};

namespace detail {
namespace csvd = sluice::detail::csv;

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
  record_reader(const std::filesystem::path& path, std::int64_t size, std::size_t max_record,
                std::optional<csvd::dialect> csv, std::size_t block_bytes = 0)
      : path_(path), remaining_(size), max_(std::min(max_record, std::numeric_limits<std::size_t>::max() / 4)), csv_(csv) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      throw std::runtime_error("sluice::files: cannot open " + path.string() + ": " + std::strerror(errno) +
                               " (files must stay in the directory until the query has read them)");
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    constexpr std::size_t chunk = 1u << 20;
    if (block_bytes > 0) {
      cap_ = static_cast<std::size_t>(std::clamp<std::int64_t>(size + 1, 64, static_cast<std::int64_t>(block_bytes)));
    } else {
      cap_ = static_cast<std::size_t>(std::clamp<std::int64_t>(size + 1, 64, chunk));
      if (cap_ > max_ + 1) cap_ = std::max<std::size_t>(max_ + 1, 64);
    }
    buf_ = std::make_unique_for_overwrite<char[]>(cap_);
    eof_ = remaining_ == 0;
    bom_pending_ = true;
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
      auto bigger = std::make_unique_for_overwrite<char[]>(cap);
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

enum class parse_result { row, ignored, bad };

inline bool blank_line(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

// Keeps reasons (which may quote a value) to a readable size, cut at a UTF-8 boundary.
inline void shorten(std::string& reason) {
  constexpr std::size_t max = 1024;
  if (reason.size() <= max) return;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
  reason.resize(cut);
  reason += "...";
}

inline bool check_utf8(std::string_view s, std::string& reason) {
  const auto at = sluice::detail::find_invalid_utf8(s);
  if (at == std::string_view::npos) return true;
  static constexpr char hex[] = "0123456789ABCDEF";
  const auto b = static_cast<unsigned char>(s[at]);
  reason = std::string("invalid UTF-8 (byte 0x") + hex[b >> 4] + hex[b & 15] + " at column " + std::to_string(at + 1) + ")";
  return false;
}

// One JSON object per line, into T with sl::from_json (fields by name, extra fields ignored).
// With SLUICE_HAS_SIMDJSON (CMake target sluice::simdjson), a line is first decoded by
// simdjson straight into T (about 2x faster: see docs/performance.md); a line it does not take
// (malformed, a missing field, anything unusual) goes through Boost.JSON as before, which
// accepts it or words the error.
template <class T>
class json_lines_parser {
 public:
  json_lines_parser() : resource_(initial_, sizeof initial_) {}
  json_lines_parser(const json_lines_parser&) = delete;
  json_lines_parser& operator=(const json_lines_parser&) = delete;

  parse_result parse(std::string_view rec, std::int64_t /*line*/, T& out, std::string& reason) {
#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
    if constexpr (fast_path) {
      if (fast_.decode_line(rec, out)) return parse_result::row;  // simdjson validated the UTF-8 too
    }
#endif
    if (blank_line(rec)) return parse_result::ignored;  // Spark skips blank lines
    if (!check_utf8(rec, reason)) return parse_result::bad;
    parse_result result = parse_result::row;
    {
      parser_.reset(boost::json::storage_ptr(&resource_));
      boost::system::error_code ec;
      const std::size_t at = parser_.write(rec.data(), rec.size(), ec);
      if (ec == boost::json::error::incomplete) {
        reason = "malformed JSON: incomplete JSON (the line ends inside a value)";
        result = parse_result::bad;
      } else if (ec) {
        reason = "malformed JSON: " + ec.message() + " at column " + std::to_string(at + 1);
        result = parse_result::bad;
      } else {
        const boost::json::value v = parser_.release();
        if (!v.is_object()) {
          reason = std::string("expected a JSON object, got ") + sluice::detail::json_kind_name(v);
          result = parse_result::bad;
        } else {
          try {
            if (!parser_.duplicates().empty()) {
              if (auto field = sluice::detail::json_duplicate_field<T>(parser_.duplicates()))
                throw schema_error(*field, "given twice in one object (a duplicate key)");
            }
            out = from_json<T>(v);
          } catch (const schema_error& e) {
            reason = e.what();
            result = parse_result::bad;
          }
        }
      }
      parser_.reset();  // drops what it held in resource_ before the release below
    }
    resource_.release();
    return result;
  }

 private:
  unsigned char initial_[8192];
  boost::json::monotonic_resource resource_;
  sluice::detail::json_parser parser_;  // Boost.JSON's, also finding repeated keys
#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
  struct no_fast_path {};
  static constexpr bool fast_path = sluice::detail::simd::enabled_for<T> && sluice::detail::simd::decodable<T>();
  std::conditional_t<fast_path, sluice::detail::simd::line_decoder<T>, no_fast_path> fast_;
#endif
};

// CSV records into T: by position, or by name from each file's header line.
template <class T>
class csv_parser {
 public:
  csv_parser(csvd::dialect d, bool header) : dialect_(d), header_(header) {}

  parse_result parse(std::string_view rec, std::int64_t line, T& out, std::string& reason) {
    if (rec.empty() || rec == "\r") return parse_result::ignored;  // Spark skips empty lines
    const bool is_header = header_ && !header_seen_;
    if (is_header) {
      header_seen_ = true;
      header_line_ = line;
    }
    auto bad = [&] {
      if (is_header) {
        header_bad_ = true;
        header_reason_ = reason;
      }
      return parse_result::bad;
    };
    if (!is_header && header_bad_) {
      reason = "not read: the file's header (line " + std::to_string(header_line_) + ") is bad: " + header_reason_;
      return parse_result::bad;
    }
    if (!check_utf8(rec, reason)) return bad();
    if (!csvd::split_record(rec, dialect_, fields_, scratch_, reason)) return bad();
    if (is_header) {
      if (!mapping_.from_header(fields_, reason)) return bad();
      return parse_result::ignored;
    }
    try {
      if (!mapping_.convert(fields_, out, reason)) return parse_result::bad;
    } catch (const schema_error& e) {
      reason = e.what();
      return parse_result::bad;
    }
    return parse_result::row;
  }

 private:
  csvd::dialect dialect_;
  bool header_;
  bool header_seen_ = false, header_bad_ = false;
  std::int64_t header_line_ = 0;
  std::string header_reason_;
  std::vector<csvd::field> fields_;
  std::string scratch_;
  csvd::column_mapping<T> mapping_;
};

// ---------------------------------------------------------------- parallel decoding of lines
// A large JSON-lines file is read in blocks of whole lines; each block is cut at line
// boundaries into a few pieces per thread: the first decoded on the calling thread, which
// emits its rows as it goes, the others claimed in turn by the helper threads and the calling
// thread (each with its own parser) into row vectors, emitted afterwards in file order. Rows,
// bad records and their line numbers come out exactly as from the single-threaded loop; under
// bad_record::fail the first bad record in file order is the one reported (a later chunk's
// rows are never emitted past it).

// Below these sizes one thread decodes: a thread costs about 25 us to start and join, 256 KiB
// about 0.6 ms to decode, and splitting 64 KiB measured slower than not (docs/performance.md,
// "JSON decoding").
inline constexpr std::int64_t parallel_min_file_bytes = 1 << 20;
inline constexpr std::size_t parallel_min_chunk_bytes = 256u << 10;
// The buffer holds this much per thread: few blocks per file, and memory bounded however
// large the file.
inline constexpr std::size_t parallel_block_bytes_per_thread = 4u << 20;
inline constexpr std::size_t max_default_decode_threads = 8;
// A block is cut into up to this many pieces per thread (each at least parallel_min_chunk_bytes).
inline constexpr std::size_t parallel_pieces_per_thread = 4;

// decode_threads 0: one per core, at most max_default_decode_threads.
inline std::size_t resolve_decode_threads(std::size_t requested) {
  if (requested > 0) return requested;
  return std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, max_default_decode_threads);
}

// How many threads decode a file of `size` bytes (1: the single-threaded loop).
inline std::size_t decode_threads_for(std::size_t requested, std::int64_t size) {
  return size < parallel_min_file_bytes ? 1 : resolve_decode_threads(requested);
}

// record_reader's block_bytes for `threads` decoding threads (0, its default, for one).
inline std::size_t decode_block_bytes(std::size_t threads) {
  return threads > 1 ? threads * parallel_block_bytes_per_thread : 0;
}

// `text` cut into at most `n` non-empty pieces, each ending with a '\n' (the last one: where
// `text` ends).
inline void split_at_lines(std::string_view text, std::size_t n, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t begin = 0;
  for (std::size_t k = 1; k < n && begin < text.size(); ++k) {
    const std::size_t target = text.size() / n * k;
    if (target == 0) continue;
    const std::size_t from = std::max(begin, target - 1);  // a line that starts at the target starts the piece
    const void* nl = std::memchr(text.data() + from, '\n', text.size() - from);
    if (nl == nullptr) break;
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - text.data()) + 1;
    out.push_back(text.substr(begin, end - begin));
    begin = end;
  }
  if (begin < text.size()) out.push_back(text.substr(begin));
}

// Decodes the lines of `text`, the first being line `first_line`, as record_reader::next and
// the single-threaded loop do: on_row(T&&) per row; on_bad(line, oversize, reason, bytes) per
// bad record (oversize: longer than max_line_bytes, reason empty), which returns false to stop.
// Returns the number of lines read.
template <class T, class Parser, class OnRow, class OnBad>
std::int64_t decode_lines(std::string_view text, std::int64_t first_line, Parser& parser, std::size_t max_line_bytes,
                          OnRow&& on_row, OnBad&& on_bad, std::stop_token stop = {}) {
  const char* p = text.data();
  const char* const end = p + text.size();
  std::int64_t line = first_line;
  std::string reason;
  T row{};
  while (p < end) {
    if ((line & 1023) == 0 && stop.stop_requested()) break;  // the block failed before this chunk
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const std::string_view rec(p, static_cast<std::size_t>((nl ? nl : end) - p));
    p = nl ? nl + 1 : end;
    const std::int64_t at = line++;
    if (rec.size() > max_line_bytes) {
      if (!on_bad(at, true, std::string(), rec)) break;
      continue;
    }
    switch (parser.parse(rec, at, row, reason)) {
      case parse_result::row: on_row(std::move(row)); break;
      case parse_result::ignored: break;
      case parse_result::bad:
        if (!on_bad(at, false, std::move(reason), rec)) return line - first_line;
        break;
    }
  }
  return line - first_line;
}

// What a helper thread decoded from one chunk, lines counted from 0 within it.
template <class T>
struct decoded_chunk {
  struct bad_line {
    std::size_t rows_before;  // rows of the chunk that come before it
    std::int64_t line;
    bool oversize;
    std::string reason;
    std::string_view bytes;
  };
  std::vector<T> rows;
  std::vector<bad_line> bad;
  std::exception_ptr error;  // thrown after the rows and bad lines above
  std::int64_t lines = 0;
  void clear() {
    rows.clear();
    bad.clear();
    error = nullptr;
    lines = 0;
  }
};

// Reads a JSON-lines file (`reader` in block mode) with its blocks decoded on up to `threads`
// threads. `parser` is the calling thread's, make_parser() makes the others'. A line longer
// than the buffer is handed to on_record as record_reader::next returns it (the caller reads
// it as the single-threaded loop does). stop_at_bad: bad records fail the read, so a helper
// stops at its first one. (min_chunk_bytes: benchmarks/decode_json.cpp measures below it.)
template <class T, class Parser, class MakeParser, class OnRecord, class OnRow, class OnBad>
void read_lines_in_parallel(record_reader& reader, std::size_t threads, std::size_t max_line_bytes, bool stop_at_bad,
                            Parser& parser, MakeParser&& make_parser, OnRecord&& on_record, OnRow&& on_row,
                            OnBad&& on_bad, std::size_t min_chunk_bytes = parallel_min_chunk_bytes) {
  std::vector<decltype(make_parser())> helper_parsers;  // kept from block to block
  std::vector<decoded_chunk<T>> chunks;
  std::vector<std::string_view> pieces;
  record_reader::block b;
  record_reader::record r;
  while (true) {
    if (!reader.next_block(b)) {
      if (!reader.next(r)) return;
      on_record(r);
      continue;
    }
    // More pieces than threads, claimed in turn by whichever thread is free: on a busy machine a
    // helper that is not scheduled holds up at most the one piece it took, and the calling
    // thread decodes the rest itself instead of waiting.
    split_at_lines(b.bytes,
                   std::clamp<std::size_t>(b.bytes.size() / std::max<std::size_t>(min_chunk_bytes, 1), 1,
                                           threads * parallel_pieces_per_thread),
                   pieces);
    const std::size_t claimed = pieces.size() - 1;  // pieces 1.. go to chunks[0..]
    const std::size_t helpers = std::min(threads - 1, claimed);
    if (chunks.size() < claimed) chunks.resize(claimed);
    while (helper_parsers.size() < helpers) helper_parsers.push_back(make_parser());
    std::atomic<std::size_t> next_piece{0};
    auto decode_piece = [&](std::size_t i, auto& piece_parser, std::stop_token stop) {
      auto& out = chunks[i];
      out.clear();
      try {
        out.lines = decode_lines<T>(
            pieces[i + 1], 0, piece_parser, max_line_bytes, [&](T&& row) { out.rows.push_back(std::move(row)); },
            [&](std::int64_t line, bool oversize, std::string&& reason, std::string_view bytes) {
              out.bad.push_back({out.rows.size(), line, oversize, std::move(reason), bytes});
              return !stop_at_bad;
            },
            stop);
      } catch (...) {
        out.error = std::current_exception();
      }
    };
    std::int64_t lines = 0;
    {
      std::vector<std::jthread> workers;  // declared last: stopped and joined first, also when on_bad throws
      workers.reserve(helpers);
      for (std::size_t h = 0; h < helpers; ++h) {
        workers.emplace_back([&, h](std::stop_token stop) {
          for (std::size_t i; !stop.stop_requested() && (i = next_piece.fetch_add(1)) < claimed;)
            decode_piece(i, *helper_parsers[h], stop);
        });
      }
      lines = decode_lines<T>(pieces[0], b.first_line, parser, max_line_bytes, on_row,
                              [&](std::int64_t line, bool oversize, std::string&& reason, std::string_view bytes) {
                                on_bad(line, oversize, std::move(reason), bytes);
                                return true;
                              });
      for (std::size_t i; (i = next_piece.fetch_add(1)) < claimed;) decode_piece(i, parser, {});
      for (auto& w : workers) w.join();  // not the destructor's join: that asks them to stop
    }
    for (std::size_t i = 0; i < claimed; ++i) {  // in file order, numbering lines after the chunks before
      auto& c = chunks[i];
      const std::int64_t base = b.first_line + lines;
      std::size_t next_row = 0;
      for (auto& bad : c.bad) {
        while (next_row < bad.rows_before) on_row(std::move(c.rows[next_row++]));
        on_bad(base + bad.line, bad.oversize, std::move(bad.reason), bad.bytes);
      }
      while (next_row < c.rows.size()) on_row(std::move(c.rows[next_row++]));
      if (c.error) std::rethrow_exception(c.error);
      lines += c.lines;
    }
    reader.end_block(lines);
  }
}

struct json_lines_format {
  static constexpr std::string_view name = "json";
  static constexpr bool records_are_lines = true;  // so a file can be cut at any '\n'
  std::optional<csvd::dialect> scanner_dialect() const { return std::nullopt; }
  template <class T>
  std::unique_ptr<json_lines_parser<T>> make_parser() const {
    return std::make_unique<json_lines_parser<T>>();
  }
};

struct csv_format {
  static constexpr std::string_view name = "csv";
  static constexpr bool records_are_lines = false;  // a quoted field may hold newlines
  csvd::dialect dialect;
  bool header = false;
  std::optional<csvd::dialect> scanner_dialect() const { return dialect; }
  template <class T>
  std::unique_ptr<csv_parser<T>> make_parser() const {
    return std::make_unique<csv_parser<T>>(dialect, header);
  }
};

struct settings {
  std::filesystem::path dir;
  std::string glob;
  std::int64_t max_files_per_trigger = 0;
  bool latest_first = false;
  duration max_file_age{};
  bad_record_policy on_bad_record;
  std::size_t max_line_bytes = default_max_line_bytes;
  std::size_t decode_threads = 1;
  std::int64_t log_compact_interval = 10;
  duration log_cleanup_delay{};
  warning_handler on_warning;
};

template <class Options>
settings make_settings(std::string_view what, std::filesystem::path dir, const Options& o) {
  auto fail = [&](const std::string& m) { throw std::invalid_argument("sluice::files::" + std::string(what) + ": " + m); };
  if (dir.empty()) fail("the directory is empty");
  if (o.glob.empty()) fail("glob is empty (use \"*\" for every file)");
  if (o.max_files_per_trigger < 0) fail("max_files_per_trigger must be >= 0 (0: no limit)");
  if (o.max_line_bytes == 0) fail("max_line_bytes must be positive");
  if (o.max_file_age.count() <= 0) fail("max_file_age must be positive");
  if (o.log_compact_interval < 1) fail("log_compact_interval must be >= 1");
  if (o.log_cleanup_delay.count() < 0) fail("log_cleanup_delay must be >= 0");
  if (o.on_bad_record.which() == bad_record_policy::kind::dead_letter) {
    if (o.on_bad_record.dir().empty()) fail("dead_letter needs a directory");
    auto normal = [](const std::filesystem::path& p, std::error_code& ec) {
      auto n = std::filesystem::weakly_canonical(p, ec);
      return n.has_filename() ? n : n.parent_path();  // "in/" names the same directory as "in"
    };
    std::error_code ec1, ec2;
    const auto a = normal(dir, ec1), b = normal(o.on_bad_record.dir(), ec2);
    if (!ec1 && !ec2 && a == b) fail("the dead-letter directory must not be the input directory");
  }
  std::size_t decode_threads = 1;
  if constexpr (requires { o.decode_threads; }) decode_threads = o.decode_threads;
  return {std::move(dir), o.glob, o.max_files_per_trigger, o.latest_first, o.max_file_age, o.on_bad_record,
          o.max_line_bytes, decode_threads, o.log_compact_interval, o.log_cleanup_delay, o.on_warning};
}

// The source log of a file source, `<checkpoint>/sources/<n>/`, after Spark's
// FileStreamSourceLog (a CompactibleFileStreamLog): file batch N is the file "N" (JSON lines
// {path, size, mtime, batchId}, one per file taken), except every compact_interval-th batch
// (N + 1 a multiple of it), which is "N.compact": every entry of batches 0..N. A restart reads
// the latest compact file and the batches after it. After writing a compact file, files of
// batches before the compaction that precedes the last min_batches_to_retain batches are
// deleted once they are cleanup_delay old; a crash between the two leaves files that the
// next compaction deletes (a compact file supersedes them, so they are never read).
class source_log {
 public:
  source_log(std::filesystem::path dir, std::filesystem::path input_dir, std::string query_id,
             std::int64_t default_interval, std::int64_t min_retain, duration cleanup_delay)
      : dir_(std::move(dir)),
        input_dir_(std::move(input_dir)),
        query_id_(std::move(query_id)),
        min_retain_(std::max<std::int64_t>(1, min_retain)),
        delay_(cleanup_delay) {
    scan();
    interval_ = derive_interval(default_interval);
  }

  std::int64_t interval() const { return interval_; }
  // The last batch logged, -1 for none.
  std::int64_t last() const { return last_; }

  // Every entry of batches 0..last(): the latest compact file and the batches after it.
  std::vector<file_entry> all() const { return entries_up_to(last_); }

  // The entries of batch n (read from a compact file when n's own file is one or is gone).
  std::vector<file_entry> get(std::int64_t n) const {
    std::optional<std::int64_t> from_compact;
    if (compacts_.contains(n)) from_compact = n;
    else if (!deltas_.contains(n)) {
      const auto it = compacts_.lower_bound(n);  // a later compaction holds it
      if (it == compacts_.end())
        throw checkpoint_error("source log " + dir_.string() + " lacks entry " + std::to_string(n));
      from_compact = *it;
    }
    if (!from_compact) return read(dir_ / std::to_string(n), n);
    auto all = read(dir_ / (std::to_string(*from_compact) + ".compact"), *from_compact);
    std::erase_if(all, [n](const file_entry& f) { return f.batch != n; });
    return all;
  }

  // Logs batch n = last() + 1.
  void add(std::int64_t n, const std::vector<file_entry>& files) {
    if ((n + 1) % interval_ != 0) {
      write_checkpoint_file(dir_ / std::to_string(n), text(files, n), query_id_);
      deltas_.insert(n);
      last_ = n;
      return;
    }
    auto all = n > 0 ? entries_up_to(n - 1) : std::vector<file_entry>{};
    for (const auto& f : files) {
      all.push_back(f);
      all.back().batch = n;
    }
    write_checkpoint_file(dir_ / (std::to_string(n) + ".compact"), text(all, n), query_id_);
    compacts_.insert(n);
    last_ = n;
    sluice::detail::crash_point("file_source_log_compacted");
    delete_expired(n);
  }

 private:
  static bool digits(std::string_view s) {
    return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  }

  void scan() {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::directory_iterator it(dir_, ec);
    if (ec) return;  // no log yet
    for (const fs::directory_iterator end; it != end; it.increment(ec)) {
      if (ec) throw checkpoint_error("cannot list the source log " + dir_.string() + ": " + ec.message());
      const std::string name = it->path().filename().string();
      constexpr std::string_view suffix = ".compact";
      if (digits(name)) deltas_.insert(std::stoll(name));
      else if (name.size() > suffix.size() && name.ends_with(suffix) && digits(name.substr(0, name.size() - suffix.size())))
        compacts_.insert(std::stoll(name.substr(0, name.size() - suffix.size())));
    }
    if (!deltas_.empty()) last_ = *deltas_.rbegin();
    if (!compacts_.empty()) last_ = std::max(last_, *compacts_.rbegin());
  }

  // Spark's compactInterval: the configured one, unless compact files already exist: then the
  // distance between the last two, or a divisor of (latest + 1) no smaller than the default.
  std::int64_t derive_interval(std::int64_t configured) const {
    if (compacts_.size() >= 2) {
      auto it = compacts_.rbegin();
      const auto latest = *it++;
      return latest - *it;
    }
    if (compacts_.size() == 1) {
      const auto n = *compacts_.begin() + 1;
      if (n <= configured) return n;
      for (std::int64_t i = configured; i <= n / 2; ++i)
        if (n % i == 0) return i;
      return n;
    }
    return configured;
  }

  // Entries of batches 0..n: the latest compact file at or before n, then every batch after it.
  std::vector<file_entry> entries_up_to(std::int64_t n) const {
    std::vector<file_entry> out;
    std::int64_t next = 0;
    if (auto it = compacts_.upper_bound(n); it != compacts_.begin()) {
      const auto c = *std::prev(it);
      out = read(dir_ / (std::to_string(c) + ".compact"), c);
      next = c + 1;
    }
    for (std::int64_t b = next; b <= n; ++b) {
      if (!deltas_.contains(b))
        throw checkpoint_error("source log " + dir_.string() + " lacks entry " + std::to_string(b) +
                               " (it holds entries up to " + std::to_string(last_) + ")");
      for (auto& f : read(dir_ / std::to_string(b), b)) out.push_back(std::move(f));
    }
    return out;
  }

  // Spark's deleteExpiredLog: keep the compaction before the last min_retain batches and
  // everything after it; delete older files once cleanup_delay old.
  void delete_expired(std::int64_t n) {
    if (interval_ > n + 1 - min_retain_) return;
    const std::int64_t min_batch = n + 1 - min_retain_;
    const std::int64_t min_compaction = min_batch - min_batch % interval_ - 1;
    const auto expired = std::filesystem::file_time_type::clock::now() - delay_;
    auto drop = [&](std::set<std::int64_t>& ids, bool compact) {
      for (auto it = ids.begin(); it != ids.end() && *it < min_compaction;) {
        const auto p = dir_ / (std::to_string(*it) + (compact ? ".compact" : ""));
        std::error_code ec;
        const auto t = std::filesystem::last_write_time(p, ec);
        if (!ec && t <= expired && std::filesystem::remove(p, ec)) it = ids.erase(it);
        else ++it;
      }
    };
    drop(deltas_, false);
    drop(compacts_, true);
  }

  std::string text(const std::vector<file_entry>& files, std::int64_t fallback_batch) const {
    std::string out;
    for (const auto& f : files) {
      boost::json::object o;
      o["path"] = (input_dir_ / f.name).string();
      o["size"] = f.size;
      o["mtime"] = f.mtime;
      o["batchId"] = f.batch >= 0 ? f.batch : fallback_batch;
      out += boost::json::serialize(o);
      out += '\n';
    }
    return out;
  }

  // Every entry is verified (checksum and query id: read_checkpoint_file).
  std::vector<file_entry> read(const std::filesystem::path& path, std::int64_t file_batch) const {
    const std::string text = read_checkpoint_file(path, query_id_);
    std::vector<file_entry> files;
    std::size_t pos = 0;
    std::int64_t line = 0;
    while (pos < text.size()) {
      const auto nl = text.find('\n', pos);
      const std::string_view l =
          std::string_view(text).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? text.size() : nl + 1;
      ++line;
      if (l.empty()) continue;
      try {
        const auto v = boost::json::parse(l);
        const auto& o = v.as_object();
        const std::string p(o.at("path").as_string());
        const auto* b = o.if_contains("batchId");  // absent in logs written before compaction
        files.push_back({std::filesystem::path(p).filename().string(), o.at("size").to_number<std::int64_t>(),
                         o.at("mtime").to_number<std::int64_t>(), b ? b->to_number<std::int64_t>() : file_batch});
      } catch (const std::exception& e) {
        throw checkpoint_error(path.string() + ":" + std::to_string(line) + ": corrupt source log entry (" + e.what() +
                               ")");
      }
    }
    return files;
  }

  std::filesystem::path dir_, input_dir_;
  std::string query_id_;  // in each file's trailer (write_checkpoint_file)
  std::int64_t min_retain_;
  duration delay_;
  std::int64_t interval_ = 10;
  std::int64_t last_ = -1;
  std::set<std::int64_t> deltas_, compacts_;
};

template <class T>
consteval bool csv_columns_supported() {
  return []<class... C>(boost::mp11::mp_list<C...>) { return (csvd::column_type_v<typename C::type> && ...); }(
             columns_of<T>{});
}
}  // namespace detail

// ---------------------------------------------------------------- the source
// A shared handle (like sl::memory_stream): keep a copy to read metrics() while the query
// runs. Use one source object per query; open() (called by the engine when a query starts)
// resets it to the query's own source log.
template <class T, class Format>
class file_source {
 public:
  using row_type = T;
  using offset_type = offset;
  using partition_type = partition;

  file_source(detail::settings s, Format f) : state_(std::make_shared<state>(std::move(s), std::move(f))) {}

  // The query's source log in `<checkpoint_dir>` (detail::source_log: a file per file batch,
  // compacted every log_compact_interval batches); without a checkpoint dir the log is kept
  // in memory. Loads an existing log, so files it names are not taken again.
  void open(const source_context& ctx) {
    auto& s = *state_;
    std::lock_guard lock(s.mutex);
    s.log_dir = ctx.checkpoint_dir;
    s.log.reset();
    s.batches.clear();
    s.seen.clear();
    s.watched.clear();
    s.last_check.reset();
    s.last_logged = -1;
    s.latest_mtime = std::numeric_limits<std::int64_t>::min();
    s.purge_threshold = std::numeric_limits<std::int64_t>::min();
    s.available_now.reset();
    if (s.log_dir.empty()) return;
    s.log.emplace(s.log_dir, s.cfg.dir, ctx.query_id, s.cfg.log_compact_interval, ctx.min_batches_to_retain, s.cfg.log_cleanup_delay);
    const auto now = detail::now_us();
    for (const auto& f : s.log->all()) {
      s.seen_add(f);
      s.watch(f, now);
    }
    s.last_logged = s.log->last();
    s.purge();
  }

  offset initial_offset() { return {-1}; }

  offset latest_offset(const offset& start, read_limit limit) {
    auto& s = *state_;
    std::lock_guard lock(s.mutex);
    if (start.batch > s.last_logged)
      throw checkpoint_error(description() + ": the query's offset is file batch " + std::to_string(start.batch) +
                             " but the source log " + (s.log_dir.empty() ? std::string("(in memory)") : s.log_dir.string()) +
                             " ends at " + std::to_string(s.last_logged));
    // Logged before (a batch planned again, or after a restart): never listed again.
    if (start.batch < s.last_logged) return {start.batch + 1};

    check_taken_files(s);
    std::vector<detail::file_entry> files =
        s.available_now ? *s.available_now : s.list_directory();
    std::erase_if(files, [&](const detail::file_entry& f) { return !s.is_new(f); });
    if (files.empty()) return start;
    std::sort(files.begin(), files.end(), [latest = s.cfg.latest_first](const auto& a, const auto& b) {
      if (a.mtime != b.mtime) return latest ? a.mtime > b.mtime : a.mtime < b.mtime;
      return latest ? a.name > b.name : a.name < b.name;
    });
    const auto cap = s.cfg.max_files_per_trigger;
    if (!limit.all && cap > 0 && files.size() > static_cast<std::size_t>(cap)) files.resize(static_cast<std::size_t>(cap));

    const std::int64_t n = s.last_logged + 1;
    for (auto& f : files) f.batch = n;
    if (s.log) s.log->add(n, files);
    const auto now = detail::now_us();
    for (const auto& f : files) {
      s.seen_add(f);
      s.watch(f, now);
    }
    s.purge();
    s.batches[n] = std::move(files);
    s.last_logged = n;
    return {n};
  }

  // One partition per file of file batches start+1 .. end.
  std::vector<partition> partitions(const offset& start, const offset& end) {
    auto& s = *state_;
    std::lock_guard lock(s.mutex);
    std::vector<partition> parts;
    for (std::int64_t b = start.batch + 1; b <= end.batch; ++b) {
      auto it = s.batches.find(b);
      if (it == s.batches.end()) {
        if (!s.log || b > s.last_logged)
          throw checkpoint_error(description() + ": file batch " + std::to_string(b) +
                                 " is not in the source log (use one source object per query)");
        it = s.batches.emplace(b, s.log->get(b)).first;
      }
      for (const auto& f : it->second) parts.push_back({s.cfg.dir / f.name, f.size, f.mtime, b});
    }
    return parts;
  }

  // Reads one file; may run concurrently for different partitions.
  template <class Emit>
  void read(const partition& p, Emit&& emit) {
    const auto& cfg = state_->cfg;
    const std::string display = p.path.string();
    const auto policy = cfg.on_bad_record.which();
    std::size_t threads = 1;
    if constexpr (Format::records_are_lines) threads = detail::decode_threads_for(cfg.decode_threads, p.size);
    detail::record_reader reader(p.path, p.size, cfg.max_line_bytes, state_->format.scanner_dialect(),
                                 detail::decode_block_bytes(threads));
    auto parser = state_->format.template make_parser<T>();
    std::optional<detail::dead_letters> dlq;
    if (policy == bad_record_policy::kind::dead_letter)
      dlq.emplace(cfg.on_bad_record.dir(), p.path.filename().string(), display);

    std::int64_t rows = 0, skipped = 0;
    auto bad = [&](std::int64_t line, std::string reason, std::string_view bytes) {
      detail::shorten(reason);
      if (policy == bad_record_policy::kind::fail) throw bad_record_error(display, line, std::move(reason));
      if (dlq) {
        dlq->bytes(bytes);
        dlq->end_record(line, reason);
      } else {
        ++skipped;
      }
    };

    const std::string limit = "max_line_bytes (" + std::to_string(cfg.max_line_bytes) + ")";
    auto oversize = [&](std::int64_t line, std::string_view bytes, std::size_t total) {
      if (policy == bad_record_policy::kind::fail) throw bad_record_error(display, line, "line longer than " + limit);
      bad(line, "line of " + std::to_string(total) + " bytes is longer than " + limit, bytes);
    };
    std::string reason;
    T row{};
    auto read_record = [&](detail::record_reader::record& r) {
      if (r.oversize) {
        if (policy == bad_record_policy::kind::fail) oversize(r.line, {}, 0);
        std::size_t total = r.bytes.size();
        if (dlq) dlq->bytes(r.bytes);
        reader.finish_oversize([&](std::string_view chunk) {
          total += chunk.size();
          if (dlq) dlq->bytes(chunk);
        });
        oversize(r.line, {}, total);
        return;
      }
      switch (parser->parse(r.bytes, r.line, row, reason)) {
        case detail::parse_result::row:
          ++rows;
          emit(std::move(row));
          break;
        case detail::parse_result::ignored: break;
        case detail::parse_result::bad: bad(r.line, std::move(reason), r.bytes); break;
      }
    };
    if (threads > 1) {  // only for records_are_lines
      if constexpr (Format::records_are_lines)
        detail::read_lines_in_parallel<T>(
            reader, threads, cfg.max_line_bytes, policy == bad_record_policy::kind::fail, *parser,
            [&] { return state_->format.template make_parser<T>(); }, read_record,
            [&](T&& r) {
              ++rows;
              emit(std::move(r));
            },
            [&](std::int64_t line, bool too_long, std::string&& why, std::string_view bytes) {
              if (too_long) oversize(line, bytes, bytes.size());
              else bad(line, std::move(why), bytes);
            });
    } else {
      detail::record_reader::record r;
      while (reader.next(r)) read_record(r);
    }
    if (dlq) dlq->commit();
    auto& m = state_->metrics;
    m.files_read.fetch_add(1, std::memory_order_relaxed);
    m.rows.fetch_add(rows, std::memory_order_relaxed);
    m.skipped.fetch_add(skipped, std::memory_order_relaxed);
    m.dead_lettered.fetch_add(dlq ? dlq->count() : 0, std::memory_order_relaxed);
  }

  // Files of committed batches are not read again: forget their lists (the log on disk,
  // and the set of taken files, stay).
  void commit(const offset& end) {
    auto& s = *state_;
    std::lock_guard lock(s.mutex);
    s.batches.erase(s.batches.begin(), s.batches.upper_bound(end.batch));
  }

  // Trigger available-now: later batches take only files listed now (in
  // max_files_per_trigger slices), as Spark's FileStreamSource does.
  void prepare_for_available_now() {
    auto& s = *state_;
    std::lock_guard lock(s.mutex);
    s.available_now = s.list_directory();
  }

  std::string description() const { return "FileStreamSource[" + state_->cfg.dir.string() + "]"; }

  source_metrics metrics() const {
    const auto& m = state_->metrics;
    return {m.files_read.load(), m.rows.load(), m.skipped.load(), m.dead_lettered.load(), m.changed.load()};
  }
  // The source's `metrics` in query progress (Spark's SourceProgress.metrics).
  std::map<std::string, std::string> progress_metrics() const {
    return {{"numFilesChangedAfterRead", std::to_string(state_->metrics.changed.load())}};
  }
  const std::filesystem::path& directory() const { return state_->cfg.dir; }

 private:
  struct atomic_metrics {
    std::atomic<std::int64_t> files_read{0}, rows{0}, skipped{0}, dead_lettered{0}, changed{0};
  };
  // How long after its last modification a taken file is checked for changes, and how often.
  static constexpr duration watch_window = std::chrono::minutes{1};
  static constexpr duration check_interval = std::chrono::seconds{1};

  struct state {
    state(detail::settings s, Format f) : cfg(std::move(s)), format(std::move(f)) {
      // Spark: with latestFirst and maxFilesPerTrigger, old files may still be due: no age limit.
      max_age = cfg.latest_first && cfg.max_files_per_trigger > 0 ? std::numeric_limits<std::int64_t>::max()
                                                                  : cfg.max_file_age.count();
    }
    detail::settings cfg;
    Format format;
    std::int64_t max_age;
    std::mutex mutex;
    std::filesystem::path log_dir;
    std::optional<detail::source_log> log;  // with a checkpoint
    std::map<std::int64_t, std::vector<detail::file_entry>> batches;  // logged, not committed
    // Taken files still being checked for changes (check_taken_files), by name.
    std::unordered_map<std::string, detail::file_entry> watched;
    std::optional<std::int64_t> last_check;  // when check_taken_files last ran
    std::int64_t last_logged = -1;
    // Spark's SeenFilesMap: taken files by name, forgotten once older than the age limit
    // (files that old are not new anyway).
    std::unordered_map<std::string, std::int64_t> seen;
    std::int64_t latest_mtime = std::numeric_limits<std::int64_t>::min();
    std::int64_t purge_threshold = std::numeric_limits<std::int64_t>::min();
    std::optional<std::vector<detail::file_entry>> available_now;
    atomic_metrics metrics;

    // Names taken already are not new: no need to stat them.
    std::vector<detail::file_entry> list_directory() const {
      return detail::list_directory(cfg.dir, cfg.glob, [&](const std::string& name) { return seen.contains(name); });
    }
    bool is_new(const detail::file_entry& f) const { return f.mtime >= purge_threshold && !seen.contains(f.name); }
    // A file modified less than watch_window before it was taken may still be being written.
    void watch(const detail::file_entry& f, std::int64_t now) {
      if (now - f.mtime < watch_window.count()) watched[f.name] = f;
    }
    void seen_add(const detail::file_entry& f) {
      seen[f.name] = f.mtime;
      latest_mtime = std::max(latest_mtime, f.mtime);
    }
    void purge() {
      if (latest_mtime == std::numeric_limits<std::int64_t>::min()) return;
      if (max_age == std::numeric_limits<std::int64_t>::max() ||
          latest_mtime < std::numeric_limits<std::int64_t>::min() + max_age)
        return;
      purge_threshold = latest_mtime - max_age;
      std::erase_if(seen, [&](const auto& kv) { return kv.second < purge_threshold; });
    }
  };

  // A file must be complete when it appears (written elsewhere and renamed in): it is read up
  // to the size it had when taken. One written in place may be taken before it is complete;
  // planning checks the files taken recently (modified within watch_window of being taken,
  // until unchanged for that long), at most once a second (an idle query plans every few
  // milliseconds), and reports one whose size or modification time differs: counted
  // (numFilesChangedAfterRead) and a warning. Its later bytes are not read.
  static void check_taken_files(state& s) {
    if (s.watched.empty()) return;
    const auto now = detail::now_us();
    if (s.last_check && now - *s.last_check < check_interval.count()) return;
    s.last_check = now;
    for (auto it = s.watched.begin(); it != s.watched.end();) {
      const auto& f = it->second;
      struct ::stat st {};
      const auto path = s.cfg.dir / f.name;
      if (::stat(path.c_str(), &st) != 0) {  // gone: deleting read files is fine
        it = s.watched.erase(it);
        continue;
      }
      const std::int64_t size = st.st_size;
      const std::int64_t mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000 + st.st_mtim.tv_nsec / 1000;
      if (size == f.size && mtime == f.mtime) {
        if (now - mtime >= watch_window.count()) it = s.watched.erase(it);
        else ++it;
        continue;
      }
      s.metrics.changed.fetch_add(1, std::memory_order_relaxed);
      const std::string message =
          "FileStreamSource[" + s.cfg.dir.string() + "]: " + path.string() + " changed after file batch " +
          std::to_string(f.batch) + " took it (size " + std::to_string(f.size) + " -> " + std::to_string(size) +
          " bytes, modified " + format_timestamp(timestamp{f.mtime}) + " -> " + format_timestamp(timestamp{mtime}) +
          "): the query read its first " + std::to_string(f.size) +
          " bytes only. Files must be complete when they appear: write them elsewhere and rename them into the "
          "directory";
      if (s.cfg.on_warning) s.cfg.on_warning(message);
      else std::fprintf(stderr, "sluice: warning: %s\n", message.c_str());
      it = s.watched.erase(it);  // reported once
    }
  }

  std::shared_ptr<state> state_;
};

template <class T>
using json_lines_source = file_source<T, detail::json_lines_format>;
template <class T>
using csv_source = file_source<T, detail::csv_format>;

// JSON lines files in `dir`, one T per line (sl::from_json: fields by name).
template <class T>
json_lines_source<T> json_lines(std::filesystem::path dir, json_lines_options options = {}) {
  static_assert(record<T>, "sluice::files::json_lines<T>: T must be a struct described with BOOST_DESCRIBE_STRUCT");
  return {detail::make_settings("json_lines", std::move(dir), options), {}};
}

// CSV files in `dir`, one T per record: columns by position, or by name with `header`.
template <class T>
csv_source<T> csv(std::filesystem::path dir, csv_options options = {}) {
  static_assert(record<T>, "sluice::files::csv<T>: T must be a struct described with BOOST_DESCRIBE_STRUCT");
  if constexpr (record<T>) {
    static_assert(detail::csv_columns_supported<T>(),
                  "sluice::files::csv<T>: CSV columns must be numbers, bool, std::string, sl::timestamp or "
                  "std::optional of those (CSV has no nested values)");
  }
  if (options.delimiter == options.quote) throw std::invalid_argument("sluice::files::csv: delimiter and quote must differ");
  for (char c : {options.delimiter, options.quote})
    if (c == '\n' || c == '\r') throw std::invalid_argument("sluice::files::csv: delimiter and quote cannot be newlines");
  return {detail::make_settings("csv", std::move(dir), options), {{options.delimiter, options.quote}, options.header}};
}

}  // namespace sluice::files

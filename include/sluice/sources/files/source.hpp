// sl::files::json_lines<T>(dir, options) and sl::files::csv<T>(dir, options): the file
// source itself (options, offsets, planning file batches, reading them). What it does is
// described at the top of sources/files.hpp, the header to include.
#pragma once
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <boost/describe.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../checkpoint/file_io.hpp"
#include "../../schema.hpp"
#include "../../time.hpp"
#include "../../engine/workers.hpp"
#include "../../graph/source.hpp"
#include "../../ops/current_time.hpp"
#include "../slices.hpp"
#include "bad_records.hpp"
#include "blocks.hpp"
#include "listing.hpp"
#include "parallel.hpp"
#include "parse.hpp"
#include "reader.hpp"
#include "source_log.hpp"

namespace sluice::files {

// ---------------------------------------------------------------- options
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
  // A batch's partitions (Spark's maxPartitionBytes and minPartitionNum): each file is one,
  // and a file larger than the block size is cut at line boundaries into blocks, each one
  // (rows, errors and their order as when it is read whole). The block size is
  // min(max_partition_bytes, max(4 MiB, B / min_partitions)), B the batch's bytes plus 4 MiB
  // per file; min_partitions 0: the query's parallelism.
  std::int64_t max_partition_bytes = default_max_partition_bytes;
  std::size_t min_partitions = 0;
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
  // true: a quoted field may hold newlines, and files are read whole (a cut cannot tell
  // whether it falls inside quotes). false (Spark's multiLine default): a record is one line,
  // a newline inside quotes ends it (an unterminated quoted field: a bad record), and a
  // large file is cut into blocks as json_lines_options says, with the same options.
  bool multi_line = true;
  std::int64_t max_partition_bytes = default_max_partition_bytes;
  std::size_t min_partitions = 0;
  // The source log and warnings: see above json_lines_options.
  std::int64_t log_compact_interval = 10;
  duration log_cleanup_delay = std::chrono::minutes{10};
  warning_handler on_warning{};
};

// ---------------------------------------------------------------- offsets, metrics
// The number of the last file batch taken (Spark's FileStreamSourceOffset.logOffset).
struct offset {
  std::int64_t batch = -1;
};
BOOST_DESCRIBE_STRUCT(offset, (), (batch))

// One file of a logged file batch, or one block of a large one.
struct partition {
  std::filesystem::path path;
  std::int64_t size = 0;   // bytes read: the size the file had when it was taken
  std::int64_t mtime = 0;  // microseconds since the epoch
  std::int64_t batch = 0;  // the file batch it belongs to
  // A block: the lines that start in bytes [begin, end) of the file, block `block` of
  // blocks->blocks(). Null: the whole file.
  std::int64_t begin = 0, end = 0;
  std::size_t block = 0;
  std::shared_ptr<detail::file_blocks> blocks{};
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
struct settings {
  std::filesystem::path dir;
  std::string glob;
  std::int64_t max_files_per_trigger = 0;
  bool latest_first = false;
  duration max_file_age{};
  bad_record_policy on_bad_record;
  std::size_t max_line_bytes = default_max_line_bytes;
  std::size_t decode_threads = 1;
  std::int64_t max_partition_bytes = 0;  // 0: files are not cut (CSV)
  std::size_t min_partitions = 0;
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
    if (o.on_bad_record.target().empty()) fail("dead_letter needs a directory");
    auto normal = [](const std::filesystem::path& p, std::error_code& ec) {
      auto n = std::filesystem::weakly_canonical(p, ec);
      return n.has_filename() ? n : n.parent_path();  // "in/" names the same directory as "in"
    };
    std::error_code ec1, ec2;
    const auto a = normal(dir, ec1), b = normal(o.on_bad_record.target(), ec2);
    if (!ec1 && !ec2 && a == b) fail("the dead-letter directory must not be the input directory");
  }
  std::size_t decode_threads = 1;
  if constexpr (requires { o.decode_threads; }) decode_threads = o.decode_threads;
  std::int64_t max_partition_bytes = 0;
  std::size_t min_partitions = 0;
  if constexpr (requires { o.max_partition_bytes; }) {
    if (o.max_partition_bytes <= 0) fail("max_partition_bytes must be positive");
    max_partition_bytes = o.max_partition_bytes;
    min_partitions = o.min_partitions;
  }
  return {std::move(dir), o.glob, o.max_files_per_trigger, o.latest_first, o.max_file_age, o.on_bad_record,
          o.max_line_bytes, decode_threads, max_partition_bytes, min_partitions, o.log_compact_interval,
          o.log_cleanup_delay, o.on_warning};
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
  static constexpr bool parallel_read = true;  // read() below may run for several files at once

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
    s.metrics.waiting = static_cast<std::int64_t>(files.size());  // numFilesWaiting, less this batch's below
    if (files.empty()) return start;
    std::sort(files.begin(), files.end(), [latest = s.cfg.latest_first](const auto& a, const auto& b) {
      if (a.mtime != b.mtime) return latest ? a.mtime > b.mtime : a.mtime < b.mtime;
      return latest ? a.name > b.name : a.name < b.name;
    });
    const auto cap = s.cfg.max_files_per_trigger;
    if (!limit.all && cap > 0 && files.size() > static_cast<std::size_t>(cap)) files.resize(static_cast<std::size_t>(cap));
    s.metrics.waiting -= static_cast<std::int64_t>(files.size());

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

  // One partition per file of file batches start+1 .. end, in order, a large file cut into
  // blocks (json_lines_options::max_partition_bytes; CSV without multi_line), in order. Which files a batch
  // takes, and so the offsets and the source log, do not depend on the blocks.
  std::vector<partition> partitions(const offset& start, const offset& end) {
    auto parts = whole_files(start, end);
    cut_into_blocks(parts);
    return parts;
  }

 private:
  std::vector<partition> whole_files(const offset& start, const offset& end) {
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

  // Spark's FilePartition.maxSplitBytes over the batch, the query's parallelism for
  // min_partitions 0 (detail::blocks_for: equal blocks, a multiple of it). Not for formats
  // whose records may span lines (max_partition_bytes 0: CSV with multi_line).
  void cut_into_blocks(std::vector<partition>& parts) const {
    const auto& cfg = state_->cfg;
    if (cfg.max_partition_bytes <= 0 || parts.empty()) return;
    std::size_t parallelism = 1;
    if (const batch_context* batch = sluice::detail::running_batch; batch != nullptr && batch->tasks != nullptr)
      parallelism = std::max<std::size_t>(batch->tasks->workers(), 1);
    std::int64_t total = 0;
    for (const auto& p : parts) total += p.size + detail::open_cost_bytes;
    const std::int64_t split =
        detail::max_split_bytes(cfg.max_partition_bytes, total, cfg.min_partitions > 0 ? cfg.min_partitions : parallelism);
    std::vector<partition> out;
    out.reserve(parts.size());
    for (auto& p : parts) {
      const std::size_t n = detail::compressed_name(p.path) ? 1 : detail::blocks_for(p.size, split, parallelism);
      if (n <= 1) {
        out.push_back(std::move(p));
        continue;
      }
      auto shared = std::make_shared<detail::file_blocks>(n);
      const auto cut = [&](std::size_t k) {
        return static_cast<std::int64_t>(static_cast<unsigned __int128>(p.size) * k / n);
      };
      for (std::size_t k = 0; k < n; ++k) out.push_back({p.path, p.size, p.mtime, p.batch, cut(k), cut(k + 1), k, shared});
    }
    parts = std::move(out);
  }

 public:
  // Reads one file, or one block of one; may run concurrently for different partitions.
  template <class Emit>
  void read(const partition& p, Emit&& emit) {
    const auto& cfg = state_->cfg;
    const std::string display = p.path.string();
    const auto policy = cfg.on_bad_record.which();
    // A block reads the lines that start in its bytes, numbered from 1 within it: its bad
    // records are numbered from the file's start by counting the lines before the block (under
    // fail), or by the blocks before it as they end (dead letters, detail::file_blocks).
    std::int64_t from = 0, to = p.size;
    std::optional<detail::raw_file> raw;
    if (p.blocks) {
      raw.emplace(p.path);
      from = detail::line_start_at(*raw, p.begin, p.size);
      to = std::max(from, detail::line_start_at(*raw, p.end, p.size));
    }
    auto line_in_file = [&](std::int64_t line) { return from > 0 ? line + detail::newlines_before(*raw, from) : line; };
    // A file read on a worker is one of the batch's partitions read at once: that worker decodes
    // it alone. A file read on the query's thread uses the query's workers when it has some
    // (their tasks, not threads of its own: graph/node.hpp), else decode_threads threads.
    std::size_t threads = 1;
    task_runner* tasks = nullptr;
    if constexpr (Format::records_are_lines) {
      if (!worker_pool::in_task()) {
        threads = detail::decode_threads_for(cfg.decode_threads, to - from);
        const batch_context* batch = sluice::detail::running_batch;
        if (threads > 1 && batch != nullptr && batch->tasks != nullptr && batch->tasks->workers() > 1) {
          tasks = batch->tasks;
          if (cfg.decode_threads == 0) threads = tasks->workers();
        }
      }
    }
    detail::record_reader reader(p.path, to - from, cfg.max_line_bytes, state_->format.scanner_dialect(),
                                 detail::decode_block_bytes(threads), from);
    auto parser = state_->format.template make_parser<T>();
    if constexpr (requires { parser->wants_header(); }) {
      if (from > 0 && parser->wants_header()) read_header(p.path, from, *parser);
    }
    // Dead letters: a whole file's written as it is read; a block's held for the blocks before it.
    std::optional<detail::dead_letters> dlq;
    std::optional<detail::held_letters> held;
    if (policy == bad_record_policy::kind::dead_letter) {
      if (p.blocks) held.emplace();
      else dlq.emplace(cfg.on_bad_record.target(), p.path.filename().string(), display);
    }
    auto letter_bytes = [&](std::string_view bytes) {
      if (dlq) dlq->bytes(bytes);
      else if (held) held->bytes(bytes);
    };

    std::int64_t rows = 0, skipped = 0;
    auto bad = [&](std::int64_t line, std::string reason, std::string_view bytes) {
      detail::shorten(reason);
      if (policy == bad_record_policy::kind::fail) throw bad_record_error(display, line_in_file(line), std::move(reason));
      if (dlq) {
        dlq->bytes(bytes);
        dlq->end_record(line, reason);
      } else if (held) {
        held->bytes(bytes);
        held->end_record(line, reason);
      } else {
        ++skipped;
      }
    };

    const std::string limit = "max_line_bytes (" + std::to_string(cfg.max_line_bytes) + ")";
    auto oversize = [&](std::int64_t line, std::string_view bytes, std::size_t total) {
      if (policy == bad_record_policy::kind::fail)
        throw bad_record_error(display, line_in_file(line), "line longer than " + limit);
      bad(line, "line of " + std::to_string(total) + " bytes is longer than " + limit, bytes);
    };
    std::string reason;
    T row{};
    auto read_record = [&](detail::record_reader::record& r) {
      if (r.oversize) {
        if (policy == bad_record_policy::kind::fail) oversize(r.line, {}, 0);
        std::size_t total = r.bytes.size();
        letter_bytes(r.bytes);
        reader.finish_oversize([&](std::string_view chunk) {
          total += chunk.size();
          letter_bytes(chunk);
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
    // Rows and bad lines of the block paths below (records_are_lines).
    [[maybe_unused]] auto line_row = [&](T&& r) {
      ++rows;
      emit(std::move(r));
    };
    [[maybe_unused]] auto bad_line = [&](std::int64_t line, bool too_long, std::string&& why, std::string_view bytes) {
      if (too_long) oversize(line, bytes, bytes.size());
      else bad(line, std::move(why), bytes);
      return true;
    };
    if (threads > 1) {  // only for records_are_lines
      if constexpr (Format::records_are_lines)
        detail::read_lines_in_parallel<T>(
            reader, threads, cfg.max_line_bytes, policy == bad_record_policy::kind::fail, *parser,
            [&] { return state_->format.template make_parser<T>(); }, read_record, line_row, bad_line,
            detail::parallel_min_chunk_bytes, tasks);
    } else if constexpr (Format::records_are_lines) {
      // The buffer's whole lines at once (the parser decodes them together: begin_block), a line
      // that alone fills it by record; rows and errors as record by record.
      detail::record_reader::block b;
      detail::record_reader::record r;
      while (true) {
        if (!reader.next_block(b)) {
          if (!reader.next(r)) break;
          read_record(r);
          continue;
        }
        reader.end_block(detail::decode_lines<T>(b.bytes, b.first_line, *parser, cfg.max_line_bytes, line_row, bad_line));
      }
    } else {
      detail::record_reader::record r;
      while (reader.next(r)) read_record(r);
    }
    if (dlq) dlq->commit();
    const std::int64_t dead_lettered = dlq ? dlq->count() : held ? held->count() : 0;
    bool file_read = true;  // a file cut into blocks has been read when its last block ends
    if (p.blocks)
      file_read = p.blocks->block_ended(p.block, reader.lines_read(), held ? &*held : nullptr,
                                        [&](std::optional<detail::dead_letters>& out) {
                                          out.emplace(cfg.on_bad_record.target(), p.path.filename().string(), display);
                                        });
    auto& m = state_->metrics;
    if (file_read) m.files_read.fetch_add(1, std::memory_order_relaxed);
    m.rows.fetch_add(rows, std::memory_order_relaxed);
    m.skipped.fetch_add(skipped, std::memory_order_relaxed);
    m.dead_lettered.fetch_add(dead_lettered, std::memory_order_relaxed);
  }

 private:
  // A block after the first of a CSV file with a header: the parser takes the file's header
  // from the lines before the block, as when the file is read whole (records before it that
  // are too long are not headers; its errors are the first block's to report).
  template <class Parser>
  void read_header(const std::filesystem::path& path, std::int64_t before, Parser& parser) {
    detail::record_reader head(path, before, state_->cfg.max_line_bytes, state_->format.scanner_dialect());
    detail::record_reader::record r;
    T ignored{};
    std::string reason;
    while (parser.wants_header() && head.next(r)) {
      if (r.oversize) {
        head.finish_oversize([](std::string_view) {});
        continue;
      }
      parser.parse(r.bytes, r.line, ignored, reason);
    }
  }

 public:
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
    // numFilesWaiting (sluice's, not Spark's): new files in the directory this batch left for
    // later ones (max_files_per_trigger), as of its planning: the source's lag.
    return {{"numFilesChangedAfterRead", std::to_string(state_->metrics.changed.load())},
            {"numFilesWaiting", std::to_string(state_->metrics.waiting.load())}};
  }
  const std::filesystem::path& directory() const { return state_->cfg.dir; }

 private:
  struct atomic_metrics {
    std::atomic<std::int64_t> files_read{0}, rows{0}, skipped{0}, dead_lettered{0}, changed{0}, waiting{0};
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
  auto settings = detail::make_settings("csv", std::move(dir), options);
  if (options.multi_line) settings.max_partition_bytes = 0;  // records may span lines: never cut
  return {std::move(settings), {{options.delimiter, options.quote}, options.header, options.multi_line}};
}

}  // namespace sluice::files

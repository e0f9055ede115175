// The source log of a file source: which files each file batch took, in the checkpoint,
// compacted as Spark's FileStreamSourceLog (sources/files.hpp).
#pragma once
#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../../checkpoint/file_io.hpp"
#include "../../detail/crash_point.hpp"
#include "../../time.hpp"
#include "listing.hpp"

namespace sluice::files {
namespace detail {

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
}  // namespace detail
}  // namespace sluice::files

// Staging and committing a batch of a file sink: each partition's writer writes data files
// under hidden temporary names, fsynced and renamed; then the batch's manifest entry, listing
// every partition's files, is created put-if-absent; orphans of batches that never committed
// are deleted (sinks/files.hpp).
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../../checkpoint/file_io.hpp"
#include "../../detail/crash_point.hpp"
#include "../../detail/uuid.hpp"
#include "format.hpp"
#include "manifest.hpp"

namespace sluice::files {
namespace sink_impl {
namespace fs = std::filesystem;

// ---------------------------------------------------------------- writing files
// A data file: written under a hidden temporary name, fsynced, renamed by finish(). Removed
// again if it is destroyed unfinished.
class data_file {
 public:
  data_file(const fs::path& dir, const std::string& name) : tmp_(dir / ("." + name + ".tmp")), final_(dir / name) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw file_sink_error("cannot create " + tmp_.string() + ": " + errno_text(errno));
  }
  data_file(const data_file&) = delete;
  data_file& operator=(const data_file&) = delete;
  ~data_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!finished_) ::unlink(tmp_.c_str());
  }

  void write(std::string_view bytes) {
    size_ += bytes.size();
    while (!bytes.empty()) {
      const auto n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw file_sink_error("write to " + tmp_.string() + " failed: " + errno_text(errno));
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void finish() {
    if (::fsync(fd_) != 0) throw file_sink_error("fsync of " + tmp_.string() + " failed: " + errno_text(errno));
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) throw file_sink_error("close of " + tmp_.string() + " failed: " + errno_text(errno));
    if (::rename(tmp_.c_str(), final_.c_str()) != 0)
      throw file_sink_error("cannot rename " + tmp_.string() + " to " + final_.string() + ": " + errno_text(errno));
    finished_ = true;
  }
  std::uint64_t size() const { return size_; }
  const fs::path& path() const { return final_; }

 private:
  fs::path tmp_, final_;
  int fd_ = -1;
  bool finished_ = false;
  std::uint64_t size_ = 0;
};

inline void sync_directory_best_effort(const fs::path& dir) {
  try {
    sluice::detail::fsync_path(dir, true);
  } catch (const checkpoint_error&) {
  }
}

// What both file sinks share: the directory, the manifests, the orphans.
class sink_core {
 public:
  static constexpr std::size_t flush_bytes = 1 << 20;  // write the buffer out every MiB

  sink_core(fs::path dir, std::string extension, std::size_t max_rows_per_file, bool delete_orphans)
      : dir_(std::move(dir)),
        extension_(std::move(extension)),
        max_rows_per_file_(max_rows_per_file),
        delete_orphans_(delete_orphans) {}

  // Reads where the output stands (latest committed batch) and deals with orphans. Runs at
  // query start, or at the first batch when the sink is used on its own.
  void start() {
    std::error_code ec;
    const bool existed = fs::is_directory(dir_ / metadata_directory, ec);
    fs::create_directories(dir_ / metadata_directory, ec);
    if (ec)
      throw file_sink_error("cannot create " + (dir_ / metadata_directory).string() + ": " + ec.message());
    if (!existed) {
      sync_directory_best_effort(dir_);
      if (dir_.has_parent_path()) sync_directory_best_effort(dir_.parent_path());
    }
    const auto ids = list_log_entries(dir_ / metadata_directory);
    latest_ = ids.empty() ? -1 : ids.back();
    pending_orphans_.clear();
    if (delete_orphans_) scan_orphans(ids);
    started_ = true;
  }

  bool already_committed(std::int64_t batch_id) {
    if (!started_) start();
    if (batch_id <= latest_) return true;
    std::error_code ec;
    if (fs::exists(manifest_path(dir_, batch_id), ec)) {  // committed by someone else meanwhile
      latest_ = batch_id;
      return true;
    }
    return false;
  }

  // A partition's writer is about to write batch `batch_id`: false if it was committed before.
  bool begin_batch(std::int64_t batch_id) { return !already_committed(batch_id); }

  // Writes rows [0, n) of one partition of a batch (encode(buffer, i) appends row i) into data
  // files under their final names, each fsynced and renamed, appending each finished one to
  // `out` (what the partition's writer deletes if the batch does not commit). Touches no state
  // of the sink but the buffer pool: writers of one batch call it at once.
  template <class Encode>
  void write_files(std::int64_t batch_id, std::size_t n, std::string_view file_header, Encode&& encode,
                   std::vector<committed_file>& out) {
    std::string buffer = take_buffer();
    std::size_t i = 0;
    while (i < n) {
      const std::size_t count = max_rows_per_file_ ? std::min(max_rows_per_file_, n - i) : n - i;
      data_file file(dir_, "part-" + batch_digits(batch_id) + "-" + sluice::detail::random_uuid() + extension_);
      buffer.assign(file_header);
      for (std::size_t k = i; k < i + count; ++k) {
        encode(buffer, k);
        if (buffer.size() >= flush_bytes) {
          file.write(buffer);
          buffer.clear();
        }
      }
      file.write(buffer);
      buffer.clear();
      file.finish();
      out.push_back({file.path(), file.size(), static_cast<std::int64_t>(count)});
      i += count;
    }
    give_back(std::move(buffer));
  }

  // Commits a batch whose writers wrote `files` (in partition order): the renames are made
  // durable, then the manifest entry is created put-if-absent. The batch is visible exactly
  // when it exists. On failure the caller deletes the files (discard).
  void commit_batch(std::int64_t batch_id, const std::vector<committed_file>& files) {
    if (!files.empty()) sluice::detail::fsync_path(dir_, true);  // the renames are durable
    sluice::detail::crash_point("files_sink_data_written");      // crash tests: data files, no manifest

    std::string manifest(manifest_version);
    manifest += '\n';
    for (const auto& f : files) {
      manifest += "{\"path\":";
      append_json_string(manifest, f.path.filename().string());
      manifest += ",\"size\":";
      append_integer(manifest, f.size);
      manifest += ",\"rows\":";
      append_integer(manifest, f.rows);
      manifest += "}\n";
    }
    const auto target = manifest_path(dir_, batch_id);
    try {
      write_file_atomically(target, manifest, /*overwrite=*/false);
    } catch (const checkpoint_error& e) {
      std::error_code ec;
      if (fs::exists(target, ec))
        throw file_sink_error("race while committing batch " + std::to_string(batch_id) + " to " + dir_.string() +
                              ": another writer committed it first (only one query may write to a file sink "
                              "directory)");
      throw file_sink_error(std::string("cannot commit batch ") + std::to_string(batch_id) + ": " + e.what());
    }
    latest_ = std::max(latest_, batch_id);
    if (auto it = pending_orphans_.find(batch_id); it != pending_orphans_.end()) {
      for (const auto& p : it->second) fs::remove(p, ec_ignored_);
      pending_orphans_.erase(it);
    }
  }

  // Deletes data files of a batch that did not commit (nothing refers to them).
  static void discard(const std::vector<committed_file>& files) noexcept {
    for (const auto& f : files) ::unlink(f.path.c_str());
  }

  std::string description() const { return "FileSink[" + dir_.string() + "]"; }
  const fs::path& directory() const { return dir_; }

 private:
  void scan_orphans(const std::vector<std::int64_t>& committed_ids) {
    const std::set<std::int64_t> committed(committed_ids.begin(), committed_ids.end());
    std::map<std::int64_t, std::vector<fs::path>> candidates;
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (auto id = part_file_batch(name)) candidates[*id].push_back(it->path());
    }
    // Temporaries of manifest entries (".<id>.<pid>.tmp", sl::write_file_atomically) of
    // batches already decided.
    for (fs::directory_iterator it(dir_ / metadata_directory, ec), end; !ec && it != end; it.increment(ec)) {
      std::string_view name = it->path().filename().native();
      if (!name.starts_with('.') || !name.ends_with(".tmp")) continue;
      name.remove_prefix(1);
      std::int64_t id = 0;
      const auto [p, e] = std::from_chars(name.data(), name.data() + name.size(), id);
      if (e == std::errc{} && p != name.data() && *p == '.' && id <= latest_) fs::remove(it->path(), ec_ignored_);
    }
    for (auto& [id, paths] : candidates) {
      if (committed.count(id)) {
        std::set<std::string> listed;
        for (const auto& f : read_manifest(dir_, id).files) listed.insert(f.path.filename().string());
        for (const auto& p : paths)
          if (!listed.count(p.filename().string())) fs::remove(p, ec_ignored_);
      } else if (id <= latest_) {
        for (const auto& p : paths) fs::remove(p, ec_ignored_);  // a batch this sink will skip
      } else {
        pending_orphans_[id] = std::move(paths);
      }
    }
  }

  fs::path dir_;
  std::string extension_;
  std::size_t max_rows_per_file_;
  bool delete_orphans_;
  bool started_ = false;
  std::int64_t latest_ = -1;
  std::map<std::int64_t, std::vector<fs::path>> pending_orphans_;
  // Encoding buffers, reused by the writers of each batch: no allocation per batch once warm.
  std::string take_buffer() {
    std::lock_guard lock(buffers_->mutex);
    if (buffers_->free.empty()) return {};
    std::string b = std::move(buffers_->free.back());
    buffers_->free.pop_back();
    return b;
  }
  void give_back(std::string&& b) {
    if (b.capacity() > 4 * flush_bytes) return;  // a huge row: do not keep its buffer
    b.clear();
    std::lock_guard lock(buffers_->mutex);
    buffers_->free.push_back(std::move(b));
  }
  struct buffer_pool {
    std::mutex mutex;
    std::vector<std::string> free;
  };
  std::unique_ptr<buffer_pool> buffers_ = std::make_unique<buffer_pool>();  // (the sink stays movable)
  std::error_code ec_ignored_;
};
}  // namespace sink_impl
}  // namespace sluice::files

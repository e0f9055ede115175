// A Delta table as a stream (Spark's DeltaSource): rows of the data files the table's commits
// add, in commit order, so a bronze table written by one query feeds a silver table of another.
//
//   auto bronze = sl::delta::source<Event>("data/bronze", {.max_files_per_trigger = 10});
//   auto q = sl::start(bronze | sl::filter(...) | sl::delta::sink("data/silver"), sl::output_mode::append,
//                      {.checkpoint = "checkpoints/silver"});
//
// What is read. Without `starting_version`, the first batch starts from a snapshot of the
// table at the version that is latest when the query first starts (its live files, oldest
// modification time first), and later batches read the files each later commit adds. With
// `starting_version = v`, the snapshot is skipped: the stream reads the files commits v, v+1 ...
// add (Spark's startingVersion). Only adds with dataChange = true are data (an OPTIMIZE's
// rewrite has dataChange = false and is not read again). A table that does not exist yet is
// read from version 0 as soon as it appears.
//
// Offsets. source_offset{version, index, is_starting_version}: everything before file `index`
// of `version` has been read (Spark's DeltaSourceOffset: reservoirVersion, index,
// isStartingVersion; is_starting_version marks the snapshot's version). Offsets name files by
// their position, which never changes: a commit file is immutable, and the snapshot's version
// is kept in `<checkpoint>/sources/<i>/delta_start` so a restart before the first commit
// plans the same files.
//
// Removes. A commit this stream reads that removes files with dataChange = true (a delete,
// update, merge or overwrite of the source table) stops the query with an error naming the
// version, as Spark does, unless `ignore_deletes` (commits that only remove files are skipped)
// or `ignore_changes` (the rewritten files' rows are read again: duplicates downstream) is set.
#pragma once
#include <boost/describe.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../checkpoint/file_io.hpp"
#include "../graph/pipe.hpp"
#include "log.hpp"
#include "read.hpp"

namespace sluice::delta {

// `sl::delta::source<T>(path) | ...`: operator| is found here by argument-dependent lookup.
using sluice::operator|;

struct source_offset {
  std::int64_t version = 0;  // the table version being read
  std::int64_t index = 0;    // files of `version` before this one have been read
  bool is_starting_version = false;  // `version` stands for the snapshot at that version
};
BOOST_DESCRIBE_STRUCT(source_offset, (), (version, index, is_starting_version))

// One data file of the stream.
struct source_partition {
  std::int64_t version = 0;
  std::int64_t index = 0;
  add_action file;
};

struct source_options {
  // At most this many files per batch (Spark's maxFilesPerTrigger, default 1000); 0: no limit.
  // trigger::once() ignores it.
  std::int64_t max_files_per_trigger = 1000;
  // Read the changes from this version on, instead of a snapshot of the latest version.
  std::optional<std::int64_t> starting_version{};
  // Skip commits that only remove files (Spark's ignoreDeletes).
  bool ignore_deletes = false;
  // Read the files a rewriting commit (update, merge, overwrite) adds, ignoring its removes
  // (Spark's ignoreChanges: rows not changed are read again).
  bool ignore_changes = false;
};

template <class T>
class source {
  static_assert(record<T>, "sluice::delta::source<T>: T must be a struct described with BOOST_DESCRIBE_STRUCT or an sl::row");

 public:
  using row_type = T;
  using offset_type = source_offset;
  using partition_type = source_partition;

  explicit source(std::filesystem::path table, source_options options = {})
      : state_(std::make_shared<state>()) {
    state_->table = std::move(table);
    state_->options = options;
    if (options.max_files_per_trigger < 0)
      throw std::invalid_argument("sluice::delta::source: max_files_per_trigger must be >= 0 (0: no limit)");
    if (options.starting_version && *options.starting_version < 0)
      throw std::invalid_argument("sluice::delta::source: starting_version must be >= 0");
  }

  void open(const source_context& ctx) {
    std::lock_guard lock(state_->mutex);
    state_->start_file = ctx.checkpoint_dir.empty() ? std::filesystem::path{} : ctx.checkpoint_dir / "delta_start";
    state_->query_id = ctx.query_id;
    state_->units.clear();
    state_->available_now_version.reset();
    state_->initial.reset();
  }

  source_offset initial_offset() {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    if (s.initial) return *s.initial;
    std::error_code ec;
    if (!s.start_file.empty() && std::filesystem::exists(s.start_file, ec)) {
      s.initial = from_json<source_offset>(boost::json::parse(sluice::read_checkpoint_file(s.start_file, s.query_id)));
      return *s.initial;
    }
    source_offset initial{0, 0, false};
    if (s.options.starting_version) {
      initial.version = *s.options.starting_version;
      if (const auto latest = latest_version(s.table); latest && initial.version > *latest)
        throw delta_error("sluice::delta::source: starting_version " + std::to_string(initial.version) +
                          " is after the latest version of " + s.table.string() + " (" + std::to_string(*latest) + ")");
    } else if (const auto latest = latest_version(s.table)) {
      initial = {*latest, 0, true};
    }
    if (!s.start_file.empty()) sluice::write_checkpoint_file(s.start_file, to_json_string(initial) + "\n", s.query_id, true);
    s.initial = initial;
    return initial;
  }

  source_offset latest_offset(const source_offset& start, read_limit limit) {
    std::lock_guard lock(state_->mutex);
    const std::int64_t max_files = limit.all ? 0 : state_->options.max_files_per_trigger;
    source_offset pos = start;
    std::int64_t taken = 0;
    auto latest = latest_version(state_->table);
    // Available-now: never past the version that was latest when the query started.
    if (latest && state_->available_now_version) latest = std::min(*latest, *state_->available_now_version);
    for (;;) {
      if (!latest || pos.version > *latest) break;
      const auto& units = units_of(pos.version, pos.is_starting_version);
      const auto size = static_cast<std::int64_t>(units.size());
      if (pos.index < size) {
        const auto take = max_files == 0 ? size - pos.index : std::min(size - pos.index, max_files - taken);
        pos.index += take;
        taken += take;
        if (max_files != 0 && taken >= max_files) break;
      }
      const auto next = pos.version + 1;
      if (next > *latest) break;
      pos = {next, 0, false};
    }
    return pos;
  }

  std::vector<source_partition> partitions(const source_offset& start, const source_offset& end) {
    std::lock_guard lock(state_->mutex);
    std::vector<source_partition> out;
    source_offset pos = start;
    while (offset_less(pos, end)) {
      const auto& units = units_of(pos.version, pos.is_starting_version);
      const auto stop = pos.version == end.version ? end.index : static_cast<std::int64_t>(units.size());
      for (auto i = pos.index; i < stop && i < static_cast<std::int64_t>(units.size()); ++i)
        out.push_back({pos.version, i, units[static_cast<std::size_t>(i)]});
      if (pos.version >= end.version) break;
      pos = {pos.version + 1, 0, false};
    }
    return out;
  }

  template <class Emit>
  void read(const source_partition& p, Emit&& emit) {
    if (p.file.deletion_vector)
      throw delta_error("Delta table " + state_->table.string() + ": file " + p.file.path +
                        " has a deletion vector, which sluice does not read");
    auto rows = read_parquet_rows<T>(file_path_of(state_->table, p.file.path), p.file.partition_values);
    for (auto& r : rows) emit(std::move(r));
  }

  void commit(const source_offset& end) {
    std::lock_guard lock(state_->mutex);
    // Versions before `end` are never read again: forget their file lists.
    auto& units = state_->units;
    units.erase(units.begin(), units.lower_bound({end.version, false}));
  }

  void prepare_for_available_now() {
    std::lock_guard lock(state_->mutex);
    state_->available_now_version = latest_version(state_->table).value_or(-1);
  }

  std::string description() const { return "DeltaSource[" + state_->table.string() + "]"; }

 private:
  struct state {
    std::mutex mutex;
    std::filesystem::path table;
    source_options options;
    std::filesystem::path start_file;
    std::string query_id;  // in the trailer of start_file (write_checkpoint_file)
    std::optional<source_offset> initial;
    std::optional<std::int64_t> available_now_version;
    // (version, is the snapshot) -> the files that version contributes, in order.
    std::map<std::pair<std::int64_t, bool>, std::vector<add_action>> units;
    bool schema_checked = false;
  };

  // The data files `version` contributes: the live files of its snapshot (oldest first) for
  // the starting version, else the adds with dataChange of its commit.
  const std::vector<add_action>& units_of(std::int64_t version, bool snapshot) {
    auto& s = *state_;
    const auto key = std::pair{version, snapshot};
    if (const auto it = s.units.find(key); it != s.units.end()) return it->second;
    std::vector<add_action> files;
    if (snapshot) {
      const auto snap = load_snapshot(s.table, version);
      check_table(snap);
      files = snap.live_files();
      std::stable_sort(files.begin(), files.end(), [](const add_action& a, const add_action& b) {
        return a.modification_time != b.modification_time ? a.modification_time < b.modification_time : a.path < b.path;
      });
    } else {
      const auto actions = read_commit(s.table, version);
      bool removes = false, adds = false, metadata = false;
      for (const auto& a : actions) {
        if (const auto* add = std::get_if<add_action>(&a); add && add->data_change) {
          adds = true;
          files.push_back(*add);
        } else if (const auto* rm = std::get_if<remove_action>(&a); rm && rm->data_change) {
          removes = true;
        } else if (std::holds_alternative<metadata_action>(a) || std::holds_alternative<protocol_action>(a)) {
          metadata = true;
        }
      }
      if (metadata || !s.schema_checked) check_table(load_snapshot(s.table, version));
      if (removes && !s.options.ignore_changes) {
        if (s.options.ignore_deletes && !adds) {
          files.clear();
        } else {
          throw delta_error(
              "Delta table " + s.table.string() + ": version " + std::to_string(version) +
              " removes data files (a delete, update, merge or overwrite), and a Delta source streams appends only. "
              "Set source_options::ignore_deletes (to skip commits that only delete) or ignore_changes (to read "
              "rewritten files again), or start a new query from a later starting_version");
        }
      }
    }
    return s.units.emplace(key, std::move(files)).first->second;
  }

  void check_table(const table_snapshot& snap) {
    snap.check_readable();
    detail::check_row_type_against<T>(snap);
    state_->schema_checked = true;
  }

  std::shared_ptr<state> state_;
};

}  // namespace sluice::delta

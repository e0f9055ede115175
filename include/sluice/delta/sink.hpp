// sl::delta::sink(path, options): an exactly-once streaming sink into a Delta table (Spark's
// DeltaSink). Append and complete output modes; update mode is a compile error (rule
// [sink-output-mode]), as in Delta.
//
// One batch, given as partitions (the partition-aware sink protocol of graph/plan.hpp; add_batch
// is the batch as one partition):
//   1. begin_batch: the table's snapshot is brought up to date (other writers' commits are read);
//   2. if its txn for our appId (the query id, stable across restarts with a checkpoint)
//      already holds batch_id or later, the batch is skipped: it was committed before a crash;
//   3. a writer per partition, on the query's workers at once, writes its rows into Parquet
//      files of its own (partition_by: one directory col=value per table partition), each
//      synced; its commit message lists them;
//   4. commit_batch, on the query's thread: one commit, version N+1, is created put-if-absent
//      (commit.hpp) with commitInfo, protocol and metaData (first commit only), txn {appId,
//      version: batch_id}, an add per file of every partition, and in complete mode a remove
//      of every file live before;
//   5. if version N+1 exists (another writer), the snapshot is re-read: a commit of this very
//      batch by our appId means done; a changed schema is an error; otherwise the commit is
//      retried at the next version (blind appends do not conflict), up to
//      max_commit_attempts times;
//   6. every checkpoint_interval versions, a checkpoint (checkpoint_write.hpp).
// A failing writer stops the others; every writer's files are deleted (abort) and the error
// propagates. A crash before step 4 (some writers done, no commit) leaves only unreferenced
// Parquet files, which the re-run does not list; after it, the txn makes the re-run batch a
// no-op. The table's data is exactly once, whatever the crash point.
//
// What a crash leaves behind is deleted when the sink starts (remove_leftovers), and only
// what this writer left: its files carry a tag of its appId, "sluice-<16 hex digits>" (the
// data files "part-<n>-<uuid>-<tag>-b<batch id>.c000.<codec>.parquet", the temporaries in
// _delta_log ".<name>.<tag>.<uuid>.tmp"). Deleted: its temporaries, and its data files of
// batches later than its txn version, which no committed version can reference (a commit of
// batch B sets the txn to B). Other writers' files and every file of a committed batch are
// left alone. This assumes one run of the query at a time (as Spark does): a second live run
// with the same appId could lose a batch's files between writing and committing them.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "../detail/crash_point.hpp"
#include "../codec/format.hpp"
#include "../graph/pipe.hpp"
#include "../graph/stand_in.hpp"
#include "arrow_schema.hpp"
#include "checkpoint_write.hpp"
#include "commit.hpp"
#include "log.hpp"
#include "parquet_write.hpp"

namespace sluice::delta {

// `source | ... | sl::delta::sink(path)`: operator| is found here by argument-dependent lookup.
using sluice::operator|;

struct sink_options {
  // Top-level columns whose values name Hive-style directories (col=value/); they are stored
  // in the log's partitionValues, not in the Parquet files. Scalar columns only.
  std::vector<std::string> partition_by{};
  // Parquet compression: snappy (Spark's default), zstd or uncompressed.
  compression codec = compression::snappy;
  // A data file is closed once it reaches about this many bytes; one batch may write several.
  std::int64_t target_file_size = std::int64_t{128} << 20;
  // Rows per Parquet row group, at most.
  std::int64_t row_group_size = std::int64_t{1} << 20;
  // Write a checkpoint every this many versions (Delta's default, 10); 0: never.
  std::int64_t checkpoint_interval = 10;
  // The txn appId; empty: the query id (what makes restarts from a checkpoint exactly once).
  std::string app_id{};
  // How many versions to try when other writers commit concurrently.
  int max_commit_attempts = 10;
  // Table properties (metaData.configuration) written when the sink creates the table.
  std::map<std::string, std::string> configuration{};
};

// A data file a writer of the sink wrote, with its values of the table's partition columns.
struct table_file {
  written_file file;
  partition_values_map partition_values;
};
// The message a writer of the sink commits: the files its partition of a batch wrote.
struct written_files {
  std::vector<table_file> files;
};

namespace detail {
inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <class T>
constexpr bool partition_scalar_v = std::is_arithmetic_v<T> || std::is_same_v<T, std::string> ||
                                    std::is_same_v<T, timestamp>;
template <class T>
constexpr bool partition_scalar_v<std::optional<T>> = partition_scalar_v<T>;

// A partition value as the protocol serialises it ("Partition Value Serialization"); nullopt
// for null (an empty optional, or an empty string, which Delta reads as null).
template <class T>
std::optional<std::string> partition_value_string(const T& v) {
  if constexpr (sluice::detail::is_optional_v<T>) {
    if (!v) return std::nullopt;
    return partition_value_string(*v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (v.empty()) return std::nullopt;
    return v;
  } else if constexpr (std::is_same_v<T, bool>) {
    return std::string(v ? "true" : "false");
  } else if constexpr (std::is_integral_v<T>) {
    return std::to_string(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    return sluice::detail::java_floating_string(v);
  } else if constexpr (std::is_same_v<T, timestamp>) {
    // ISO-8601 in UTC, as the protocol recommends ("1970-01-01T00:00:00.123456Z").
    return format_timestamp(v);
  } else {
    return std::nullopt;
  }
}

// The Spark type JSON with metadata and nested nullability left out, to compare schemas.
inline boost::json::value type_shape(const boost::json::value& t) {
  if (!t.is_object()) return t;
  const auto& o = t.get_object();
  boost::json::object out;
  for (const auto& [k, v] : o) {
    if (k == "metadata" || k == "nullable" || k == "containsNull" || k == "valueContainsNull") continue;
    if (v.is_array()) {
      boost::json::array a;
      for (const auto& e : v.get_array()) a.push_back(type_shape(e));
      out[k] = std::move(a);
    } else {
      out[k] = type_shape(v);
    }
  }
  return out;
}
inline std::string type_text(const boost::json::value& t) {
  return t.is_string() ? std::string(t.get_string()) : sluice::json_text(t);
}
}  // namespace detail

// The bound sink: what sl::delta::sink(path) becomes once the pipeline's row type is known.
template <record Row>
class table_sink {
 public:
  table_sink(std::filesystem::path path, sink_options options)
      : path_(std::move(path)), options_(std::move(options)) {
    if (options_.max_commit_attempts < 1) throw delta_error("sluice::delta::sink: max_commit_attempts must be >= 1");
    if (options_.row_group_size < 1) throw delta_error("sluice::delta::sink: row_group_size must be >= 1");
    // Partition columns: top-level scalar columns of the row type, each named once.
    constexpr auto names = column_names<Row>;
    keep_.assign(names.size(), true);
    for (const auto& p : options_.partition_by) {
      const auto it = std::find(names.begin(), names.end(), std::string_view(p));
      if (it == names.end())
        throw delta_error("sluice::delta::sink(" + path_.string() + "): partition column '" + p +
                          "' is not a column of the row type");
      const auto i = static_cast<std::size_t>(it - names.begin());
      if (!keep_[i]) throw delta_error("sluice::delta::sink(" + path_.string() + "): partition column '" + p + "' named twice");
      if (!scalar_column(i))
        throw delta_error("sluice::delta::sink(" + path_.string() + "): partition column '" + p +
                          "' must be a scalar column (number, bool, string or timestamp), not a struct or array");
      keep_[i] = false;
    }
    if (std::count(keep_.begin(), keep_.end(), true) == 0)
      throw delta_error("sluice::delta::sink(" + path_.string() + "): every column is a partition column; a data "
                        "file needs at least one other");
  }

  // Delta takes append and complete; update is refused at compile time (rule [sink-output-mode]).
  static constexpr bool supports(output_mode_kind mode) { return mode != output_mode_kind::update; }

  void start(const sink_context& ctx) {
    app_id_ = options_.app_id.empty() ? ctx.query_id : options_.app_id;
    if (app_id_.empty()) app_id_ = "sluice-" + detail::random_uuid();
    complete_ = ctx.mode == output_mode_kind::complete;
    tag_ = writer_tag(app_id_);
    snapshot_.reset();
    refresh();
    remove_leftovers();
    // A crash after a commit that was due a checkpoint, before the checkpoint: write it now.
    if (snapshot_ && due_checkpoint(snapshot_->version)) {
      std::error_code ec;
      if (!std::filesystem::exists(log_dir(path_) / checkpoint_file_name(snapshot_->version), ec))
        write_checkpoint(*snapshot_, tag_);
    }
  }

  void add_batch(std::int64_t batch_id, std::span<const Row> rows) { write_partitions<Row>(*this, batch_id, rows); }

  // ---- the partition-aware protocol (graph/plan.hpp): a writer per partition, one commit.
  // A partition's writer: its rows into Parquet files of its own; the files are the message.
  class writer {
   public:
    writer(const table_sink& sink, std::int64_t batch_id) : sink_(&sink), batch_id_(batch_id) {}
    writer(writer&&) noexcept = default;  // (a moved-from vector is empty: nothing removed twice)
    writer& operator=(writer&&) = delete;
    ~writer() { sink_->remove_files(files_); }  // neither committed nor aborted

    void write(std::span<const Row> rows) { sink_->write_data(batch_id_, rows, files_); }
    written_files commit() { return {std::exchange(files_, {})}; }
    void abort() { sink_->remove_files(std::exchange(files_, {})); }

   private:
    const table_sink* sink_;
    std::int64_t batch_id_;
    std::vector<table_file> files_;  // written, not handed over yet
  };

  bool begin_batch(std::int64_t batch_id) {
    if (app_id_.empty()) start(sink_context{});
    refresh();
    return !already_committed(batch_id);  // committed before a restart: exactly once
  }
  // Writers only read the sink's settings: several write at once.
  writer create_writer(std::int64_t batch_id, std::int64_t /*partition*/) const { return writer(*this, batch_id); }

  // One commit, version N+1, adds every partition's files (in partition order).
  void commit_batch(std::int64_t batch_id, const std::vector<written_files>& messages) {
    std::vector<table_file> files;
    for (const auto& m : messages) files.insert(files.end(), m.files.begin(), m.files.end());
    sluice::detail::crash_point("delta_data_written");

    for (int attempt = 1;; ++attempt) {
      const std::int64_t version = snapshot_ ? snapshot_->version + 1 : 0;
      auto actions = batch_actions(batch_id, version, files);
      const auto text = commit_text(actions);
      if (commit_version(path_, version, text, tag_) == commit_result::committed) {
        if (!snapshot_) {
          snapshot_.emplace();
          snapshot_->table = path_;
        }
        apply_commit(*snapshot_, version, actions);
        ++commits_;
        sluice::detail::crash_point("delta_committed");
        if (due_checkpoint(version)) write_checkpoint(*snapshot_, tag_);
        return;
      }
      // Another writer took this version: read what it did.
      refresh();
      if (already_committed(batch_id)) {  // the same query, e.g. a zombie run: ours is not needed
        remove_files(files);
        return;
      }
      if (attempt >= options_.max_commit_attempts)
        throw delta_error("sluice::delta::sink(" + path_.string() + "): batch " + std::to_string(batch_id) +
                          " could not be committed: version " + std::to_string(version) +
                          " was taken by another writer " + std::to_string(attempt) +
                          " times in a row (max_commit_attempts)");
    }
  }
  // The batch failed: its writers' files are referenced by no commit.
  void abort_batch(std::int64_t, const std::vector<written_files>& messages) const {
    for (const auto& m : messages) remove_files(m.files);
  }

  std::string description() const { return "DeltaSink[" + path_.string() + "]"; }
  const std::filesystem::path& path() const { return path_; }
  // Versions this sink object committed (for tests and metrics).
  std::int64_t commits() const { return commits_; }
  // Files a crash of this writer had left, deleted by start() (for tests and metrics).
  std::int64_t leftovers_removed() const { return leftovers_removed_; }

  // The tag of the files the writer with this appId names (FNV-1a, stable across builds).
  static std::string writer_tag(std::string_view app_id) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : app_id) h = (h ^ c) * 0x100000001b3ULL;
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "sluice-";
    for (int shift = 60; shift >= 0; shift -= 4) out += hex[(h >> shift) & 0xf];
    return out;
  }

 private:
  bool scalar_column(std::size_t index) const {
    bool scalar = false;
    std::size_t i = 0;
    for_each_column<Row>([&](auto c) {
      if (i++ == index) scalar = detail::partition_scalar_v<typename decltype(c)::type>;
    });
    return scalar;
  }

  bool due_checkpoint(std::int64_t version) const {
    return options_.checkpoint_interval > 0 && version > 0 && version % options_.checkpoint_interval == 0;
  }

  bool already_committed(std::int64_t batch_id) const {
    if (!snapshot_) return false;
    const auto v = snapshot_->txn_version(app_id_);
    return v && *v >= batch_id;
  }

  // Reads the table's new commits (or the table, if it appeared), and checks it is ours to write.
  void refresh() {
    if (snapshot_) {
      // Versions are contiguous: probing for the next one costs a stat per batch, where
      // listing _delta_log would grow with the table's history.
      bool changed = false;
      std::error_code ec;
      while (std::filesystem::exists(commit_path(path_, snapshot_->version + 1), ec)) {
        const auto next = snapshot_->version + 1;
        apply_commit(*snapshot_, next, read_commit(path_, next));
        changed = true;
      }
      if (changed) check_compatible(*snapshot_);
      return;
    }
    if (!latest_version(path_)) return;  // no table yet: the first commit creates it
    snapshot_ = load_snapshot(path_);
    check_compatible(*snapshot_);
  }

  // An existing table must have our columns with our types, and our partition columns.
  void check_compatible(const table_snapshot& s) const {
    const auto where = "sluice::delta::sink(" + path_.string() + "): the table (version " +
                       std::to_string(s.version) + ") has an incompatible schema: ";
    if (s.protocol.min_writer_version > 2 && s.protocol.min_writer_version != 7)
      throw delta_error("sluice::delta::sink(" + path_.string() + "): the table needs writer version " +
                        std::to_string(s.protocol.min_writer_version) + "; sluice writes version 2");
    if (s.protocol.min_writer_version == 7) {
      for (const auto& f : s.protocol.writer_features.value_or(std::vector<std::string>{}))
        if (f != "appendOnly" && f != "invariants" && f != "timestampNtz")
          throw delta_error("sluice::delta::sink(" + path_.string() + "): the table needs the writer feature '" + f +
                            "', which sluice does not write");
    }
    boost::system::error_code ec;
    const auto theirs = boost::json::parse(s.metadata.schema_string, ec);
    if (ec || !theirs.is_object() || !theirs.get_object().if_contains("fields"))
      throw delta_error(where + "metaData.schemaString is not a Spark struct type");
    const auto ours = spark_struct_type<Row>();
    std::map<std::string, const boost::json::object*> by_name;
    for (const auto& f : theirs.get_object().at("fields").as_array())
      if (f.is_object() && f.get_object().if_contains("name") && f.get_object().at("name").is_string())
        by_name[std::string(f.get_object().at("name").get_string())] = &f.get_object();
    for (const auto& f : ours.at("fields").as_array()) {
      const auto& o = f.get_object();
      const std::string name(o.at("name").get_string());
      const auto it = by_name.find(name);
      if (it == by_name.end())
        throw delta_error(where + "the row type's column '" + name + "' is not in the table (columns are added "
                          "by schema evolution, which the sink does not do)");
      const auto& t = *it->second;
      if (detail::type_shape(t.at("type")) != detail::type_shape(o.at("type")))
        throw delta_error(where + "column '" + name + "' is " + detail::type_text(t.at("type")) +
                          " in the table but " + detail::type_text(o.at("type")) + " in the row type");
      const auto* nullable = t.if_contains("nullable");
      if (o.at("nullable").as_bool() && nullable && nullable->is_bool() && !nullable->get_bool())
        throw delta_error(where + "column '" + name + "' is not nullable in the table but std::optional in the row type");
      by_name.erase(it);
    }
    for (const auto& [name, t] : by_name) {
      const auto* nullable = t->if_contains("nullable");
      if (!(nullable && nullable->is_bool() && nullable->get_bool()))
        throw delta_error(where + "the table's column '" + name + "' is not nullable and the row type has no such column");
    }
    if (s.metadata.partition_columns != options_.partition_by) {
      std::string theirs_p, ours_p;
      for (const auto& p : s.metadata.partition_columns) theirs_p += (theirs_p.empty() ? "" : ", ") + p;
      for (const auto& p : options_.partition_by) ours_p += (ours_p.empty() ? "" : ", ") + p;
      throw delta_error("sluice::delta::sink(" + path_.string() + "): the table is partitioned by [" + theirs_p +
                        "] but the sink by [" + ours_p + "]");
    }
  }

  // Deletes what a crash of this writer left (see the top of this header).
  void remove_leftovers() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const std::string marker = "." + tag_ + ".";
    for (fs::directory_iterator it(log_dir(path_), ec), end; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (name.starts_with('.') && name.ends_with(".tmp") && name.find(marker) != std::string::npos &&
          fs::remove(it->path(), ec))
        ++leftovers_removed_;
    }
    const std::int64_t committed = snapshot_ ? snapshot_->txn_version(app_id_).value_or(-1) : -1;
    const std::string data_marker = "-" + tag_ + "-b";
    fs::recursive_directory_iterator it(path_, fs::directory_options::skip_permission_denied, ec);
    for (const fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (it->is_directory(ec)) {
        if (name.starts_with('_') || name.starts_with('.')) it.disable_recursion_pending();  // _delta_log
        continue;
      }
      const auto at = name.find(data_marker);
      if (!name.starts_with("part-") || !name.ends_with(".parquet") || at == std::string::npos) continue;
      const auto digits = name.substr(at + data_marker.size(), name.find(".c000", at) - at - data_marker.size());
      if (digits.empty() || digits.size() > 18 ||
          !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        continue;
      if (std::stoll(digits) <= committed) continue;  // a committed batch's file: never ours to delete
      const auto relative = it->path().lexically_relative(path_).generic_string();
      if (snapshot_ && snapshot_->files.contains(relative)) continue;
      std::error_code rm;
      if (fs::remove(it->path(), rm)) ++leftovers_removed_;
    }
  }

  // Writes a partition's rows of a batch, one group of files per table partition (its values
  // of partition_by), appending each finished file to `out`. Only reads the sink's settings.
  void write_data(std::int64_t batch_id, std::span<const Row> rows, std::vector<table_file>& out) const {
    if (rows.empty()) return;
    parquet_files_writer<Row> writer(path_,
                                     parquet_write_options{options_.codec, options_.row_group_size,
                                                           options_.target_file_size,
                                                           tag_ + "-b" + std::to_string(batch_id)},
                                     keep_);
    if (options_.partition_by.empty()) {
      std::vector<std::size_t> all(rows.size());
      for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
      for (auto& f : writer.write_files("", rows, all)) out.push_back({std::move(f), {}});
      return;
    }
    // Group the rows by their partition values (in the order of partition_by).
    std::map<std::vector<std::optional<std::string>>, std::vector<std::size_t>> groups;
    for (std::size_t r = 0; r < rows.size(); ++r) groups[partition_key(rows[r])].push_back(r);
    for (const auto& [key, indices] : groups) {
      std::string dir;
      partition_values_map values;
      for (std::size_t k = 0; k < key.size(); ++k) {
        const auto& name = options_.partition_by[k];
        if (!dir.empty()) dir += '/';
        dir += escape_partition_value(name) + "=" +
               (key[k] ? escape_partition_value(*key[k]) : std::string(hive_default_partition));
        values[name] = key[k];
      }
      for (auto& f : writer.write_files(dir, rows, indices)) out.push_back({std::move(f), values});
    }
  }

  std::vector<std::optional<std::string>> partition_key(const Row& row) const {
    std::vector<std::optional<std::string>> key(options_.partition_by.size());
    for_each_field(row, [&](std::string_view name, const auto& v) {
      for (std::size_t k = 0; k < key.size(); ++k)
        if (options_.partition_by[k] == name) key[k] = detail::partition_value_string(v);
    });
    return key;
  }

  std::vector<action> batch_actions(std::int64_t batch_id, std::int64_t version, const std::vector<table_file>& files) const {
    std::vector<action> actions;
    const auto now = detail::now_ms();
    boost::json::object info{
        {"timestamp", now},
        {"operation", "STREAMING UPDATE"},
        {"operationParameters", boost::json::object{{"outputMode", complete_ ? "Complete" : "Append"},
                                                    {"queryId", app_id_},
                                                    {"epochId", std::to_string(batch_id)}}},
        {"readVersion", version - 1},
        {"isBlindAppend", !complete_},
        {"engineInfo", "sluice"},
        {"txnId", detail::random_uuid()}};
    if (version == 0) info.erase("readVersion");
    actions.push_back(commit_info_action{std::move(info)});
    if (version == 0) {
      actions.push_back(protocol_action{1, 2, std::nullopt, std::nullopt});
      metadata_action m;
      m.id = detail::random_uuid();
      // Partition columns are nullable: Delta reads an empty partition value as null.
      auto schema = spark_struct_type<Row>();
      for (auto& f : schema.at("fields").as_array()) {
        auto& o = f.as_object();
        const std::string name(o.at("name").as_string());
        if (std::find(options_.partition_by.begin(), options_.partition_by.end(), name) != options_.partition_by.end())
          o["nullable"] = true;
      }
      m.schema_string = sluice::json_text(schema);
      m.partition_columns = options_.partition_by;
      m.configuration = options_.configuration;
      m.created_time = now;
      actions.push_back(std::move(m));
    }
    actions.push_back(txn_action{app_id_, batch_id, now});
    if (complete_ && snapshot_) {
      for (const auto& [key, add] : snapshot_->files) {
        remove_action r;
        r.path = add.path;
        r.deletion_timestamp = now;
        r.data_change = true;
        r.extended_file_metadata = true;
        r.partition_values = add.partition_values;
        r.size = add.size;
        actions.push_back(std::move(r));
      }
    }
    for (const auto& f : files) {
      add_action a;
      a.path = encode_file_uri(f.file.relative_path);
      a.partition_values = f.partition_values;
      a.size = f.file.size;
      a.modification_time = f.file.modification_time;
      a.data_change = true;
      a.stats = f.file.stats;
      actions.push_back(std::move(a));
    }
    return actions;
  }

  void remove_files(const std::vector<table_file>& files) const noexcept {
    for (const auto& f : files) {
      std::error_code ec;
      std::filesystem::remove(path_ / f.file.relative_path, ec);
    }
  }

  std::filesystem::path path_;
  sink_options options_;
  std::vector<bool> keep_;  // false for partition columns
  std::string app_id_;
  std::string tag_;  // writer_tag(app_id_)
  std::int64_t leftovers_removed_ = 0;
  bool complete_ = false;
  std::optional<table_snapshot> snapshot_;
  std::int64_t commits_ = 0;
};

struct sink_t {
  using is_sink_descriptor = void;
  std::filesystem::path path;
  sink_options options;
  template <class Row>
  auto bind() && {
    static_assert(record<Row>,
                  "sluice::delta::sink: the rows must be records (a described struct or a generated row) to become "
                  "table columns");
    if constexpr (record<Row>) {
      static_assert(arrow_mappable<Row>(),
                    "sluice::delta::sink: unsupported column type (Delta columns are bool, signed integers, "
                    "uint8/16/32, float, double, std::string, sl::timestamp, std::optional, std::vector, sl::time_window "
                    "and described structs)");
      if constexpr (arrow_mappable<Row>())
        return table_sink<Row>(std::move(path), std::move(options));
      else
        return sluice::detail::stand_in_sink<Row>{};  // after the error: adds none
    } else {
      return sluice::detail::stand_in_sink<Row>{};
    }
  }
};

// Writes each batch into the Delta table at `path` (created by the first batch), exactly once
// per batch id (see the top of this header).
inline sink_t sink(std::filesystem::path path, sink_options options = {}) { return {std::move(path), std::move(options)}; }

}  // namespace sluice::delta

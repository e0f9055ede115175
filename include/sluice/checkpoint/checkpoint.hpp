// The checkpoint directory, after Spark's layout:
//   metadata          {"id": query id, "formatVersion": 2, "fingerprint": hash of "query",
//                      "query": what the state depends on (describe_query_changes)}
//   offsets/N         written and synced before batch N runs:
//                       v1
//                       {"batchWatermarkUs":..,"batchTimestampUs":..,"conf":{..}}
//                       <end offset of source 0 as JSON>
//                       <end offset of source 1 as JSON> ...
//   commits/N         written after the sink committed batch N:
//                       v1
//                       {"nextBatchWatermarkUs":..,"operatorWatermarksUs":[..],
//                        "stateFiles":[per stateful operator: null (kept whole) or per state
//                                      partition [base snapshot version, deltas after it]]}
//   state/<op>/<v>.delta, state/<op>/<v>.snapshot   state of stateful operator <op> after batch v
//   state/<op>/_metadata/schema   the binary form of those files (codec/state_layout.hpp)
// Every file is written atomically (checkpoint/file_io.hpp) and never overwritten, and ends
// with a checksum and the query id (write_checkpoint_file). A batch costs one fsync for its
// offsets, one for its commit and one per state file (docs/checkpoints.md, "Files").
#pragma once
#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../impl/config.hpp"
#include "../time.hpp"
#include "file_io.hpp"
#include "stored_state.hpp"

namespace sluice {

struct offset_log_entry {
  std::int64_t batch_id = 0;
  std::int64_t batch_watermark_us = 0;
  std::int64_t batch_timestamp_us = 0;
  std::vector<boost::json::value> source_offsets;  // end offsets, one per source in graph order
  // Settings a checkpoint keeps across restarts (Spark's OffsetSeqMetadata.conf), as strings.
  boost::json::object conf{};
};

struct commit_log_entry {
  std::int64_t batch_id = 0;
  std::int64_t next_batch_watermark_us = 0;
  std::vector<std::optional<std::int64_t>> operator_watermarks_us;
  // Per stateful operator, its state partitions' files after the batch (none: kept whole). Empty
  // in entries written before it: every partition then has a delta for every version.
  std::vector<std::optional<std::vector<state_partition_files>>> state_files;
};

class checkpoint_dir {
 public:
  // 2: checksummed files and a described query (1, before them, is refused: see open()).
  static constexpr int format_version = 2;

  // query_id: of the query writing and reading the files; open() sets it from the metadata.
  explicit checkpoint_dir(std::filesystem::path root, std::string query_id = {})
      : root_(std::move(root)), query_id_(std::move(query_id)) {}

  const std::filesystem::path& root() const { return root_; }
  const std::string& query_id() const { return query_id_; }
  std::filesystem::path offsets_path(std::int64_t n) const { return root_ / "offsets" / std::to_string(n); }
  std::filesystem::path commits_path(std::int64_t n) const { return root_ / "commits" / std::to_string(n); }
  std::filesystem::path state_dir(std::size_t op) const { return root_ / "state" / std::to_string(op); }
  std::filesystem::path metadata_path() const { return root_ / "metadata"; }
  // The operator's state_layout() (codec/state_layout.hpp), for tools without its types.
  std::filesystem::path state_schema_path(std::size_t op) const { return state_dir(op) / "_metadata" / "schema"; }

  // Creates the metadata, or checks an existing one belongs to this query (the same `query`
  // description: else the error names each change); returns the query id to use (the stored
  // one on restart). Refuses a checkpoint holding logs or state without its metadata, and
  // one whose newest log entries another query wrote.
  SLUICE_DECL std::string open(const std::string& new_query_id, const boost::json::object& query);
  // The hash stored beside the description (16 hex digits).
  SLUICE_DECL static std::string fingerprint(const boost::json::object& query);

  std::optional<std::int64_t> latest_offsets() const { return latest(root_ / "offsets"); }
  std::optional<std::int64_t> latest_commit() const { return latest(root_ / "commits"); }

  SLUICE_DECL void write_offsets(const offset_log_entry& e) const;
  SLUICE_COLD SLUICE_DECL offset_log_entry read_offsets(std::int64_t n, std::size_t expected_sources) const;
  SLUICE_DECL void write_commit(const commit_log_entry& e) const;
  SLUICE_COLD SLUICE_DECL commit_log_entry read_commit(std::int64_t n) const;

  // Reading the logs happens only when a query restarts or recovers (hence cold).

  // Removes log entries older than the newest `retain` batches. Commits go first, so that a
  // process killed half-way leaves at worst old offsets without their commits, never a commit
  // without its offsets (the state the engine calls a corrupt checkpoint).
  SLUICE_DECL void purge(std::int64_t latest_batch, std::int64_t retain) const;

 private:
  SLUICE_DECL static std::optional<std::int64_t> latest(const std::filesystem::path& dir);
  SLUICE_COLD SLUICE_DECL std::vector<std::string> read_lines(const std::filesystem::path& p) const;
  SLUICE_COLD SLUICE_DECL static boost::json::value parse_json(std::string_view text, const std::filesystem::path& p);
  SLUICE_COLD SLUICE_DECL static std::int64_t int_field(const boost::json::value& v, const char* name,
                                                        const std::filesystem::path& p);

  SLUICE_COLD SLUICE_DECL void refuse_without_metadata() const;
  SLUICE_COLD SLUICE_DECL void check_logs_belong_to(const std::string& id) const;
  // Renames a torn newest log entry (a power loss during its write) to .<N>.torn.
  SLUICE_COLD SLUICE_DECL void set_aside_torn_entries() const;
  // A stored description that names an operator's state types as the compiler did (before
  // state was described by its binary layout) gets the query's layout in their place when the
  // checkpoint's state has it: by its recorded schema, else by decoding its state files.
  SLUICE_COLD SLUICE_DECL void accept_legacy_state_names(boost::json::object& was, const boost::json::object& now) const;
  SLUICE_COLD SLUICE_DECL void check_state_files_fit(std::size_t op, const boost::json::value& layout) const;

  std::filesystem::path root_;
  std::string query_id_;
};

// What changed between two query descriptions (checkpoint_dir::open), one readable sentence
// each, e.g. "window duration changed from 10 seconds to 20 seconds in operator 1 (aggregate)".
SLUICE_COLD SLUICE_DECL std::vector<std::string> describe_query_changes(const boost::json::object& was,
                                                                        const boost::json::object& now);

}  // namespace sluice

#if SLUICE_HEADER_ONLY
#include "../impl/checkpoint.ipp"
#endif

// Reading a stopped query's checkpoint without its code: what `sluice checkpoint describe` and
// `sluice checkpoint state` print. Read only: nothing here writes to the directory. Every
// file is verified as the engine verifies it (checksum, query id), and an error names it.
#pragma once
#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint.hpp"
#include "file_io.hpp"
#include "../codec/state_layout.hpp"
#include "state_store.hpp"

namespace sluice {

namespace detail {
inline boost::json::value parse_checkpoint_json(const std::string& text, const std::filesystem::path& p) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) throw checkpoint_error(p.string() + ": unparsable JSON (" + ec.message() + ")");
  return v;
}

// The metadata file, verified; throws naming it.
inline boost::json::object read_checkpoint_metadata(const checkpoint_dir& dir) {
  const auto path = dir.metadata_path();
  if (!std::filesystem::exists(path))
    throw checkpoint_error(path.string() + ": missing (not a checkpoint directory, or its metadata was lost)");
  const auto file = read_checkpoint_file(path);
  auto m = parse_checkpoint_json(file.content, path);
  if (!m.is_object() || !m.as_object().contains("id") || !m.as_object().contains("query") ||
      !m.as_object().at("query").is_object())
    throw checkpoint_error(path.string() + ": not a sluice checkpoint metadata file");
  return std::move(m.as_object());
}

// The metadata's operators that keep state (state/<i> for the i-th), without the watermark stages.
inline std::vector<boost::json::object> stateful_descriptions(const boost::json::object& query) {
  std::vector<boost::json::object> out;
  if (const auto* ops = query.if_contains("operators"); ops && ops->is_array())
    for (const auto& o : ops->as_array())
      if (o.is_object() && !(o.as_object().contains("operator") && o.as_object().at("operator") == "watermark"))
        out.push_back(o.as_object());
  return out;
}

inline std::string micros_text(std::int64_t us) {
  return format_timestamp(timestamp{us});
}
}  // namespace detail

// Everything the checkpoint holds, as one JSON object (see docs/operations.md).
inline boost::json::object describe_checkpoint(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  using boost::json::array;
  using boost::json::object;
  checkpoint_dir probe(root);
  const auto meta = detail::read_checkpoint_metadata(probe);
  const std::string id(meta.at("id").as_string());
  const checkpoint_dir dir(root, id);
  const auto& query = meta.at("query").as_object();

  object out;
  out["checkpoint"] = root.string();
  out["id"] = id;
  out["formatVersion"] = meta.contains("formatVersion") ? meta.at("formatVersion") : nullptr;
  out["fingerprint"] = meta.contains("fingerprint") ? meta.at("fingerprint") : nullptr;
  // What a restart compares (checkpoint_dir::open): the query description the hash is over.
  out["fingerprintCovers"] = array{"outputMode", "row (the output row's schema)", "sources (each source's offset type)",
                                   "operators (stateful and watermark stages: keys, windows, aggregates, state types)"};
  out["outputMode"] = query.contains("outputMode") ? query.at("outputMode") : nullptr;
  out["row"] = query.contains("row") ? query.at("row") : nullptr;

  const auto offsets = list_log_entries(root / "offsets");
  const auto commits = list_log_entries(root / "commits");
  auto range = [](const std::vector<std::int64_t>& v) -> boost::json::value {
    if (v.empty()) return nullptr;
    return array{v.front(), v.back()};
  };
  out["offsetLog"] = range(offsets);
  out["commitLog"] = range(commits);
  out["lastCommittedBatch"] = commits.empty() ? boost::json::value(nullptr) : boost::json::value(commits.back());
  if (!offsets.empty() && (commits.empty() || offsets.back() > commits.back()))
    out["plannedUncommittedBatch"] = offsets.back();  // re-run first on restart

  const auto* src_desc = query.if_contains("sources");
  const std::size_t n_sources = src_desc && src_desc->is_array() ? src_desc->as_array().size() : 0;
  if (!offsets.empty()) {
    const auto e = dir.read_offsets(offsets.back(), n_sources);
    object last{{"batchId", e.batch_id},
                {"batchWatermarkUs", e.batch_watermark_us},
                {"batchWatermark", detail::micros_text(e.batch_watermark_us)},
                {"batchTimestamp", detail::micros_text(e.batch_timestamp_us)},
                {"conf", e.conf}};
    array sources;
    for (std::size_t i = 0; i < e.source_offsets.size(); ++i)
      sources.push_back(object{{"source", i},
                               {"endOffset", e.source_offsets[i]},
                               {"offsetType", src_desc->as_array()[i].as_object().contains("offset")
                                                  ? src_desc->as_array()[i].as_object().at("offset")
                                                  : nullptr}});
    last["sources"] = std::move(sources);
    out["lastPlannedBatch"] = std::move(last);
  }
  if (!commits.empty()) {
    const auto c = dir.read_commit(commits.back());
    out["watermarkUs"] = c.next_batch_watermark_us;
    out["watermark"] = detail::micros_text(c.next_batch_watermark_us);
    array ops;
    for (const auto& w : c.operator_watermarks_us) ops.push_back(w ? boost::json::value(*w) : boost::json::value(nullptr));
    out["operatorWatermarksUs"] = std::move(ops);
  }

  array watermarks;
  if (const auto* ops = query.if_contains("operators"); ops && ops->is_array())
    for (const auto& o : ops->as_array())
      if (o.is_object() && o.as_object().contains("operator") && o.as_object().at("operator") == "watermark")
        watermarks.push_back(o);
  out["watermarkStages"] = std::move(watermarks);

  array state;
  const auto stateful = detail::stateful_descriptions(query);
  for (std::size_t i = 0; i < stateful.size(); ++i) {
    object op{{"operator", i}, {"description", stateful[i]}};
    // One entry per state partition (state/<i>/<p>/), and one for a state kept whole
    // (state/<i>/ itself: the operators without partitions, and checkpoints from before them).
    array partitions;
    auto describe_dir = [&](const fs::path& d, boost::json::value partition, bool recursive) {
      const auto deltas = detail::state_versions_in(d, "delta");
      const auto snapshots = detail::state_versions_in(d, "snapshot");
      std::uintmax_t bytes = 0;
      std::size_t files = 0;
      std::error_code ec;
      auto count = [&](const fs::directory_entry& e) {
        if (e.is_regular_file()) {
          bytes += e.file_size();
          ++files;
        }
      };
      if (fs::is_directory(d, ec)) {
        if (recursive) {
          for (auto it = fs::recursive_directory_iterator(d, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
            count(*it);
        } else {
          for (const auto& e : fs::directory_iterator(d, ec)) count(e);
        }
      }
      array snaps;
      for (auto v : snapshots) snaps.push_back(v);
      partitions.push_back(object{{"partition", std::move(partition)},
                                  {"directory", d.string()},
                                  {"files", files},
                                  {"bytes", bytes},
                                  {"deltaVersions", range(deltas)},
                                  {"snapshotVersions", std::move(snaps)}});
    };
    auto parts = detail::state_partition_dirs(dir, i);
    // The last commit records every partition, also those no batch changed (without files).
    if (!commits.empty())
      if (const auto recorded = detail::recorded_state_files(dir, i, commits.back()); recorded && !recorded->empty()) {
        parts.clear();
        for (std::size_t p = 0; p < recorded->size(); ++p) parts.push_back(p);
      }
    if (parts.empty()) {
      describe_dir(dir.state_dir(i), 0, true);
    } else {
      for (auto p : parts) describe_dir(detail::state_partition_dir(dir, i, p), p, false);
      if (!detail::state_versions(dir, i, "delta").empty() || !detail::state_versions(dir, i, "snapshot").empty())
        describe_dir(dir.state_dir(i), nullptr, false);  // the versions before partitions
    }
    op["partitions"] = std::move(partitions);
    const auto schema = dir.state_schema_path(i);
    if (fs::exists(schema)) {
      op["stateSchema"] = detail::parse_checkpoint_json(read_checkpoint_file(schema, id), schema);
    } else {
      op["stateSchema"] = nullptr;  // written by a sluice before the schema file: written on its next batch
    }
    state.push_back(std::move(op));
  }
  out["stateOperators"] = std::move(state);
  return out;
}

// The state rows of stateful operator `op` (state/<op>) as of batch `batch` (default: the last
// committed one), each as {"key": {...}, "value": {...}, "partition_id": p}, as Spark's state
// data source reader gives them, sorted by key. Decoded by state/<op>/_metadata/schema.
inline void read_checkpoint_state(const std::filesystem::path& root, std::size_t op, std::optional<std::int64_t> batch,
                                  const std::function<void(boost::json::object)>& row) {
  namespace fs = std::filesystem;
  checkpoint_dir probe(root);
  const auto meta = detail::read_checkpoint_metadata(probe);
  const std::string id(meta.at("id").as_string());
  const checkpoint_dir dir(root, id);
  const auto stateful = detail::stateful_descriptions(meta.at("query").as_object());
  if (op >= stateful.size())
    throw checkpoint_error(dir.metadata_path().string() + ": the query has " + std::to_string(stateful.size()) +
                           " stateful operator(s), no operator " + std::to_string(op) +
                           (stateful.empty() ? std::string() : " (0 to " + std::to_string(stateful.size() - 1) + ")"));
  const auto commits = list_log_entries(root / "commits");
  if (!batch) {
    if (commits.empty()) throw checkpoint_error((root / "commits").string() + ": no committed batch: the state is empty");
    batch = commits.back();
  } else if (commits.empty() || *batch > commits.back()) {
    throw checkpoint_error((root / "commits").string() + ": batch " + std::to_string(*batch) +
                           " was never committed (last committed: " +
                           (commits.empty() ? std::string("none") : std::to_string(commits.back())) + ")");
  }
  const auto schema_path = dir.state_schema_path(op);
  if (!fs::exists(schema_path))
    throw checkpoint_error(schema_path.string() + ": missing: this checkpoint was written before sluice recorded the "
                           "state's binary form; run the query once more on it (its next batch writes the file)");
  const auto layout = detail::parse_checkpoint_json(read_checkpoint_file(schema_path, id), schema_path);
  const auto* lo = layout.if_object();
  const auto* format = lo ? lo->if_contains("format") : nullptr;
  const auto* key = lo ? lo->if_contains("key") : nullptr;
  const auto* value = lo ? lo->if_contains("value") : nullptr;
  if (!format || !key || !value || !(*format == "keyed" || *format == "sessions"))
    throw checkpoint_error(schema_path.string() + ": not a state layout (expected format keyed or sessions, key and value)");
  const bool sessions = *format == "sessions";

  // key (serialized) -> (key, value or, for sessions, the array of sessions, and its partition)
  struct entry {
    boost::json::value key, value;
    std::size_t partition = 0;
  };
  std::map<std::string, entry> state;
  auto read_entries = [&](binary_reader& in, bool removals, std::size_t partition) {
    const auto n = in.read_size(1);
    for (std::size_t i = 0; i < n; ++i) {
      auto k = decode_binary(in, *key);
      auto ks = boost::json::serialize(k);
      if (sessions) {
        boost::json::array list;
        const auto m = in.read_size(1);
        for (std::size_t j = 0; j < m; ++j) list.push_back(decode_binary(in, *value));
        if (list.empty()) state.erase(ks);
        else state[ks] = {std::move(k), std::move(list), partition};
      } else {
        auto v = decode_binary(in, *value);
        state[ks] = {std::move(k), std::move(v), partition};
      }
    }
    if (removals) {
      const auto r = in.read_size(1);
      for (std::size_t i = 0; i < r; ++i) state.erase(boost::json::serialize(decode_binary(in, *key)));
    }
  };

  // Each partition's files hold only its keys: one map serves them all.
  for (const auto& c : detail::state_chains(dir, op, *batch)) {
    const std::size_t partition = c.partition.value_or(0);
    if (c.snapshot) {
      const auto bytes = read_checkpoint_file(*c.snapshot, id);
      binary_reader in(bytes, c.snapshot->string());
      read_entries(in, false, partition);
      if (!in.at_end()) in.fail("trailing bytes after the snapshot");
    }
    for (const auto& path : c.deltas) {
      const auto bytes = read_checkpoint_file(path, id);
      binary_reader in(bytes, path.string());
      read_entries(in, !sessions, partition);
      if (!in.at_end()) in.fail("trailing bytes after the delta");
    }
  }
  for (auto& [ks, e] : state) {
    const auto pid = static_cast<std::int64_t>(e.partition);
    if (sessions) {
      for (auto& s : e.value.as_array())
        row(boost::json::object{{"key", e.key}, {"value", std::move(s)}, {"partition_id", pid}});
    } else {
      row(boost::json::object{{"key", std::move(e.key)}, {"value", std::move(e.value)}, {"partition_id", pid}});
    }
  }
}

}  // namespace sluice

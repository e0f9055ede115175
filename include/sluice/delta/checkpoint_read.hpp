// Reading Delta checkpoints into a snapshot (PROTOCOL.md, "Checkpoints"): the newest
// checkpoint at or before the wanted version, named by `_last_checkpoint`
// ({"version":20,"size":..,"parts":..}) or found by listing the log, single-part
// (<version>.checkpoint.parquet) or multi-part (<version>.checkpoint.<part>.<parts>.parquet).
// A checkpoint is a Parquet file whose rows each hold one action in one of the struct columns
// txn, add, remove, metaData, protocol (the others null). Each row is turned into the action's
// JSON and parsed as a commit line would be, so both paths share one set of rules and errors.
#pragma once
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "log.hpp"

namespace sluice::delta {

// A checkpoint found in a log: its version and its files (one, or all parts in order).
struct checkpoint_ref {
  std::int64_t version = 0;
  std::vector<std::filesystem::path> files;
};

namespace detail {
// An Arrow value as JSON: structs as objects, maps as objects (string keys), lists as arrays.
inline boost::json::value arrow_value_json(const arrow::Array& a, std::int64_t i) {
  if (a.IsNull(i)) return nullptr;
  switch (a.type_id()) {
    case arrow::Type::BOOL: return static_cast<const arrow::BooleanArray&>(a).Value(i);
    case arrow::Type::INT8: return static_cast<const arrow::Int8Array&>(a).Value(i);
    case arrow::Type::INT16: return static_cast<const arrow::Int16Array&>(a).Value(i);
    case arrow::Type::INT32: return static_cast<const arrow::Int32Array&>(a).Value(i);
    case arrow::Type::INT64: return static_cast<const arrow::Int64Array&>(a).Value(i);
    case arrow::Type::UINT8: return static_cast<const arrow::UInt8Array&>(a).Value(i);
    case arrow::Type::UINT16: return static_cast<const arrow::UInt16Array&>(a).Value(i);
    case arrow::Type::UINT32: return static_cast<const arrow::UInt32Array&>(a).Value(i);
    case arrow::Type::UINT64: return static_cast<const arrow::UInt64Array&>(a).Value(i);
    case arrow::Type::FLOAT: return static_cast<const arrow::FloatArray&>(a).Value(i);
    case arrow::Type::DOUBLE: return static_cast<const arrow::DoubleArray&>(a).Value(i);
    case arrow::Type::TIMESTAMP: return static_cast<const arrow::TimestampArray&>(a).Value(i);
    case arrow::Type::STRING: return boost::json::string(static_cast<const arrow::StringArray&>(a).GetView(i));
    case arrow::Type::LARGE_STRING: return boost::json::string(static_cast<const arrow::LargeStringArray&>(a).GetView(i));
    case arrow::Type::STRING_VIEW: return boost::json::string(static_cast<const arrow::StringViewArray&>(a).GetView(i));
    case arrow::Type::BINARY: return boost::json::string(static_cast<const arrow::BinaryArray&>(a).GetView(i));
    case arrow::Type::STRUCT: {
      const auto& s = static_cast<const arrow::StructArray&>(a);
      const auto& type = static_cast<const arrow::StructType&>(*a.type());
      boost::json::object o;
      for (int k = 0; k < type.num_fields(); ++k) {
        const auto& name = type.field(k)->name();
        if (name.ends_with("_parsed")) continue;  // stats_parsed / partitionValues_parsed: the strings suffice
        o[name] = arrow_value_json(*s.field(k), i);
      }
      return o;
    }
    case arrow::Type::MAP: {
      const auto& m = static_cast<const arrow::MapArray&>(a);
      boost::json::object o;
      const auto begin = m.value_offset(i), end = begin + m.value_length(i);
      for (auto k = begin; k < end; ++k) {
        const auto key = arrow_value_json(*m.keys(), k);
        if (!key.is_string()) throw delta_error("a checkpoint map has a non-string key");
        o[key.get_string()] = arrow_value_json(*m.items(), k);
      }
      return o;
    }
    case arrow::Type::LIST: {
      const auto& l = static_cast<const arrow::ListArray&>(a);
      boost::json::array arr;
      for (auto k = l.value_offset(i); k < l.value_offset(i) + l.value_length(i); ++k)
        arr.push_back(arrow_value_json(*l.values(), k));
      return arr;
    }
    case arrow::Type::LARGE_LIST: {
      const auto& l = static_cast<const arrow::LargeListArray&>(a);
      boost::json::array arr;
      for (auto k = l.value_offset(i); k < l.value_offset(i) + l.value_length(i); ++k)
        arr.push_back(arrow_value_json(*l.values(), k));
      return arr;
    }
    default:
      throw delta_error("a checkpoint column has the unsupported type " + a.type()->ToString());
  }
}

inline bool all_exist(const std::vector<std::filesystem::path>& files) {
  std::error_code ec;
  for (const auto& f : files)
    if (!std::filesystem::exists(f, ec)) return false;
  return !files.empty();
}

inline std::vector<std::filesystem::path> checkpoint_files(const std::filesystem::path& table, std::int64_t version,
                                                           int parts) {
  std::vector<std::filesystem::path> out;
  if (parts <= 1) {
    out.push_back(log_dir(table) / checkpoint_file_name(version));
  } else {
    for (int p = 1; p <= parts; ++p) out.push_back(log_dir(table) / checkpoint_part_file_name(version, p, parts));
  }
  return out;
}
}  // namespace detail

// The newest complete checkpoint at or before `version`, if any: `_last_checkpoint` when it
// qualifies, else the log's listing (classic single- and multi-part names).
inline std::optional<checkpoint_ref> find_checkpoint(const std::filesystem::path& table, std::int64_t version) {
  std::error_code ec;
  if (const auto last = last_checkpoint_path(table); std::filesystem::exists(last, ec)) {
    boost::system::error_code jec;
    const auto v = boost::json::parse(read_whole_file(last), jec);
    if (jec || !v.is_object())
      throw delta_error(last.string() + ": not valid JSON (" + (jec ? jec.message() : "not an object") + ")");
    const auto pointer = detail::decode<last_checkpoint>(v, last.string(), "_last_checkpoint");
    const auto cv = pointer.version;
    const int parts = pointer.parts.value_or(1);
    if (cv <= version) {
      auto files = detail::checkpoint_files(table, cv, parts);
      if (detail::all_exist(files)) return checkpoint_ref{cv, std::move(files)};
    }
  }
  // Listing: version -> parts seen (single-part counts as parts = 1).
  std::map<std::int64_t, std::map<int, std::vector<int>>> seen;
  for (const auto& e : std::filesystem::directory_iterator(log_dir(table), ec)) {
    const auto name = e.path().filename().string();
    if (name.size() < 20 + 19 || name.compare(20, 12, ".checkpoint.") != 0 || !name.ends_with(".parquet")) continue;
    std::int64_t v = 0;
    if (std::from_chars(name.data(), name.data() + 20, v).ptr != name.data() + 20) continue;
    if (name.size() == 20 + 19) {  // <v>.checkpoint.parquet
      seen[v][1].push_back(1);
    } else if (name.size() == 20 + 12 + 10 + 1 + 10 + 8) {
      int part = 0, parts = 0;
      std::from_chars(name.data() + 32, name.data() + 42, part);
      std::from_chars(name.data() + 43, name.data() + 53, parts);
      if (parts > 0) seen[v][parts].push_back(part);
    }
  }
  for (auto it = seen.rbegin(); it != seen.rend(); ++it) {
    if (it->first > version) continue;
    for (const auto& [parts, have] : it->second) {
      auto files = detail::checkpoint_files(table, it->first, parts);
      if (detail::all_exist(files)) return checkpoint_ref{it->first, std::move(files)};
    }
  }
  return std::nullopt;
}

// The actions of a checkpoint file, in row order; errors name the file and row.
inline std::vector<action> read_checkpoint_file(const std::filesystem::path& file) {
  auto opened = arrow::io::ReadableFile::Open(file.string());
  if (!opened.ok()) throw delta_error("cannot open checkpoint " + file.string() + ": " + opened.status().ToString());
  auto reader = parquet::arrow::OpenFile(*opened, arrow::default_memory_pool());
  if (!reader.ok())
    throw delta_error("checkpoint " + file.string() + " is not a readable Parquet file: " + reader.status().ToString());
  auto read = (*reader)->ReadTable();
  if (!read.ok()) throw delta_error("cannot read checkpoint " + file.string() + ": " + read.status().ToString());
  auto table = (*read)->CombineChunks();
  if (!table.ok()) throw delta_error("cannot read checkpoint " + file.string() + ": " + table.status().ToString());
  const auto& t = **table;
  std::vector<std::pair<std::string, std::shared_ptr<arrow::ChunkedArray>>> columns;
  for (const char* name : {"protocol", "metaData", "txn", "add", "remove"}) {
    if (auto c = t.GetColumnByName(name)) columns.emplace_back(name, std::move(c));
  }
  std::vector<action> out;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    const auto& [name, column] = columns[c];
    std::int64_t row = 0;
    for (const auto& chunk : column->chunks()) {
      for (std::int64_t i = 0; i < chunk->length(); ++i, ++row) {
        if (chunk->IsNull(i)) continue;
        auto body = detail::arrow_value_json(*chunk, i);
        auto& obj = body.as_object();
        if ((name == "add" || name == "remove") && (!obj.contains("dataChange") || obj["dataChange"].is_null()))
          obj["dataChange"] = false;
        if (name == "add" && (!obj.contains("partitionValues") || obj["partitionValues"].is_null()))
          obj["partitionValues"] = boost::json::object{};
        out.push_back(parse_action(boost::json::object{{name, std::move(body)}},
                                   file.string() + " (row " + std::to_string(row) + ")"));
      }
    }
  }
  return out;
}

namespace detail {
inline bool load_checkpoint_into(table_snapshot& s, std::int64_t version) {
  const auto found = find_checkpoint(s.table, version);
  if (!found) return false;
  bool saw_metadata = false, saw_protocol = false;
  for (const auto& f : found->files)
    apply_commit(s, found->version, read_checkpoint_file(f), &saw_metadata, &saw_protocol);
  if (!saw_metadata || !saw_protocol)
    throw delta_error("checkpoint " + found->files.front().string() + " has no " + (saw_metadata ? "protocol" : "metaData") +
                      " action");
  s.checkpoint_version = found->version;
  return true;
}
}  // namespace detail

}  // namespace sluice::delta

// Definitions of checkpoint/checkpoint.hpp's non-template functions (see impl/config.hpp).
#pragma once
#include "../checkpoint/checkpoint.hpp"

namespace sluice {

std::string checkpoint_dir::open(const std::string& new_query_id, const std::string& fingerprint) {
  const auto path = metadata_path();
  if (!std::filesystem::exists(path)) {
    boost::json::object m{{"id", new_query_id}, {"formatVersion", format_version}, {"fingerprint", fingerprint}};
    write_file_atomically(path, boost::json::serialize(m) + "\n");
    return new_query_id;
  }
  const auto m = parse_json(read_whole_file(path), path);
  if (!m.is_object() || !m.as_object().contains("id") || !m.as_object().at("id").is_string() ||
      !m.as_object().contains("fingerprint") || !m.as_object().contains("formatVersion"))
    throw checkpoint_error(path.string() + ": not a sluice checkpoint metadata file");
  const auto& o = m.as_object();
  if (o.at("formatVersion") != boost::json::value(format_version))
    throw checkpoint_error(path.string() + ": unsupported checkpoint format version " +
                           boost::json::serialize(o.at("formatVersion")));
  if (o.at("fingerprint") != boost::json::value(fingerprint))
    throw checkpoint_error(path.string() + ": this checkpoint was written by a different query (its graph, row, "
                                            "offset or state types differ); use a new checkpoint location");
  return std::string(o.at("id").as_string());
}

void checkpoint_dir::write_offsets(const offset_log_entry& e) const {
  boost::json::object meta{{"batchWatermarkUs", e.batch_watermark_us}, {"batchTimestampUs", e.batch_timestamp_us}};
  if (!e.conf.empty()) meta["conf"] = e.conf;
  std::string text = "v1\n" + boost::json::serialize(meta) + "\n";
  for (const auto& o : e.source_offsets) text += boost::json::serialize(o) + "\n";
  write_file_atomically(offsets_path(e.batch_id), text);
}

offset_log_entry checkpoint_dir::read_offsets(std::int64_t n, std::size_t expected_sources) const {
  const auto path = offsets_path(n);
  const auto lines = read_lines(path);
  if (lines.size() < 2 || lines[0] != "v1")
    throw checkpoint_error(path.string() + ": truncated or not an offset log entry (expected a 'v1' header and "
                                           "batch metadata)");
  offset_log_entry e;
  e.batch_id = n;
  const auto meta = parse_json(lines[1], path);
  e.batch_watermark_us = int_field(meta, "batchWatermarkUs", path);
  e.batch_timestamp_us = int_field(meta, "batchTimestampUs", path);
  if (const auto* conf = meta.as_object().if_contains("conf")) {  // absent in checkpoints before it
    if (!conf->is_object()) throw checkpoint_error(path.string() + ": conf is not an object");
    for (const auto& kv : conf->as_object())
      if (!kv.value().is_string())
        throw checkpoint_error(path.string() + ": conf." + std::string(kv.key()) + " is not a string");
    e.conf = conf->as_object();
  }
  for (std::size_t i = 2; i < lines.size(); ++i) e.source_offsets.push_back(parse_json(lines[i], path));
  if (e.source_offsets.size() != expected_sources)
    throw checkpoint_error(path.string() + ": holds offsets for " + std::to_string(e.source_offsets.size()) +
                           " sources, the query has " + std::to_string(expected_sources));
  return e;
}

void checkpoint_dir::write_commit(const commit_log_entry& e) const {
  boost::json::array ops;
  for (const auto& w : e.operator_watermarks_us) ops.push_back(w ? boost::json::value(*w) : boost::json::value(nullptr));
  boost::json::object meta{{"nextBatchWatermarkUs", e.next_batch_watermark_us}, {"operatorWatermarksUs", ops}};
  // Synced like every log entry: sources release data in commit(end) after this returns, so a
  // commit must not be lost once they have.
  write_file_atomically(commits_path(e.batch_id), "v1\n" + boost::json::serialize(meta) + "\n");
}

commit_log_entry checkpoint_dir::read_commit(std::int64_t n) const {
  const auto path = commits_path(n);
  const auto lines = read_lines(path);
  if (lines.size() < 2 || lines[0] != "v1")
    throw checkpoint_error(path.string() + ": truncated or not a commit log entry");
  const auto meta = parse_json(lines[1], path);
  commit_log_entry e;
  e.batch_id = n;
  e.next_batch_watermark_us = int_field(meta, "nextBatchWatermarkUs", path);
  const auto* ops = meta.as_object().if_contains("operatorWatermarksUs");
  if (!ops || !ops->is_array()) throw checkpoint_error(path.string() + ": missing operatorWatermarksUs");
  for (const auto& w : ops->as_array()) {
    if (w.is_null()) e.operator_watermarks_us.emplace_back();
    else if (w.is_int64()) e.operator_watermarks_us.emplace_back(w.as_int64());
    else throw checkpoint_error(path.string() + ": operatorWatermarksUs holds a non-integer");
  }
  return e;
}

void checkpoint_dir::purge(std::int64_t latest_batch, std::int64_t retain) const {
  const std::int64_t keep_from = latest_batch - retain + 1;
  for (const char* log : {"commits", "offsets"})
    for (auto n : list_log_entries(root_ / log))
      if (n < keep_from) std::filesystem::remove(root_ / log / std::to_string(n));
}

std::optional<std::int64_t> checkpoint_dir::latest(const std::filesystem::path& dir) {
  auto ids = list_log_entries(dir);
  if (ids.empty()) return std::nullopt;
  return ids.back();
}
std::vector<std::string> checkpoint_dir::read_lines(const std::filesystem::path& p) {
  std::istringstream in(read_whole_file(p));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}
boost::json::value checkpoint_dir::parse_json(std::string_view text, const std::filesystem::path& p) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) throw checkpoint_error(p.string() + ": unparsable JSON (" + ec.message() + ")");
  return v;
}
std::int64_t checkpoint_dir::int_field(const boost::json::value& v, const char* name, const std::filesystem::path& p) {
  const auto* f = v.is_object() ? v.as_object().if_contains(name) : nullptr;
  if (!f || !f->is_int64()) throw checkpoint_error(p.string() + ": missing or non-integer field '" + name + "'");
  return f->as_int64();
}

}  // namespace sluice

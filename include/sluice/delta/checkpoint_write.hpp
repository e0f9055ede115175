// Writing Delta checkpoints (PROTOCOL.md, "Checkpoints" and "Checkpoint Schema"): the state of
// the table at version N as one Parquet file, _delta_log/<N, 20 digits>.checkpoint.parquet,
// one action per row in the columns
//   protocol {minReaderVersion, minWriterVersion, readerFeatures, writerFeatures}
//   metaData {id, name, description, format {provider, options}, schemaString,
//             partitionColumns, configuration, createdTime}
//   txn      {appId, version, lastUpdated}
//   add      {path, partitionValues, size, modificationTime, dataChange, stats, tags}
//   remove   {path, deletionTimestamp, dataChange, extendedFileMetadata, partitionValues, size}
// (each row has exactly one non-null column; removes older than a week are dropped), then _delta_log/_last_checkpoint
// {"version":N,"size":<actions>,"sizeInBytes":<bytes>,"numOfAddFiles":<adds>}. Both are
// written to a temporary and renamed into place: a reader sees a whole file or none, and a
// checkpoint written twice (after a crash) has the same content. A checkpoint is an
// optimisation: the JSON commits stay, so a crash between the two files loses nothing.
#pragma once
#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <parquet/arrow/writer.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commit.hpp"
#include "log.hpp"

namespace sluice::delta {

namespace detail {
inline std::shared_ptr<arrow::DataType> string_map_type() { return arrow::map(arrow::utf8(), arrow::utf8()); }

inline std::shared_ptr<arrow::Schema> checkpoint_schema() {
  using arrow::field;
  const auto str = arrow::utf8();
  const auto i64 = arrow::int64();
  return arrow::schema({
      field("txn", arrow::struct_({field("appId", str), field("version", i64), field("lastUpdated", i64)})),
      field("add", arrow::struct_({field("path", str), field("partitionValues", string_map_type()),
                                   field("size", i64), field("modificationTime", i64),
                                   field("dataChange", arrow::boolean()), field("stats", str),
                                   field("tags", string_map_type())})),
      field("remove", arrow::struct_({field("path", str), field("deletionTimestamp", i64),
                                      field("dataChange", arrow::boolean()),
                                      field("extendedFileMetadata", arrow::boolean()),
                                      field("partitionValues", string_map_type()), field("size", i64)})),
      field("metaData",
            arrow::struct_({field("id", str), field("name", str), field("description", str),
                            field("format", arrow::struct_({field("provider", str),
                                                            field("options", string_map_type())})),
                            field("schemaString", str), field("partitionColumns", arrow::list(str)),
                            field("configuration", string_map_type()), field("createdTime", i64)})),
      field("protocol", arrow::struct_({field("minReaderVersion", arrow::int32()),
                                        field("minWriterVersion", arrow::int32()),
                                        field("readerFeatures", arrow::list(str)),
                                        field("writerFeatures", arrow::list(str))})),
  });
}

// Small typed appenders over the builders MakeBuilder made for checkpoint_schema().
struct checkpoint_builders {
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> columns;  // txn, add, remove, metaData, protocol

  static void check(const arrow::Status& s) { arrow_check(s, "building a Delta checkpoint"); }
  static arrow::StructBuilder* as_struct(arrow::ArrayBuilder* b) { return static_cast<arrow::StructBuilder*>(b); }
  static void str(arrow::ArrayBuilder* b, const std::string& v) {
    check(static_cast<arrow::StringBuilder*>(b)->Append(v));
  }
  static void opt_str(arrow::ArrayBuilder* b, const std::optional<std::string>& v) {
    if (v) str(b, *v);
    else check(b->AppendNull());
  }
  static void i64(arrow::ArrayBuilder* b, std::optional<std::int64_t> v) {
    if (v) check(static_cast<arrow::Int64Builder*>(b)->Append(*v));
    else check(b->AppendNull());
  }
  static void i32(arrow::ArrayBuilder* b, std::int32_t v) { check(static_cast<arrow::Int32Builder*>(b)->Append(v)); }
  static void boolean(arrow::ArrayBuilder* b, std::optional<bool> v) {
    if (v) check(static_cast<arrow::BooleanBuilder*>(b)->Append(*v));
    else check(b->AppendNull());
  }
  template <class Map>
  static void map(arrow::ArrayBuilder* b, const Map& m) {
    auto* mb = static_cast<arrow::MapBuilder*>(b);
    check(mb->Append());
    for (const auto& [k, v] : m) {
      str(mb->key_builder(), k);
      if constexpr (requires { v.has_value(); }) opt_str(mb->item_builder(), v);
      else str(mb->item_builder(), v);
    }
  }
  template <class Map>
  static void opt_map(arrow::ArrayBuilder* b, const std::optional<Map>& m) {
    if (m) map(b, *m);
    else check(b->AppendNull());
  }
  static void strings(arrow::ArrayBuilder* b, const std::optional<std::vector<std::string>>& v) {
    if (!v) {
      check(b->AppendNull());
      return;
    }
    auto* lb = static_cast<arrow::ListBuilder*>(b);
    check(lb->Append());
    for (const auto& s : *v) str(lb->value_builder(), s);
  }

  checkpoint_builders() {
    const auto schema = checkpoint_schema();  // kept alive: fields() refers into it
    for (const auto& f : schema->fields()) {
      auto made = arrow::MakeBuilder(f->type());
      if (!made.ok()) arrow_fail(made.status(), "Delta checkpoint builder");
      columns.push_back(std::move(made).ValueOrDie());
    }
  }
  // Starts a row whose only non-null column is `which`; returns that column's struct builder.
  arrow::StructBuilder* row(std::size_t which) {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (i != which) check(columns[i]->AppendNull());
    auto* sb = as_struct(columns[which].get());
    check(sb->Append());
    return sb;
  }
  void txn(const std::string& app_id, std::int64_t version, std::optional<std::int64_t> last_updated) {
    auto* s = row(0);
    str(s->field_builder(0), app_id);
    i64(s->field_builder(1), version);
    i64(s->field_builder(2), last_updated);
  }
  void add(const add_action& a) {
    auto* s = row(1);
    str(s->field_builder(0), a.path);
    map(s->field_builder(1), a.partition_values);
    i64(s->field_builder(2), a.size);
    i64(s->field_builder(3), a.modification_time);
    boolean(s->field_builder(4), a.data_change);
    opt_str(s->field_builder(5), a.stats);
    opt_map(s->field_builder(6), a.tags);
  }
  void remove(const remove_action& r) {
    auto* s = row(2);
    str(s->field_builder(0), r.path);
    i64(s->field_builder(1), r.deletion_timestamp);
    boolean(s->field_builder(2), r.data_change);
    boolean(s->field_builder(3), r.extended_file_metadata);
    opt_map(s->field_builder(4), r.partition_values);
    i64(s->field_builder(5), r.size);
  }
  void metadata(const metadata_action& m) {
    auto* s = row(3);
    str(s->field_builder(0), m.id);
    opt_str(s->field_builder(1), m.name);
    opt_str(s->field_builder(2), m.description);
    auto* fmt = as_struct(s->field_builder(3));
    check(fmt->Append());
    str(fmt->field_builder(0), m.format.provider);
    map(fmt->field_builder(1), m.format.options);
    str(s->field_builder(4), m.schema_string);
    strings(s->field_builder(5), m.partition_columns);
    map(s->field_builder(6), m.configuration);
    i64(s->field_builder(7), m.created_time);
  }
  void protocol(const protocol_action& p) {
    auto* s = row(4);
    i32(s->field_builder(0), p.min_reader_version);
    i32(s->field_builder(1), p.min_writer_version);
    strings(s->field_builder(2), p.reader_features);
    strings(s->field_builder(3), p.writer_features);
  }
  std::shared_ptr<arrow::Table> finish() {
    arrow::ArrayVector arrays;
    for (auto& b : columns) {
      std::shared_ptr<arrow::Array> a;
      check(b->Finish(&a));
      arrays.push_back(std::move(a));
    }
    return arrow::Table::Make(checkpoint_schema(), arrays);
  }
};
}  // namespace detail

struct checkpoint_written {
  std::int64_t version = 0;
  std::int64_t actions = 0;
  std::int64_t add_files = 0;
  std::int64_t size_in_bytes = 0;
};

// Writes the checkpoint of `snapshot` (its version) and points _last_checkpoint at it.
// Tombstones (removes) are carried so that VACUUM-like tools keep their retention. `owner`
// tags the temporary files (see write_synced_temporary).
inline checkpoint_written write_checkpoint(const table_snapshot& snapshot, std::string_view owner = {}) {
  detail::checkpoint_builders b;
  b.protocol(snapshot.protocol);
  b.metadata(snapshot.metadata);
  std::int64_t actions = 2;
  for (const auto& [app, version] : snapshot.app_versions) {
    const auto lu = snapshot.app_last_updated.find(app);
    b.txn(app, version, lu == snapshot.app_last_updated.end() ? std::nullopt : std::optional(lu->second));
    ++actions;
  }
  for (const auto& [path, add] : snapshot.files) {
    add_action a = add;
    a.data_change = false;  // the checkpoint restates the state; it changes no data
    b.add(a);
    ++actions;
  }
  // Tombstones are kept for VACUUM's retention (delta.deletedFileRetentionDuration, 1 week by
  // default), then dropped, so that complete mode's removes do not grow checkpoints forever.
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  constexpr std::int64_t retention_ms = 7LL * 24 * 3600 * 1000;
  for (const auto& [path, rm] : snapshot.tombstones) {
    if (rm.deletion_timestamp && *rm.deletion_timestamp < now - retention_ms) continue;
    remove_action r = rm;
    r.data_change = false;
    b.remove(r);
    ++actions;
  }
  const auto table = b.finish();

  auto out = arrow::io::BufferOutputStream::Create();
  if (!out.ok()) detail::arrow_fail(out.status(), "Delta checkpoint buffer");
  auto stream = std::move(out).ValueOrDie();
  auto props = parquet::WriterProperties::Builder().compression(parquet::Compression::SNAPPY)->created_by("sluice")->build();
  detail::arrow_check(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), stream, 1 << 20, props),
                      "writing the Delta checkpoint of " + snapshot.table.string());
  auto finished = stream->Finish();
  if (!finished.ok()) detail::arrow_fail(finished.status(), "Delta checkpoint buffer");
  const auto buffer = std::move(finished).ValueOrDie();
  const std::string_view bytes(reinterpret_cast<const char*>(buffer->data()), static_cast<std::size_t>(buffer->size()));

  const auto dir = log_dir(snapshot.table);
  replace_file_atomically(dir / checkpoint_file_name(snapshot.version), bytes, owner);
  checkpoint_written w{snapshot.version, actions, static_cast<std::int64_t>(snapshot.files.size()),
                       static_cast<std::int64_t>(bytes.size())};
  const auto last = sluice::to_json_string(
      last_checkpoint{.version = w.version, .size = w.actions, .parts = std::nullopt,
                      .size_in_bytes = w.size_in_bytes, .num_of_add_files = w.add_files});
  replace_file_atomically(last_checkpoint_path(snapshot.table), last + "\n", owner);
  return w;
}

}  // namespace sluice::delta

// The Delta log model: actions parse and serialise with the protocol's field names, errors name
// the log file and line, and a snapshot reconciles adds, removes, txn, protocol and metaData.
#include <catch2/catch.hpp>

#include <sluice/delta/log.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace delta = sluice::delta;

namespace {
fs::path fresh_table(const std::string& name) {
  std::random_device rd;
  auto dir = fs::path(SLUICE_TESTS_BINARY_DIR) / "scratch" / ("log-" + name + "-" + std::to_string(rd()));
  fs::remove_all(dir);
  fs::create_directories(dir / "_delta_log");
  return dir;
}
void write_commit(const fs::path& table, std::int64_t version, const std::string& text) {
  std::ofstream(table / "_delta_log" / delta::commit_file_name(version)) << text;
}
const std::string protocol_line = R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})";
const std::string metadata_line =
    R"({"metaData":{"id":"2b5c7e3a-1111-4c4c-9c9c-0123456789ab","format":{"provider":"parquet","options":{}},)"
    R"("schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}",)"
    R"("partitionColumns":[],"configuration":{},"createdTime":1700000000000}})";
std::string add_line(const std::string& path, int size) {
  return R"({"add":{"path":")" + path + R"(","partitionValues":{},"size":)" + std::to_string(size) +
         R"(,"modificationTime":1700000000000,"dataChange":true,"stats":"{\"numRecords\":)" + std::to_string(size) +
         R"(}"}})";
}
}  // namespace

TEST_CASE("delta actions parse and serialise with the protocol's field names", "[delta][log]") {
  const std::string text = protocol_line + "\n" + metadata_line + "\n" +
                           R"({"add":{"path":"p=a%2520b/part-0.parquet","partitionValues":{"p":"a b","q":null},"size":10,"modificationTime":5,"dataChange":true,"stats":"{\"numRecords\":3}","tags":{"k":"v"}}})" +
                           "\n" +
                           R"({"remove":{"path":"old.parquet","deletionTimestamp":7,"dataChange":true,"extendedFileMetadata":true,"partitionValues":{},"size":4}})" +
                           "\n" + R"({"txn":{"appId":"q-1","version":3,"lastUpdated":9}})" + "\n" +
                           R"({"commitInfo":{"operation":"STREAMING UPDATE","timestamp":11}})" + "\n" +
                           R"({"domainMetadata":{"domain":"d","configuration":"{}","removed":false}})" + "\n";
  const auto actions = delta::parse_commit(text, "t/_delta_log/00000000000000000000.json");
  REQUIRE(actions.size() == 7);
  const auto& p = std::get<delta::protocol_action>(actions[0]);
  CHECK(p.min_reader_version == 1);
  CHECK(p.min_writer_version == 2);
  const auto& m = std::get<delta::metadata_action>(actions[1]);
  CHECK(m.format.provider == "parquet");
  CHECK(m.created_time == 1700000000000);
  CHECK(m.schema_string.find("\"long\"") != std::string::npos);
  const auto& a = std::get<delta::add_action>(actions[2]);
  CHECK(a.path == "p=a%2520b/part-0.parquet");
  CHECK(a.partition_values.at("p") == "a b");
  CHECK_FALSE(a.partition_values.at("q").has_value());
  CHECK(a.size == 10);
  CHECK(delta::parse_stats(*a.stats, "here").num_records == 3);
  CHECK(a.tags->at("k") == "v");
  const auto& r = std::get<delta::remove_action>(actions[3]);
  CHECK(r.deletion_timestamp == 7);
  CHECK(r.size == 4);
  const auto& t = std::get<delta::txn_action>(actions[4]);
  CHECK(t.app_id == "q-1");
  CHECK(t.version == 3);
  CHECK(std::get<delta::commit_info_action>(actions[5]).fields.at("operation") == "STREAMING UPDATE");
  CHECK(std::get<delta::other_action>(actions[6]).key == "domainMetadata");

  // Written back, the commit is the same bytes (field order, no nulls for absent optionals).
  CHECK(delta::commit_text(actions) == text);
  // Serialising and parsing again gives the same actions; lines are the protocol's JSON.
  const auto again = delta::parse_commit(delta::commit_text(actions), "again");
  CHECK(again == actions);
  CHECK(delta::to_json_line(actions[0]) == protocol_line);
  CHECK(delta::to_json_line(delta::txn_action{"app", 4, std::nullopt}) == R"({"txn":{"appId":"app","version":4}})");
  CHECK(delta::to_json_line(actions[2]).starts_with(R"({"add":{"path":"p=a%2520b/part-0.parquet","partitionValues":{"p":"a b","q":null},"size":10,)"));
}

TEST_CASE("delta actions read as other writers leave them: defaults, nulls, pass-through", "[delta][log]") {
  // No format and no configuration (defaults), a null configuration value (Spark's "absent"),
  // null optionals, and a stats string and a deletion vector kept as they are.
  const auto actions = delta::parse_commit(
      R"({"metaData":{"id":"x","name":null,"schemaString":"{}","partitionColumns":["p"],"createdTime":null}})"
      "\n"
      R"({"metaData":{"id":"y","format":{"provider":"parquet"},"schemaString":"{}","partitionColumns":[],"configuration":{"a":"1","b":null}}})"
      "\n"
      R"({"add":{"path":"f","partitionValues":{"p":null},"size":1,"modificationTime":2,"dataChange":false,"stats":"{\"numRecords\":1,\"minValues\":{\"v\":1.5}}","deletionVector":{"storageType":"u","cardinality":2},"baseRowId":null}})",
      "log");
  REQUIRE(actions.size() == 3);
  const auto& m = std::get<delta::metadata_action>(actions[0]);
  CHECK(m.format == delta::format_spec{});
  CHECK(m.configuration.empty());
  CHECK_FALSE(m.name.has_value());
  CHECK_FALSE(m.created_time.has_value());
  CHECK(m.partition_columns == std::vector<std::string>{"p"});
  const auto& m2 = std::get<delta::metadata_action>(actions[1]);
  CHECK(m2.configuration == std::map<std::string, std::string>{{"a", "1"}});
  CHECK(m2.format.options.empty());
  const auto& a = std::get<delta::add_action>(actions[2]);
  CHECK(a.partition_values == delta::partition_values_map{{"p", std::nullopt}});
  CHECK_FALSE(a.data_change);
  CHECK(a.deletion_vector->at("cardinality") == 2);
  CHECK_FALSE(a.base_row_id.has_value());
  const auto stats = delta::parse_stats(*a.stats, "here");
  CHECK(stats.min_values.at("v") == 1.5);
  CHECK(stats.null_count.empty());
  // Written: null partition values stay null; absent optionals stay absent.
  CHECK(delta::to_json_line(a) ==
        R"({"add":{"path":"f","partitionValues":{"p":null},"size":1,"modificationTime":2,"dataChange":false,"stats":"{\"numRecords\":1,\"minValues\":{\"v\":1.5}}","deletionVector":{"storageType":"u","cardinality":2}}})");
  CHECK(delta::stats_json(stats) == R"({"numRecords":1,"minValues":{"v":1.5},"maxValues":{},"nullCount":{}})");
}

TEST_CASE("delta log errors name the file, the line and the field", "[delta][log]") {
  const std::string file = "t/_delta_log/00000000000000000004.json";
  auto message_of = [&](const std::string& text) {
    try {
      delta::parse_commit(text, file);
    } catch (const delta::delta_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message_of(protocol_line + "\n{\"add\":{\"path\":\"x\"") , Catch::StartsWith(file + ":2: not valid JSON"));
  CHECK(message_of(protocol_line + "\n\n" + R"({"add":{"path":"x","partitionValues":{},"size":"big","modificationTime":1,"dataChange":true}})") ==
        file + ":3: add.size: expected an integer, got a string");
  CHECK(message_of(R"({"txn":{"version":1}})") == file + ":1: txn.appId: missing required field");
  CHECK(message_of(R"({"metaData":{"id":"x","format":{},"schemaString":"{}","partitionColumns":[]}})") ==
        file + ":1: metaData.format.provider: missing required field");
  CHECK(message_of(R"({"add":{"path":"x","partitionValues":{"p":1},"size":1,"modificationTime":1,"dataChange":true}})") ==
        file + ":1: add.partitionValues.p: expected a string, got an integer");
  CHECK(message_of(R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2,"writerFeatures":["a",7]}})") ==
        file + ":1: protocol.writerFeatures[1]: expected a string, got an integer");
  CHECK(message_of(R"({"protocol":{"minReaderVersion":4294967297,"minWriterVersion":2}})") ==
        file + ":1: protocol.minReaderVersion: integer 4294967297 out of range");
  CHECK(message_of(R"({"remove":{"path":"x","dataChange":null}})") ==
        file + ":1: remove.dataChange: null for a required field");
  CHECK_THROWS_WITH(delta::parse_stats(R"({"numRecords":"3"})", "f.json:2"),
                    "f.json:2: add.stats.numRecords: expected an integer, got a string");
  CHECK(message_of(R"({"add":{},"remove":{}})") ==
        file + ":1: an action must be a JSON object with exactly one key (add, remove, metaData ...)");
}

TEST_CASE("delta _last_checkpoint is read through the codec and names its field", "[delta][log]") {
  const auto table = fresh_table("last-checkpoint");
  const auto last = table / "_delta_log" / "_last_checkpoint";
  std::ofstream(last) << R"({"version":"3","size":5})";
  CHECK_THROWS_WITH(delta::find_checkpoint(table, 10),
                    last.string() + ": _last_checkpoint.version: expected an integer, got a string");
  // A pointer past the version asked for, or to missing files: the listing decides (none here).
  std::ofstream(last, std::ios::trunc) << R"({"version":3,"size":5,"parts":2,"sizeInBytes":10,"numOfAddFiles":1})";
  CHECK_FALSE(delta::find_checkpoint(table, 10).has_value());
}

TEST_CASE("delta snapshot reconciles adds, removes, txn and metadata by version", "[delta][log]") {
  const auto table = fresh_table("reconcile");
  write_commit(table, 0, protocol_line + "\n" + metadata_line + "\n" + add_line("a.parquet", 1) + "\n" +
                             add_line("b%20c.parquet", 2) + "\n" + R"({"txn":{"appId":"q","version":0}})" + "\n");
  write_commit(table, 1,
               R"({"remove":{"path":"a.parquet","deletionTimestamp":3,"dataChange":true}})" "\n" + add_line("d.parquet", 4) +
                   "\n" + R"({"txn":{"appId":"q","version":1}})" + "\n" + R"({"txn":{"appId":"other","version":7}})" + "\n");
  // A file added again after its removal is live again; a remove spelled with another encoding
  // of the same path removes it.
  write_commit(table, 2, add_line("a.parquet", 5) + "\n" +
                             R"({"remove":{"path":"b c.parquet","deletionTimestamp":3,"dataChange":true}})" + "\n" +
                             R"({"protocol":{"minReaderVersion":1,"minWriterVersion":4}})" + "\n");

  CHECK(delta::latest_version(table) == 2);
  CHECK(delta::commit_versions(table) == std::vector<std::int64_t>{0, 1, 2});

  const auto v0 = delta::load_snapshot(table, 0);
  CHECK(v0.version == 0);
  CHECK(v0.files.size() == 2);
  CHECK(v0.files.count("b c.parquet") == 1);
  CHECK(v0.txn_version("q") == 0);
  CHECK_FALSE(v0.txn_version("other").has_value());
  CHECK(v0.num_records() == 3);

  const auto v1 = delta::load_snapshot(table, 1);
  CHECK(v1.files.size() == 2);
  CHECK(v1.files.count("a.parquet") == 0);
  CHECK(v1.tombstones.count("a.parquet") == 1);
  CHECK(v1.txn_version("q") == 1);
  CHECK(v1.txn_version("other") == 7);

  const auto latest = delta::load_snapshot(table);
  CHECK(latest.version == 2);
  CHECK(latest.protocol.min_writer_version == 4);
  CHECK(latest.metadata.id == "2b5c7e3a-1111-4c4c-9c9c-0123456789ab");
  std::vector<std::string> live;
  for (const auto& [path, add] : latest.files) live.push_back(path);
  CHECK(live == std::vector<std::string>{"a.parquet", "d.parquet"});
  CHECK(latest.files.at("a.parquet").size == 5);
  CHECK(latest.tombstones.count("a.parquet") == 0);
  CHECK(latest.num_records() == 9);

  // update_snapshot moves a snapshot forward by replaying later commits.
  auto s = delta::load_snapshot(table, 0);
  delta::update_snapshot(s);
  CHECK(s.version == 2);
  CHECK(s.files.size() == latest.files.size());
  CHECK(s.app_versions == latest.app_versions);
  CHECK(delta::file_path_of(table, "b%20c.parquet") == table / "b c.parquet");
  CHECK(delta::file_path_of(table, "p=x%253Ay/f.parquet") == table / "p=x%3Ay/f.parquet");
}

TEST_CASE("delta snapshot errors name the table and the version", "[delta][log]") {
  const auto table = fresh_table("errors");
  CHECK_THROWS_WITH(delta::load_snapshot(table), Catch::Contains("no Delta table at " + table.string()));
  write_commit(table, 0, protocol_line + "\n" + metadata_line + "\n");
  write_commit(table, 2, add_line("x.parquet", 1) + "\n");
  CHECK_THROWS_WITH(delta::load_snapshot(table, 5), Catch::Contains("has no version 5 (latest is 2)"));
  CHECK_THROWS_WITH(delta::load_snapshot(table), Catch::Contains("version 1 has no commit file"));
  CHECK(delta::load_snapshot(table, 0).files.empty());

  const auto no_meta = fresh_table("nometa");
  write_commit(no_meta, 0, protocol_line + "\n" + add_line("x.parquet", 1) + "\n");
  CHECK_THROWS_WITH(delta::load_snapshot(no_meta), Catch::Contains("the log has no metaData action"));

  const auto dv = fresh_table("features");
  write_commit(dv, 0,
               R"({"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}})" "\n" +
                   metadata_line + "\n");
  CHECK_THROWS_WITH(delta::load_snapshot(dv).check_readable(), Catch::Contains("reader feature 'deletionVectors'"));
}

TEST_CASE("delta partition values are escaped as Hive does and paths encoded as URIs", "[delta][log]") {
  CHECK(delta::escape_partition_value("a b") == "a b");
  CHECK(delta::escape_partition_value("x:y/z=1%") == "x%3Ay%2Fz%3D1%25");
  CHECK(delta::escape_partition_value("q?#[]") == "q%3F%23%5B%5D");
  CHECK(delta::unescape_partition_value("x%3Ay%2Fz%3D1%25") == "x:y/z=1%");
  CHECK(delta::encode_file_uri("p=x%3Ay/a b.parquet") == "p=x%253Ay/a%20b.parquet");
  CHECK(delta::commit_file_name(42) == "00000000000000000042.json");
  CHECK(delta::checkpoint_file_name(10) == "00000000000000000010.checkpoint.parquet");
  CHECK(delta::checkpoint_part_file_name(10, 1, 3) == "00000000000000000010.checkpoint.0000000001.0000000003.parquet");
}

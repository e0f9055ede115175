// Bronze to silver: one query writes a Delta table with sl::delta::sink, another streams it with
// sl::delta::source into a second (partitioned) table, fails in the middle of a batch and is
// restarted from its checkpoint while the first keeps appending. Every row reaches silver
// exactly once, as sluice's reader and delta-rs (make_tables.py read) both see, and the txn
// of each table holds its query's last batch.
#include "reader_support.hpp"

#include <sluice/delta.hpp>

#include <atomic>
#include <set>

using namespace reader_test;
namespace delta = sluice::delta;

namespace {
Item make_item(std::int64_t i) {
  const auto start = *sl::parse_timestamp("2024-01-15T10:00:00Z");
  Item it{};
  it.id = i;
  it.name = "name-" + std::to_string(i);
  it.score = static_cast<double>(i) * 1.5;
  it.flag = i % 2 == 0;
  it.ts = start + std::chrono::seconds(i) + std::chrono::microseconds(i);
  if (i % 3 != 0) it.maybe = static_cast<std::int32_t>(i * 10);
  it.span = {start + std::chrono::minutes(5 * (i / 10)), start + std::chrono::minutes(5 * (i / 10) + 5)};
  for (std::int64_t k = 0; k < i % 4; ++k) it.tags.push_back(k);
  static const char* parts[] = {"a b", "x:y/z", "q=1%", nullptr};
  if (const char* p = parts[i % 4]) it.part = p;
  return it;
}
std::vector<Item> items(std::int64_t first, std::int64_t n) {
  std::vector<Item> out;
  for (auto i = first; i < first + n; ++i) out.push_back(make_item(i));
  return out;
}
bool silver_keeps(const Item& r) { return r.id % 7 != 3; }
}  // namespace

TEST_CASE("delta bronze to silver through sink and source, restarted midway, every row once", "[delta][source]") {
  const auto dir = fresh_dir("bronze-silver");
  const auto bronze = dir / "bronze", silver = dir / "silver";
  const sl::query_options bronze_opts{.checkpoint = (dir / "ck-bronze").string()};
  const sl::query_options silver_opts{.trigger = sl::trigger::available_now(), .checkpoint = (dir / "ck-silver").string()};

  sl::memory_stream<Item> input;
  auto bronze_query = sl::start(input | delta::sink(bronze), sl::output_mode::append, bronze_opts);
  std::int64_t next = 0;
  auto append_bronze = [&](int batches) {
    for (int b = 0; b < batches; ++b) {
      input.add_data(items(next, 10));
      next += 10;
      bronze_query.process_all_available();
    }
  };
  append_bronze(6);

  // The silver query fails once, in the middle of the batch that carries row 25.
  std::atomic<bool> fail_once{true};
  auto silver_query = [&] {
    return sl::start(delta::source<Item>(bronze, {.max_files_per_trigger = 2}) | sl::filter([&](const Item& r) {
                       if (r.id == 25 && fail_once.exchange(false)) throw std::runtime_error("injected failure at row 25");
                       return silver_keeps(r);
                     }) | delta::sink(silver, {.partition_by = {"part"}}),
                     sl::output_mode::append, silver_opts);
  };
  {
    auto q = silver_query();
    CHECK_THROWS_WITH(q.await_termination(), Catch::Contains("injected failure at row 25"));
  }
  CHECK(delta::latest_version(silver) == 0);  // the first batch (rows 0..19) was committed

  {  // restart: the failed batch runs again with the same files, then the rest
    auto q = silver_query();
    q.await_termination();
  }
  append_bronze(3);  // bronze keeps growing; silver picks up only the new commits
  {
    auto q = silver_query();
    q.await_termination();
  }
  bronze_query.stop();

  std::vector<Item> expected;
  for (const auto& r : items(0, next))
    if (silver_keeps(r)) expected.push_back(r);
  const auto silver_rows = delta::read<Item>(silver);
  CHECK(as_json_rows(silver_rows) == as_json_rows(expected));
  std::set<std::int64_t> ids;
  for (const auto& r : silver_rows) ids.insert(r.id);
  CHECK(ids.size() == silver_rows.size());
  // delta-rs reads the same rows from both tables.
  CHECK(report_rows(make_table("read " + quoted(silver))) == as_json_rows(expected));
  CHECK(report_rows(make_table("read " + quoted(bronze))) == as_json_rows(items(0, next)));
  // 9 bronze files in slices of 2 files: 5 batches; each silver batch id is in the txn.
  const auto snap = delta::load_snapshot(silver);
  REQUIRE(snap.app_versions.size() == 1);
  CHECK(snap.app_versions.begin()->second == 4);
  CHECK(delta::load_snapshot(bronze).app_versions.begin()->second == 8);
  CHECK(snap.metadata.partition_columns == std::vector<std::string>{"part"});
}

TEST_CASE("delta read and source start from the checkpoints sl::delta::sink writes", "[delta][read][checkpoint]") {
  const auto dir = fresh_dir("own-checkpoint");
  const auto table = dir / "t";
  sl::memory_stream<Item> input;
  {
    auto q = sl::start(input | delta::sink(table, {.partition_by = {"part"}, .checkpoint_interval = 5}),
                       sl::output_mode::append);
    for (int b = 0; b < 12; ++b) {
      input.add_data(items(b * 10, 10));
      q.process_all_available();
    }
    q.stop();
  }
  REQUIRE(delta::latest_version(table) == 11);
  const auto found = delta::find_checkpoint(table, 11);
  REQUIRE(found.has_value());
  CHECK(found->version == 10);
  // Log cleanup: the commits before the checkpoint go; only the checkpoint knows those files.
  for (std::int64_t v = 0; v < found->version; ++v) fs::remove(delta::commit_path(table, v));
  const auto snap = delta::load_snapshot(table);
  CHECK(snap.checkpoint_version == 10);
  CHECK(snap.txn_version(snap.app_versions.begin()->first) == 11);
  CHECK(snap.metadata.partition_columns == std::vector<std::string>{"part"});
  CHECK(as_json_rows(delta::read<Item>(table)) == as_json_rows(items(0, 120)));
  CHECK(report_rows(make_table("read " + quoted(table))) == as_json_rows(items(0, 120)));
  CHECK(delta::read<Item>(table, {.version = 10}).size() == 110);

  std::vector<Item> streamed;
  auto q = sl::start(delta::source<Item>(table) | sl::foreach_batch([&](std::span<const Item> rows, std::int64_t) {
                       streamed.insert(streamed.end(), rows.begin(), rows.end());
                     }),
                     sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  q.await_termination();
  CHECK(as_json_rows(streamed) == as_json_rows(items(0, 120)));
}

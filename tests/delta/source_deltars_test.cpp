// sluice::delta::source over tables written by delta-rs (make_tables.py): the stream reads each
// file once, in commit order, within max_files_per_trigger; it resumes from its checkpoint
// after a restart (also one in the middle of a failed batch); removes stop it unless ignored.
#include "reader_support.hpp"

#include <sluice/delta/source.hpp>
#include <sluice/sluice.hpp>

#include <map>
#include <mutex>
#include <set>
#include <span>

using namespace reader_test;
namespace delta = sluice::delta;

namespace {
// Rows per batch id, as an idempotent sink keeps them (a batch run again replaces its rows).
struct batch_store {
  std::mutex m;
  std::map<std::int64_t, std::vector<Item>> batches;
  int fail_batch = -1;  // throw (once) when this batch id first arrives

  auto sink() {
    return sl::foreach_batch([this](std::span<const Item> rows, std::int64_t id) {
      std::lock_guard lock(m);
      if (id == fail_batch) {
        fail_batch = -1;
        throw std::runtime_error("injected failure in batch " + std::to_string(id));
      }
      batches[id] = std::vector<Item>(rows.begin(), rows.end());
    });
  }
  std::vector<Item> all() {
    std::lock_guard lock(m);
    std::vector<Item> out;
    for (auto& [id, rows] : batches) out.insert(out.end(), rows.begin(), rows.end());
    return out;
  }
  std::vector<std::size_t> sizes() {
    std::lock_guard lock(m);
    std::vector<std::size_t> out;
    for (auto& [id, rows] : batches)
      if (!rows.empty()) out.push_back(rows.size());
    return out;
  }
};

void run_available_now(delta::source<Item> src, batch_store& store, const std::string& checkpoint = {}) {
  auto q = sl::start(std::move(src) | store.sink(), sl::output_mode::append,
                     {.trigger = sl::trigger::available_now(), .checkpoint = checkpoint});
  q.await_termination();
}
}  // namespace

TEST_CASE("delta source streams a delta-rs table in file slices and then only new commits", "[delta][source]") {
  const auto dir = fresh_dir("src-appends");
  const auto table = dir / "t";
  make_table("appends " + quoted(table));
  batch_store store;
  const auto checkpoint = (dir / "ck").string();
  run_available_now(delta::source<Item>(table, {.max_files_per_trigger = 1}), store, checkpoint);
  CHECK(store.sizes() == std::vector<std::size_t>{10, 10, 10});
  CHECK(as_json_rows(store.all()) == report_rows(make_table("read " + quoted(table))));

  // Two more commits; the restarted query reads just those, each row once.
  make_table("more " + quoted(table));
  const auto report = make_table("more " + quoted(table));
  run_available_now(delta::source<Item>(table, {.max_files_per_trigger = 1}), store, checkpoint);
  CHECK(store.sizes() == std::vector<std::size_t>{10, 10, 10, 10, 10});
  CHECK(as_json_rows(store.all()) == report_rows(report));
}

TEST_CASE("delta source restarted after a failed batch reads every file exactly once", "[delta][source]") {
  const auto dir = fresh_dir("src-restart");
  const auto table = dir / "t";
  make_table("checkpointed " + quoted(table));  // a snapshot from a checkpoint, then two commits
  batch_store store;
  store.fail_batch = 2;
  const auto checkpoint = (dir / "ck").string();
  {
    auto q = sl::start(delta::source<Item>(table, {.max_files_per_trigger = 4}) | store.sink(), sl::output_mode::append,
                       {.trigger = sl::trigger::available_now(), .checkpoint = checkpoint});
    CHECK_THROWS_WITH(q.await_termination(), Catch::Contains("injected failure in batch 2"));
  }
  CHECK(store.batches.size() == 2);
  const auto report = make_table("more " + quoted(table));
  run_available_now(delta::source<Item>(table, {.max_files_per_trigger = 4}), store, checkpoint);
  const auto rows = store.all();
  CHECK(as_json_rows(rows) == report_rows(report));
  std::set<std::int64_t> ids;
  for (const auto& r : rows) ids.insert(r.id);
  CHECK(ids.size() == rows.size());
}

TEST_CASE("delta source refuses removes in the versions it reads unless told to ignore them", "[delta][source]") {
  const auto dir = fresh_dir("src-removes");
  const auto table = dir / "t";
  make_table("overwrite " + quoted(table));  // v0, v1 appends; v2 overwrite; v3 append
  {
    batch_store store;
    auto q = sl::start(delta::source<Item>(table, {.starting_version = 0}) | store.sink(), sl::output_mode::append,
                       {.trigger = sl::trigger::available_now()});
    CHECK_THROWS_WITH(q.await_termination(), Catch::Contains("version 2 removes data files") &&
                                                 Catch::Contains(table.string()) && Catch::Contains("ignore_changes"));
  }
  {  // ignore_deletes covers commits that only delete, not an overwrite
    batch_store store;
    auto q = sl::start(delta::source<Item>(table, {.starting_version = 0, .ignore_deletes = true}) | store.sink(),
                       sl::output_mode::append, {.trigger = sl::trigger::available_now()});
    CHECK_THROWS_WITH(q.await_termination(), Catch::Contains("version 2 removes data files"));
  }
  {  // ignore_changes: every add of every version, removes ignored
    batch_store store;
    run_available_now(delta::source<Item>(table, {.starting_version = 0, .ignore_changes = true}), store);
    CHECK(store.all().size() == 30);
    CHECK(sum_ids(store.all()) == 45 + 145 + 510 + 535);
  }
  {  // from a snapshot, earlier removes do not matter: the live rows, as delta-rs reads them
    batch_store store;
    run_available_now(delta::source<Item>(table), store);
    CHECK(as_json_rows(store.all()) == report_rows(make_table("read " + quoted(table))));
  }
  {  // starting_version = 3: only the last append
    batch_store store;
    run_available_now(delta::source<Item>(table, {.starting_version = 3}), store);
    CHECK(sum_ids(store.all()) == 535);
  }
}

TEST_CASE("delta source reads partition values from the log and waits for a table to appear", "[delta][source]") {
  const auto dir = fresh_dir("src-partitioned");
  const auto table = dir / "t";
  batch_store store;
  const auto checkpoint = (dir / "ck").string();
  // No table yet: nothing to read, no error.
  run_available_now(delta::source<Item>(table), store, checkpoint);
  CHECK(store.all().empty());
  const auto report = make_table("partitioned " + quoted(table));
  run_available_now(delta::source<Item>(table), store, checkpoint);
  CHECK(as_json_rows(store.all()) == report_rows(report));
}

TEST_CASE("delta source skips pure deletes with ignore_deletes and never rereads compacted files", "[delta][source]") {
  const auto dir = fresh_dir("src-deletes");
  const auto table = dir / "t";
  make_table("appends " + quoted(table));  // versions 0..2
  batch_store store;
  const auto checkpoint = (dir / "ck").string();
  run_available_now(delta::source<Item>(table, {.ignore_deletes = true}), store, checkpoint);
  CHECK(store.all().size() == 30);
  make_table("delete_first " + quoted(table));  // version 3: removes the file of ids 0..9, adds nothing
  make_table("optimize " + quoted(table));      // version 4: rewrites, dataChange = false
  const auto report = make_table("more " + quoted(table));  // version 5: ids 30..39
  {
    const auto v3 = delta::read_commit(table, 3);
    CHECK(std::none_of(v3.begin(), v3.end(), [](const delta::action& a) { return std::holds_alternative<delta::add_action>(a); }));
    const auto v4 = delta::read_commit(table, 4);
    CHECK(std::any_of(v4.begin(), v4.end(), [](const delta::action& a) {
      const auto* add = std::get_if<delta::add_action>(&a);
      return add && !add->data_change;
    }));
  }
  run_available_now(delta::source<Item>(table, {.ignore_deletes = true}), store, checkpoint);
  const auto rows = store.all();
  CHECK(rows.size() == 40);  // each row once: the compacted file is not data
  CHECK(sum_ids(rows) == 39 * 40 / 2);
  CHECK(report.at("rows").as_array().size() == 30);  // what the table holds now: ids 10..39

  batch_store strict;  // the same versions without ignore_deletes: version 3 stops the query
  auto q = sl::start(delta::source<Item>(table, {.starting_version = 3}) | strict.sink(), sl::output_mode::append,
                     {.trigger = sl::trigger::available_now()});
  CHECK_THROWS_WITH(q.await_termination(), Catch::Contains("version 3 removes data files"));
}

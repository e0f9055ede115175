// sl::delta::sink given a batch as partitions (graph/plan.hpp's partition-aware protocol, as
// the engine's workers hand it over): a writer per partition writes its Parquet files at once
// with the others, and the batch is one Delta commit with every partition's files. Tables are
// read back by delta-rs and DuckDB (verify_table.py).
#include <catch2/catch.hpp>
#include <sluice/delta.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../partition_support.hpp"

namespace delta_partitions_test {
namespace sl = sluice;
namespace fs = std::filesystem;
using sluice_test::batch_on;
using sluice_test::split_rows;
using sluice_test::thread_tasks;

struct Reading {
  std::int64_t id = 0;
  std::string sensor;
  std::optional<double> value;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (id, sensor, value))

using bound_sink = decltype(sl::delta::sink("x").bind<Reading>());
static_assert(sl::partitioned_sink_for<bound_sink, Reading>);

fs::path scratch(const std::string& name) {
  const fs::path dir =
      fs::path(SLUICE_TESTS_BINARY_DIR) / "work" / ("partitions-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<Reading> readings(std::int64_t from, std::int64_t to) {
  std::vector<Reading> out;
  for (auto i = from; i < to; ++i)
    out.push_back({i, "s-" + std::to_string(i % 3), i % 4 == 0 ? std::nullopt : std::optional<double>(i * 0.25)});
  return out;
}

// verify_table.py (delta-rs and DuckDB) on the table: its exit status, and its output.
int verify(const fs::path& table, const std::vector<Reading>& expected, const std::string& args, std::string& out) {
  const auto file = table.parent_path() / (table.filename().string() + "-expected.jsonl");
  {
    std::ofstream f(file);
    for (const auto& r : expected) f << sl::to_json_string(r) << "\n";
  }
  const std::string cmd = std::string("\"") + SLUICE_PYTHON + "\" \"" + SLUICE_TESTS_SOURCE_DIR +
                          "/verify_table.py\" \"" + table.string() + "\" --expected \"" + file.string() + "\" " +
                          args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Parquet data files under the table (not _delta_log).
std::size_t parquet_files(const fs::path& table) {
  std::size_t n = 0;
  for (auto it = fs::recursive_directory_iterator(table); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && it->path().filename() == "_delta_log") it.disable_recursion_pending();
    else if (it->is_regular_file() && it->path().extension() == ".parquet") ++n;
  }
  return n;
}

std::size_t adds_in(const fs::path& table, std::int64_t version) {
  std::size_t n = 0;
  for (const auto& a : sl::delta::read_commit(table, version)) n += std::holds_alternative<sl::delta::add_action>(a);
  return n;
}

void deliver(bound_sink& sink, std::int64_t batch_id, const std::vector<Reading>& rows, std::size_t partitions,
             thread_tasks& pool) {
  const auto parts = split_rows(rows, partitions);
  std::vector<Reading> scratch;
  sl::deliver_batch(sink, batch_on(batch_id, &pool), std::span<const std::span<const Reading>>(parts), scratch);
  CHECK(scratch.empty());  // never joined
}

}  // namespace delta_partitions_test

using namespace delta_partitions_test;

TEST_CASE("delta sink: 1, 2 and 4 partitions written at once give the same table, one commit per batch",
          "[delta][sink][partitions]") {
  thread_tasks pool(4);
  const auto dir = scratch("same");
  for (const std::size_t partitions : {1, 2, 4}) {
    INFO("partitions: " << partitions);
    for (const bool by_sensor : {false, true}) {
      INFO("partition_by sensor: " << by_sensor);
      const auto table = dir / ("t" + std::to_string(partitions) + (by_sensor ? "-by-sensor" : ""));
      sl::delta::sink_options options;
      if (by_sensor) options.partition_by = {"sensor"};
      auto sink = sl::delta::sink(table, options).bind<Reading>();
      sink.start({"query-partitions", "", sl::output_mode_kind::append});
      std::vector<Reading> all;
      const std::int64_t sizes[] = {200, 0, 9};
      std::int64_t next = 0;
      for (std::int64_t b = 0; b < 3; ++b) {
        const auto rows = readings(next, next + sizes[b]);
        next += sizes[b];
        deliver(sink, b, rows, partitions, pool);
        all.insert(all.end(), rows.begin(), rows.end());
      }
      deliver(sink, 2, readings(500, 509), partitions, pool);  // batch 2 offered again: skipped
      CHECK(sink.commits() == 3);
      CHECK(sl::delta::latest_version(sink.path()) == 2);
      // Version 0 holds every partition's files: one per partition (per sensor directory).
      CHECK(adds_in(table, 0) == partitions * (by_sensor ? 3 : 1));
      CHECK(adds_in(table, 1) == 0);
      CHECK(parquet_files(table) == adds_in(table, 0) + adds_in(table, 2));
      std::string out;
      const int status = verify(table, all,
                                "--app-id query-partitions --txn 2 --version 2 --partition-columns " +
                                    std::string(by_sensor ? "sensor" : "''"),
                                out);
      INFO(out);
      CHECK(status == 0);
      CHECK(out.find("\"deltars_rows\": 209") != std::string::npos);
    }
  }
  CHECK(pool.threads_used() > 1);
}

TEST_CASE("delta sink: a failing partition writer aborts the batch, and the batch re-run commits it once",
          "[delta][sink][partitions]") {
  thread_tasks pool(4);
  const auto table = scratch("abort") / "t";
  auto sink = sl::delta::sink(table).bind<Reading>();
  sink.start({"query-abort", "", sl::output_mode_kind::append});
  const auto first = readings(0, 10);
  sink.add_batch(0, first);
  const auto rows = readings(10, 110);
  const auto parts = split_rows(rows, 4);
  const std::span<const std::span<const Reading>> all_parts(parts);
  std::vector<Reading> scratch_rows;
  sluice_test::failing_partition<bound_sink, Reading> faulty{sink, 1, "parquet writer failed"};
  REQUIRE_THROWS_WITH(sl::deliver_batch(faulty, batch_on(1, &pool), all_parts, scratch_rows), "parquet writer failed");
  CHECK(sl::delta::latest_version(table) == 0);
  CHECK(parquet_files(table) == 1);  // every writer's files of batch 1 deleted

  deliver(sink, 1, rows, 4, pool);
  deliver(sink, 1, rows, 4, pool);  // offered again: skipped
  CHECK(sl::delta::latest_version(table) == 1);
  auto all = first;
  all.insert(all.end(), rows.begin(), rows.end());
  std::string out;
  const int status = verify(table, all, "--app-id query-abort --txn 1 --version 1", out);
  INFO(out);
  CHECK(status == 0);
}

TEST_CASE("delta sink: a crash between the writers' commits and the batch's commit leaves files no version lists, "
          "the re-run commits once and the restart deletes them", "[delta][sink][partitions]") {
  thread_tasks pool(2);
  const auto table = scratch("crash") / "t";
  const auto first = readings(0, 10), second = readings(10, 70);
  {
    auto sink = sl::delta::sink(table).bind<Reading>();
    sink.start({"query-crash", "", sl::output_mode_kind::append});
    sink.add_batch(0, first);
    // Batch 1: both writers write and commit, then the process "dies" before commit_batch.
    REQUIRE(sink.begin_batch(1));
    const auto parts = split_rows(second, 2);
    std::vector<sl::delta::written_files> messages;
    for (std::int64_t p = 0; p < 2; ++p) {
      auto w = sink.create_writer(1, p);
      w.write(parts[static_cast<std::size_t>(p)]);
      messages.push_back(w.commit());
    }
  }
  CHECK(parquet_files(table) == 3);
  CHECK(sl::delta::latest_version(table) == 0);
  {
    std::string out;
    const int status = verify(table, first, "--app-id query-crash --txn 0 --version 0", out);
    INFO(out);
    CHECK(status == 0);  // the stale files are not in the table
  }

  // The restarted query: the sink deletes the stale files, and runs batch 1 again as 4 partitions.
  auto sink = sl::delta::sink(table).bind<Reading>();
  sink.start({"query-crash", "", sl::output_mode_kind::append});
  CHECK(sink.leftovers_removed() == 2);
  deliver(sink, 1, second, 4, pool);
  CHECK(sl::delta::latest_version(table) == 1);
  CHECK(adds_in(table, 1) == 4);
  CHECK(parquet_files(table) == 1 + 4);
  auto all = first;
  all.insert(all.end(), second.begin(), second.end());
  std::string out;
  const int status = verify(table, all, "--app-id query-crash --txn 1 --version 1", out);
  INFO(out);
  CHECK(status == 0);
}

// The file sinks given a batch as partitions (the partition-aware sink protocol of
// graph/plan.hpp, as the engine's workers hand it over): the same committed content for 1, 2
// and 4 partitions written at once, one manifest entry per batch, a failing writer aborting
// the batch, and a batch re-run after a crash between the writers' commits and the batch's.
#include <catch2/catch.hpp>

#include <boost/describe.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

#include "partition_support.hpp"

namespace files_partitions_test {
namespace sl = sluice;
namespace fs = std::filesystem;
using sluice_test::batch_on;
using sluice_test::split_rows;
using sluice_test::thread_tasks;


struct Reading {
  std::int64_t id = 0;
  std::string sensor;
  std::optional<double> value;
  friend bool operator==(const Reading&, const Reading&) = default;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (id, sensor, value))

static_assert(sl::partitioned_sink_for<decltype(sl::files::json_lines_sink("x").bind<Reading>()), Reading>);
static_assert(sl::partitioned_sink_for<decltype(sl::files::csv_sink("x").bind<Reading>()), Reading>);

struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& tag) {
    path = fs::temp_directory_path() / ("sluice-files-partitions-" + tag + "-" + sl::detail::random_uuid());
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<Reading> readings(std::int64_t from, std::int64_t to) {
  std::vector<Reading> out;
  for (auto i = from; i < to; ++i)
    out.push_back({i, "s-" + std::to_string(i % 5) + (i % 7 == 0 ? ",\"q\"" : ""),
                   i % 3 == 0 ? std::nullopt : std::optional<double>(i * 0.5)});
  return out;
}

// Data files (and temporaries) in the directory, committed or not.
std::size_t part_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.starts_with("part-") || name.starts_with(".part-")) ++n;
  }
  return n;
}

// Batches of 0, 1, 7 and 300 rows, each as `partitions` partitions, through deliver_batch.
template <class Sink>
std::vector<Reading> write_batches(Sink& sink, std::size_t partitions, thread_tasks& pool) {
  sink.start({"q", "", sl::output_mode_kind::append});
  std::vector<Reading> all, scratch;
  const std::int64_t sizes[] = {300, 0, 1, 7};
  std::int64_t next = 0;
  for (std::int64_t b = 0; b < 4; ++b) {
    const auto rows = readings(next, next + sizes[b]);
    next += sizes[b];
    const auto parts = split_rows(rows, partitions);
    sl::deliver_batch(sink, batch_on(b, &pool), std::span<const std::span<const Reading>>(parts), scratch);
    all.insert(all.end(), rows.begin(), rows.end());
  }
  CHECK(scratch.empty());  // never joined: the partitions were written as they are
  return all;
}

}  // namespace files_partitions_test

using namespace files_partitions_test;

TEST_CASE("files sink: 1, 2 and 4 partitions written at once commit the same rows, one manifest entry per batch",
          "[files][sink][partitions]") {
  thread_tasks pool(4);
  std::vector<std::vector<Reading>> json_results, csv_results;
  for (const std::size_t partitions : {1, 2, 4}) {
    INFO("partitions: " << partitions);
    temp_dir json("json"), csv("csv");
    auto json_sink = sl::files::json_lines_sink(json.path).bind<Reading>();
    auto csv_sink = sl::files::csv_sink(csv.path, {.header = true}).bind<Reading>();
    const auto expected = write_batches(json_sink, partitions, pool);
    CHECK(write_batches(csv_sink, partitions, pool) == expected);

    for (const auto& dir : {json.path, csv.path}) {
      const auto batches = sl::files::committed_batches(dir);
      REQUIRE(batches.size() == 4);
      // One file per partition with rows; the batch without rows has none.
      CHECK(batches[0].files.size() == partitions);
      CHECK(batches[1].files.empty());
      CHECK(batches[2].files.size() == 1);
      std::int64_t rows = 0;
      for (const auto& f : batches[0].files) rows += f.rows;
      CHECK(rows == 300);
      std::size_t listed = 0;
      for (const auto& b : batches) listed += b.files.size();
      CHECK(part_files(dir) == listed);  // nothing else left behind
    }
    json_results.push_back(sl::files::read_committed_json_lines<Reading>(json.path));
    csv_results.push_back(sl::files::read_committed_csv<Reading>(csv.path, {.header = true}));
    CHECK(json_results.back() == expected);  // partitions listed in order: the batch's order
    CHECK(csv_results.back() == expected);
  }
  CHECK(json_results[0] == json_results[1]);
  CHECK(json_results[0] == json_results[2]);
  CHECK(pool.threads_used() > 1);
}

TEST_CASE("files sink: a failing partition writer aborts the batch, and the batch re-run commits it once",
          "[files][sink][partitions]") {
  thread_tasks pool(4);
  temp_dir dir("abort");
  auto sink = sl::files::json_lines_sink(dir.path).bind<Reading>();
  sink.start({"q", "", sl::output_mode_kind::append});
  const auto rows = readings(0, 100);
  const auto parts = split_rows(rows, 4);
  const std::span<const std::span<const Reading>> all_parts(parts);
  std::vector<Reading> scratch;
  for (const std::int64_t failing : {0, 3}) {
    INFO("failing partition: " << failing);
    sluice_test::failing_partition<decltype(sink), Reading> faulty{sink, failing, "disk full in partition"};
    REQUIRE_THROWS_WITH(sl::deliver_batch(faulty, batch_on(0, &pool), all_parts, scratch), "disk full in partition");
    CHECK(!sl::files::latest_committed_batch(dir.path));
    CHECK(part_files(dir.path) == 0);  // every writer's files deleted, the failing one's too
  }
  // Run again (as after the query's restart): committed once, exactly the batch's rows.
  sl::deliver_batch(sink, batch_on(0, &pool), all_parts, scratch);
  sl::deliver_batch(sink, batch_on(0, &pool), all_parts, scratch);  // offered again: skipped
  CHECK(sl::files::read_committed_json_lines<Reading>(dir.path) == rows);
  CHECK(sl::files::committed_batches(dir.path).size() == 1);
  CHECK(part_files(dir.path) == 4);
}

TEST_CASE("files sink: a crash between the writers' commits and the batch's commit shows nothing, the re-run "
          "commits once and deletes the stale files", "[files][sink][partitions]") {
  thread_tasks pool(2);
  temp_dir dir("crash");
  const auto first = readings(0, 10), second = readings(10, 60);
  {
    auto sink = sl::files::json_lines_sink(dir.path).bind<Reading>();
    sink.start({"q", "", sl::output_mode_kind::append});
    sink.add_batch(0, first);
    // Batch 1: both writers write and commit, then the process "dies" before commit_batch.
    REQUIRE(sink.begin_batch(1));
    const auto parts = split_rows(second, 2);
    std::vector<sl::files::written_files> messages;
    for (std::int64_t p = 0; p < 2; ++p) {
      auto w = sink.create_writer(1, p);
      w.write(parts[static_cast<std::size_t>(p)]);
      messages.push_back(w.commit());
    }
  }
  CHECK(part_files(dir.path) == 3);  // batch 0's file and the two stale ones of batch 1
  CHECK(sl::files::read_committed_json_lines<Reading>(dir.path) == first);  // not visible

  // The restarted query runs batch 1 again, now as 4 partitions.
  auto sink = sl::files::json_lines_sink(dir.path).bind<Reading>();
  sink.start({"q", "", sl::output_mode_kind::append});
  const auto parts = split_rows(second, 4);
  std::vector<Reading> scratch;
  sl::deliver_batch(sink, batch_on(1, &pool), std::span<const std::span<const Reading>>(parts), scratch);
  auto all = first;
  all.insert(all.end(), second.begin(), second.end());
  CHECK(sl::files::read_committed_json_lines<Reading>(dir.path) == all);
  CHECK(part_files(dir.path) == 1 + 4);  // the stale files are gone once batch 1 committed
}

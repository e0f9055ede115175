// sl::delta::sink deletes, when it starts, what a crash of its own query left in the table:
// its temporaries in _delta_log and the Parquet files of a batch whose commit never happened.
// The crashes are real: the Delta crash worker (tests/delta/crash/delta_crash_worker.cpp) is
// killed with SIGKILL at named crash points (SLUICE_CRASH_AT), restarted on its checkpoint,
// and the table read back by delta-rs and DuckDB (verify_table.py).
#include <catch2/catch.hpp>
#include <sluice/delta.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "crash/crash_event.hpp"

namespace sl = sluice;
namespace fs = std::filesystem;

namespace sink_cleanup_test {
using delta_crash::Event;  // the worker's row type

std::string q(const fs::path& p) { return "\"" + p.string() + "\""; }

struct run_result {
  bool killed = false;  // by SIGKILL (a crash point)
  int status = -1;      // exit status otherwise
  std::string out;
};

run_result run(const std::string& command) {
  run_result r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) r.out += buf;
  const int st = ::pclose(p);
  // popen runs the command through sh: a child killed by a signal is reported as 128 + signal.
  r.killed = (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) || (WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Files under the table (not _delta_log) and the temporaries in _delta_log, by relative path.
std::set<std::string> parquet_files(const fs::path& table) {
  std::set<std::string> out;
  for (auto it = fs::recursive_directory_iterator(table); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && it->path().filename() == "_delta_log") it.disable_recursion_pending();
    else if (it->is_regular_file() && it->path().extension() == ".parquet")
      out.insert(it->path().lexically_relative(table).generic_string());
  }
  return out;
}
std::set<std::string> temporaries(const fs::path& table) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(table / "_delta_log"))
    if (e.path().extension() == ".tmp") out.insert(e.path().filename().string());
  return out;
}
std::set<std::string> unreferenced(const fs::path& table) {
  const auto snapshot = sl::delta::load_snapshot(table);
  std::set<std::string> out;
  for (const auto& f : parquet_files(table))
    if (!snapshot.files.contains(f)) out.insert(f);
  return out;
}

}  // namespace sink_cleanup_test

using namespace sink_cleanup_test;

TEST_CASE("delta sink deletes the temporaries and unreferenced files a crash of its query left and no other") {
  const fs::path dir = fs::path(SLUICE_TESTS_BINARY_DIR) / "work" / ("sink-cleanup-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const auto input = dir / "input", table = dir / "table", checkpoint = dir / "checkpoint";
  fs::create_directories(input);
  std::vector<Event> expected;
  const std::vector<std::string> keys{"a", "b"};
  for (int f = 0; f < 4; ++f) {
    std::ofstream out(input / ("events-" + std::to_string(f) + ".jsonl"));
    for (int i = 0; i < 6; ++i) {
      Event e{f * 100 + i, sl::timestamp{1'705'314'600'000'000 + i}, keys[static_cast<std::size_t>(i % 2)], i};
      out << sl::to_json_string(e) << "\n";
      expected.push_back(e);
    }
  }
  const std::string worker = std::string("\"") + SLUICE_DELTA_CRASH_WORKER + "\" --input " + q(input) + " --output " +
                             q(table) + " --checkpoint " + q(checkpoint);

  // Batch 0 commits; the worker dies after writing batch 1's Parquet files (no commit).
  auto r = run("SLUICE_CRASH_AT=delta_data_written:2 " + worker);
  INFO(r.out);
  REQUIRE(r.killed);
  const auto orphans_of_batch_1 = unreferenced(table);
  CHECK(orphans_of_batch_1.size() == 2);  // one per key
  for (const auto& f : orphans_of_batch_1) CHECK_THAT(f, Catch::Contains("-b1.c000."));

  // Files of other writers: a plain Delta data file and temporary, and another sluice query's
  // uncommitted file (another appId, so another tag). None is referenced by the table.
  const std::set<std::string> foreign{"key=a/part-00000-0f0e0d0c-0b0a-0908-0706-050403020100.c000.snappy.parquet",
                                      "part-00000-11111111-2222-3333-4444-555555555555-sluice-0123456789abcdef-b7.c000.snappy.parquet"};
  for (const auto& f : foreign) std::ofstream(table / f) << "not ours";
  const std::string foreign_tmp = ".00000000000000000009.json.6d1a7b1c-5c71-4d7e-9b8e-0a0b0c0d0e0f.tmp";
  std::ofstream(table / "_delta_log" / foreign_tmp) << "{}";

  // Restarted, the sink deletes batch 1's orphans, then the worker dies between writing a
  // commit's temporary and linking it into place.
  r = run("SLUICE_CRASH_AT=delta_commit_temporary_written:1 " + worker);
  INFO(r.out);
  REQUIRE(r.killed);
  auto left = unreferenced(table);
  for (const auto& f : orphans_of_batch_1) CHECK_FALSE(left.contains(f));
  CHECK(temporaries(table).size() == 2);  // the foreign one and ours

  // Restarted again, it runs to the end: what it left is gone, other writers' files stay.
  r = run(worker);
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(temporaries(table) == std::set<std::string>{foreign_tmp});
  CHECK(unreferenced(table) == foreign);

  // Every row once, read by delta-rs and DuckDB.
  {
    std::ofstream out(dir / "expected.jsonl");
    for (const auto& e : expected) out << sl::to_json_string(e) << "\n";
  }
  const std::string verify = std::string("\"") + SLUICE_PYTHON + "\" \"" + SLUICE_TESTS_SOURCE_DIR +
                             "/verify_table.py\" " + q(table) + " --expected " + q(dir / "expected.jsonl") +
                             " --partition-columns key";
  r = run(verify);
  INFO(r.out);
  CHECK(r.status == 0);
}

// What a batch costs in fsyncs (one for its offsets, one for its commit, one per state file:
// counted through sl::fsync_count), and the restart after a power loss at each step of the
// commit sequence: a log entry whose name survived but whose bytes did not (torn) or that is
// missing, and a torn state file, each as the step leaves it (docs/checkpoints.md, "Files"
// and "What survives a power loss"). The SIGKILL crash tests (tests/crash/) cover process
// crashes at the same steps.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include "keyed_state_queries.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
struct Hit {
  std::string page;
  std::int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(Hit, (), (page, n))

fs::path fresh_dir(const std::string& name) {
  std::random_device rd;
  auto dir = fs::path(SLUICE_TESTS_BINARY_DIR) / ("ckpt-durability-" + name + "-" + std::to_string(rd()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Per batch id, the rows the sink got (its latest call for that id).
using batch_rows = std::map<std::int64_t, std::vector<std::string>>;
}  // namespace

namespace Catch {
template <>
struct StringMaker<batch_rows> {
  static std::string convert(const batch_rows& b) {
    std::string s;
    for (const auto& [id, rows] : b) {
      s += "\n  " + std::to_string(id) + ":";
      for (const auto& r : rows) s += " " + r;
    }
    return s;
  }
};
}  // namespace Catch

namespace {

auto counts(sl::memory_stream<Hit>& in, batch_rows& out) {
  auto q = in | sl::group_by(sl::col<"page">) | sl::aggregate(sl::count(), sl::sum(sl::col<"n">));
  using Row = typename decltype(q)::row_type;
  return std::move(q) | sl::foreach_batch([&out](std::span<const Row> rows, std::int64_t id) {
           auto& v = out[id];
           v.clear();
           for (const auto& r : rows) v.push_back(sl::to_json_string(r));
           std::sort(v.begin(), v.end());
         });
}

auto passthrough(sl::memory_stream<Hit>& in, batch_rows& out) {
  return in | sl::filter([](const Hit& h) { return h.n >= 0; }) |
         sl::foreach_batch([&out](std::span<const Hit> rows, std::int64_t id) {
           auto& v = out[id];
           v.clear();
           for (const auto& r : rows) v.push_back(sl::to_json_string(r));
         });
}

void tear(const fs::path& p, std::size_t keep) {  // the name survived, the bytes did not
  std::string bytes;
  {
    std::ifstream in(p, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes.resize(std::min(keep, bytes.size()));
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

// Three batches (a: 1+2+4, b: 10), the checkpoint then damaged by `crash`, a restart, and a
// fourth input (a: 8): the sink must end with what one uninterrupted run gives.
template <class Crash>
batch_rows run_with(const std::string& name, Crash crash, std::string* error = nullptr) {
  const auto dir = fresh_dir(name);
  sl::memory_stream<Hit> in;
  batch_rows out;
  const sl::query_options opts{.checkpoint = (dir / "ck").string(), .state_snapshot_interval = 100};
  {
    auto q = sl::start(counts(in, out), sl::output_mode::update, opts);
    for (auto rows : {std::vector<Hit>{{"a", 1}}, std::vector<Hit>{{"a", 2}, {"b", 10}}, std::vector<Hit>{{"a", 4}}}) {
      in.add_data(rows);
      q.process_all_available();
    }
    q.stop();
  }
  crash(dir / "ck");
  try {
    auto q = sl::start(counts(in, out), sl::output_mode::update, opts);
    q.process_all_available();
    in.add_data({{"a", 8}});
    q.process_all_available();
    q.stop();
  } catch (const std::exception& e) {
    if (!error) throw;
    *error = e.what();
  }
  fs::remove_all(dir);
  return out;
}

const batch_rows expected = {
    {0, {R"x({"page":"a","count":1,"sum(n)":1})x"}},
    {1, {R"x({"page":"a","count":2,"sum(n)":3})x", R"x({"page":"b","count":1,"sum(n)":10})x"}},
    {2, {R"x({"page":"a","count":3,"sum(n)":7})x"}},
    {3, {R"x({"page":"a","count":4,"sum(n)":15})x"}},
};
}  // namespace

TEST_CASE("checkpoint fsyncs: one for the offsets, one for the commit, one per state file", "[checkpoint][fsync]") {
  const auto dir = fresh_dir("count");
  sl::memory_stream<Hit> in;
  batch_rows out;
  auto per_batch = [&](auto& q, std::vector<Hit> rows) {
    const auto before = sl::fsync_count();
    in.add_data(std::move(rows));
    q.process_all_available();
    return sl::fsync_count() - before;
  };
  SECTION("stateless") {
    auto q = sl::start(passthrough(in, out), sl::output_mode::append, {.checkpoint = (dir / "ck").string()});
    for (int i = 0; i < 3; ++i) CHECK(per_batch(q, {{"a", i}}) == 2);
    q.stop();
    CHECK(out.size() == 3);
  }
  SECTION("one stateful operator, one state partition") {
    auto q = sl::start(counts(in, out), sl::output_mode::update,
                       {.checkpoint = (dir / "ck").string(), .state_snapshot_interval = 3, .shuffle_partitions = 1});
    CHECK(per_batch(q, {{"a", 1}}) == 4);  // its state's schema file, once
    CHECK(per_batch(q, {{"a", 1}}) == 3);
    CHECK(per_batch(q, {{"b", 1}}) == 4);  // version 2: a delta and a snapshot
    CHECK(per_batch(q, {{"b", 1}}) == 3);
    q.stop();
    CHECK(out.size() == 4);
  }
  SECTION("one stateful operator, the default state partitions: files only for those a batch changed") {
    // (Each partition wrote a delta every batch before: 2 + 8, and 2 + 16 with the snapshots.)
    auto q = sl::start(counts(in, out), sl::output_mode::update,
                       {.checkpoint = (dir / "ck").string(), .state_snapshot_interval = 3});
    CHECK(per_batch(q, {{"a", 1}}) == 2 + 1 + 1);  // a's partition's delta, the schema once
    CHECK(per_batch(q, {{"a", 1}}) == 2 + 1);
    // Version 2: b's partition's delta, and a snapshot of each partition with deltas since its
    // last (a's and b's; the 6 others are empty and have no files).
    CHECK(per_batch(q, {{"b", 1}}) == 2 + 1 + 2);
    CHECK(per_batch(q, {{"b", 1}}) == 2 + 1);
    CHECK(per_batch(q, {{"b", 1}, {"a", 2}}) == 2 + 2);
    // Version 5, without rows: the snapshots of the two partitions, which have deltas since.
    CHECK(per_batch(q, {}) == 2 + 2);
    CHECK(per_batch(q, {}) == 2);  // a batch that changes no group writes no state file
    q.stop();
    CHECK(out.size() == 7);
  }
  fs::remove_all(dir);
}

TEST_CASE("checkpoint recovery: a power loss at each step of the commit sequence", "[checkpoint][fsync]") {
  SECTION("no damage") { CHECK(run_with("none", [](const fs::path&) {}) == expected); }
  SECTION("while writing offsets/3: torn, set aside, and batch 3 planned again") {
    // The data of batch 3 arrives after the restart here, so offsets/3 stands for a batch
    // planned before the power loss whose fsync never returned.
    const auto out = run_with("offsets-torn", [](const fs::path& ck) {
      fs::copy_file(ck / "offsets" / "2", ck / "offsets" / "3");
      tear(ck / "offsets" / "3", 20);
    });
    CHECK(out == expected);
  }
  SECTION("while writing offsets/2: empty (its name without its bytes)") {
    CHECK(run_with("offsets-empty", [](const fs::path& ck) {
            fs::remove(ck / "commits" / "2");
            tear(ck / "offsets" / "2", 0);
          }) == expected);
  }
  SECTION("after the sink, while writing the state: a torn delta of the uncommitted batch is rewritten") {
    CHECK(run_with("state-torn", [](const fs::path& ck) {
            fs::remove(ck / "commits" / "2");
            tear(ck / "state" / "0" / "0" / "2.delta", 7);
          }) == expected);
  }
  SECTION("while writing commits/2: torn, set aside, and batch 2 runs again from offsets/2") {
    CHECK(run_with("commit-torn", [](const fs::path& ck) { tear(ck / "commits" / "2", 10); }) == expected);
  }
  SECTION("after writing commits/2, its name lost") {
    CHECK(run_with("commit-missing", [](const fs::path& ck) { fs::remove(ck / "commits" / "2"); }) == expected);
  }
  SECTION("leftover temporaries of a write cut short are ignored") {
    CHECK(run_with("temporaries", [](const fs::path& ck) {
            std::ofstream(ck / "offsets" / ".3.12345.tmp") << "v1\n";
            std::ofstream(ck / "state" / "0" / "0" / ".3.delta.12345.tmp") << "x";
          }) == expected);
  }
}

TEST_CASE("checkpoint recovery: damage no power loss can leave is refused, naming the file", "[checkpoint][fsync]") {
  std::string error;
  SECTION("a torn commit followed by the next batch's offsets") {
    (void)run_with("commit-torn-successor", [](const fs::path& ck) {
      fs::copy_file(ck / "offsets" / "2", ck / "offsets" / "3");
      tear(ck / "commits" / "2", 10);
    }, &error);
    CHECK_THAT(error, Catch::Contains("commits/2: no checksum trailer"));
  }
  SECTION("a torn offsets entry of a committed batch") {
    (void)run_with("offsets-torn-committed", [](const fs::path& ck) { tear(ck / "offsets" / "2", 10); }, &error);
    CHECK_THAT(error, Catch::Contains("offsets/2: "));
  }
  SECTION("a torn state file of a committed batch (synced before its commit was written)") {
    (void)run_with("state-torn-committed", [](const fs::path& ck) { tear(ck / "state" / "0" / "0" / "1.delta", 7); }, &error);
    CHECK_THAT(error, Catch::Contains("state/0/0/1.delta: no checksum trailer"));
  }
  SECTION("a flipped byte in the newest commit (a complete trailer: corruption, not a torn write)") {
    (void)run_with("commit-flipped", [](const fs::path& ck) {
      std::fstream f(ck / "commits" / "2", std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(4);
      f.put('X');
    }, &error);
    CHECK_THAT(error, Catch::Contains("commits/2: checksum mismatch"));
  }
}

namespace {
using keyed_state_queries::hit;
using KHit = keyed_state_queries::Hit;

// Two keys whose rows a keyed operator with the default state partitions keeps in different
// partitions (a one-column key is a one-element tuple).
std::pair<std::string, std::string> keys_in_two_partitions() {
  auto partition = [](const std::string& k) {
    return sl::detail::state_partition_of(sl::detail::key_hash{}(std::tuple<std::string>{k}), sl::default_shuffle_partitions);
  };
  for (const char* b : {"b", "c", "d", "e", "f", "g", "h"})
    if (partition(b) != partition("a")) return {"a", b};
  FAIL("no key outside a's partition");
  return {};
}

struct RHit {  // the right side of the join
  std::string rpage;
  std::int64_t rv = 0;
};
BOOST_DESCRIBE_STRUCT(RHit, (), (rpage, rv))

template <class Node>
auto start_counted(Node&& node, const fs::path& ck, std::int64_t snapshot_interval) {
  return sl::start(std::forward<Node>(node) | sl::foreach_batch([](auto, std::int64_t) {}), sl::output_mode::append,
                   {.checkpoint = ck.string(), .state_snapshot_interval = snapshot_interval});
}
}  // namespace

TEST_CASE("checkpoint fsyncs: every keyed stateful operator writes files only for the state partitions a batch changed",
          "[checkpoint][fsync]") {
  // Each of them wrote a delta per state partition (8) every batch before: 2 + 8 per batch.
  const auto dir = fresh_dir("keyed");
  const auto ck = dir / "ck";
  sl::memory_stream<KHit> in;
  // The fsyncs of the batches one add_data runs (a no-data batch the watermark asks for included).
  auto per_batch = [&](auto& q, std::vector<KHit> rows) {
    const auto before = sl::fsync_count();
    in.add_data(std::move(rows));
    q.process_all_available();
    return sl::fsync_count() - before;
  };
  SECTION("drop_duplicates: a batch of new keys, one of duplicates only, snapshot batches") {
    const auto [a, b] = keys_in_two_partitions();
    auto q = start_counted(in | sl::drop_duplicates(sl::col<"page">), ck, 3);
    CHECK(per_batch(q, {hit(a.c_str(), 1)}) == 2 + 1 + 1);  // a's partition's delta, the schema once
    CHECK(per_batch(q, {hit(a.c_str(), 2), hit(a.c_str(), 3)}) == 2);  // duplicates: no key added
    // Version 2: b's partition's delta, and a snapshot of each partition with deltas since its
    // last (a's and b's; the 6 others have no files).
    CHECK(per_batch(q, {hit(b.c_str(), 1)}) == 2 + 1 + 2);
    CHECK(per_batch(q, {hit(b.c_str(), 2), hit(a.c_str(), 4)}) == 2);
    CHECK(per_batch(q, {hit(a.c_str(), 5), hit("new", 5)}) == 2 + 1);
    CHECK(per_batch(q, {}) == 2 + 1);  // version 5: the snapshot of the one partition changed since
    CHECK(per_batch(q, {}) == 2);
    q.stop();
    CHECK(q.last_progress()->state_operators.at(0).num_rows_total == 3);
  }
  SECTION("drop_duplicates_within_watermark: a no-data batch that evicts writes the evicting partition's delta") {
    auto q = start_counted(in | sl::with_watermark(sl::col<"ts">, 5s) | sl::drop_duplicates_within_watermark(sl::col<"page">),
                           ck, 100);
    CHECK(per_batch(q, {hit("a", 1)}) == 2 + 1 + 1);
    CHECK(per_batch(q, {hit("a", 2)}) == 2);  // a duplicate
    // b's delta; then the watermark is 15 s and a no-data batch evicts a (kept until 6 s).
    CHECK(per_batch(q, {hit("b", 20)}) == (2 + 1) + (2 + 1));
    CHECK(per_batch(q, {hit("a", 3)}) == 2);  // late: dropped
    q.stop();
  }
  SECTION("session windows") {
    auto q = start_counted(keyed_state_queries::session_query(in), ck, 100);
    CHECK(per_batch(q, {hit("a", 1)}) == 2 + 1 + 1);
    CHECK(per_batch(q, {hit("a", 2)}) == 2 + 1);  // the session grows
    // A new session; the watermark is then 15 s: a no-data batch closes [1 s, 6 s).
    CHECK(per_batch(q, {hit("a", 20)}) == (2 + 1) + (2 + 1));
    CHECK(per_batch(q, {hit("a", 3)}) == 2);  // late: dropped
    q.stop();
  }
  SECTION("group state") {
    auto q = start_counted(keyed_state_queries::group_state_query(in), ck, 100);
    CHECK(per_batch(q, {hit("a", 1)}) == 2 + 1 + 1);
    CHECK(per_batch(q, {hit("a", 2)}) == 2 + 1);
    // The watermark is then 15 s: a no-data batch times a out (3 s after 20 s: not yet), changing nothing.
    CHECK(per_batch(q, {hit("a", 20)}) == (2 + 1) + 2);
    CHECK(per_batch(q, {hit("a", 3)}) == 2);  // late: dropped
    q.stop();
  }
  SECTION("transform_with_state") {
    auto q = start_counted(keyed_state_queries::transform_with_state_query(in), ck, 100);
    CHECK(per_batch(q, {hit("a", 1)}) == 2 + 1);  // (its state has no schema file)
    CHECK(per_batch(q, {hit("a", 2)}) == 2 + 1);
    // The watermark is then 15 s: a no-data batch, in which a's timer (23 s) does not fire.
    CHECK(per_batch(q, {hit("a", 20)}) == (2 + 1) + 2);
    CHECK(per_batch(q, {hit("a", 3)}) == 2);  // late: dropped
    q.stop();
  }
  SECTION("stream-stream join") {
    sl::memory_stream<RHit> right;
    auto q = start_counted(in | sl::join(right, sl::col<"page">, sl::col<"rpage">), ck, 100);
    CHECK(per_batch(q, {hit("a", 1)}) == 2 + 1);  // a's partition: its left rows (no schema file)
    const auto before = sl::fsync_count();
    right.add_data({{"a", 1}, {"a", 2}});
    q.process_all_available();
    CHECK(sl::fsync_count() - before == 2 + 1);  // the same partition: its right rows
    q.stop();
  }
  fs::remove_all(dir);
}

// Checkpoints: a query started on an existing checkpoint resumes where it stopped; a batch
// logged but not committed runs again with the same offsets, watermark and timestamp; corrupt
// files and another query's checkpoint are refused with errors naming the file.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace sl = sluice;
namespace fs = std::filesystem;

namespace {
struct Click {
  std::string page;
  sl::timestamp ts;
};
BOOST_DESCRIBE_STRUCT(Click, (), (page, ts))

fs::path fresh_dir(const std::string& name) {
  std::random_device rd;
  auto dir = fs::temp_directory_path() / ("sluice-ckpt-" + name + "-" + std::to_string(rd()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

Click at(const char* page, int seconds) { return {page, sl::timestamp{seconds * 1'000'000LL}}; }

// Output of each batch id, as JSON lines, kept across query restarts.
struct batch_log {
  std::mutex m;
  std::map<std::int64_t, std::vector<std::string>> batches;
  std::vector<std::int64_t> calls;
};

template <class Stream>
auto counts_query(Stream in, batch_log& log) {
  auto q = std::move(in) | sl::with_watermark(sl::col<"ts">, 5s) |
           sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) | sl::aggregate(sl::count());
  using Row = typename decltype(q)::row_type;
  return std::move(q) | sl::foreach_batch([&log](std::span<const Row> rows, std::int64_t id) {
           std::lock_guard lock(log.m);
           log.calls.push_back(id);
           auto& out = log.batches[id];
           out.clear();
           for (const auto& r : rows) out.push_back(sl::to_json_string(r));
           std::sort(out.begin(), out.end());
         });
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}
}  // namespace

TEST_CASE("checkpoint: a restarted query resumes offsets, watermark and state", "[checkpoint]") {
  const auto dir = fresh_dir("resume");
  sl::memory_stream<Click> in;
  batch_log log;
  const sl::query_options opts{.checkpoint = (dir / "ck").string()};
  std::string first_id;
  {
    auto q = sl::start(counts_query(in, log), sl::output_mode::append, opts);
    in.add_data({at("a", 1), at("a", 2), at("b", 3)});
    q.process_all_available();
    in.add_data({at("a", 4)});
    q.process_all_available();
    first_id = q.id();
    q.stop();
  }
  REQUIRE(fs::exists(dir / "ck" / "metadata"));
  REQUIRE(fs::exists(dir / "ck" / "offsets" / "0"));
  REQUIRE(fs::exists(dir / "ck" / "commits" / "1"));
  CHECK(read_text(dir / "ck" / "offsets" / "0").rfind("v1\n", 0) == 0);

  // A new process would build the same graph again: a new runner, state from disk.
  {
    auto q = sl::start(counts_query(in, log), sl::output_mode::append, opts);
    CHECK(q.id() == first_id);
    in.add_data({at("a", 5), at("b", 30)});  // watermark -> 25 s closes [0, 10)
    q.process_all_available();
    q.stop();
  }
  std::vector<std::string> all;
  for (auto& [id, rows] : log.batches) all.insert(all.end(), rows.begin(), rows.end());
  REQUIRE(all.size() == 2);
  // Counts include rows from before the restart: the state was restored.
  CHECK(std::count(all.begin(), all.end(),
                   R"({"window":{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:00:10.000Z"},"page":"a","count":4})") == 1);
  CHECK(std::count(all.begin(), all.end(),
                   R"({"window":{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:00:10.000Z"},"page":"b","count":1})") == 1);
  // Batch ids continue; completed batches were not run again.
  for (std::size_t i = 1; i < log.calls.size(); ++i) CHECK(log.calls[i] > log.calls[i - 1]);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: a batch with offsets but no commit runs again identically", "[checkpoint]") {
  const auto dir = fresh_dir("rerun");
  sl::memory_stream<Click> in;
  batch_log log;
  const sl::query_options opts{.checkpoint = (dir / "ck").string()};
  {
    auto q = sl::start(counts_query(in, log), sl::output_mode::update, opts);
    in.add_data({at("a", 1), at("b", 2)});
    q.process_all_available();
    in.add_data({at("a", 3), at("a", 20)});
    q.process_all_available();
    q.stop();
  }
  // The last data batch and what followed it (a no-data batch) as a crash would leave them:
  // offsets logged, no commit.
  const auto ck = dir / "ck";
  const auto last = sl::list_log_entries(ck / "commits").back();
  std::int64_t data_batch = 1;
  REQUIRE(last >= data_batch);
  const auto before = log.batches.at(data_batch);
  for (auto n = data_batch; n <= last; ++n) fs::remove(ck / "commits" / std::to_string(n));
  for (auto n = data_batch + 1; n <= last; ++n) fs::remove(ck / "offsets" / std::to_string(n));
  const auto logged = read_text(ck / "offsets" / std::to_string(data_batch));
  log.batches.clear();
  {
    in.add_data({at("c", 40)});  // arrives after the crash: not part of the re-run batch
    auto q = sl::start(counts_query(in, log), sl::output_mode::update, opts);
    q.process_all_available();
    q.stop();
  }
  REQUIRE(log.batches.count(data_batch) == 1);
  CHECK(log.batches.at(data_batch) == before);  // same offsets, watermark, state: same output
  CHECK(read_text(ck / "offsets" / std::to_string(data_batch)) == logged);  // never overwritten
  // The new row came in a later batch.
  bool c_later = false;
  for (auto& [id, rows] : log.batches)
    for (auto& r : rows) c_later |= id > data_batch && r.find("\"c\"") != std::string::npos;
  CHECK(c_later);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: corrupt files and another query's checkpoint are refused", "[checkpoint]") {
  const auto dir = fresh_dir("corrupt");
  sl::memory_stream<Click> in;
  batch_log log;
  const auto ck = dir / "ck";
  const sl::query_options opts{.checkpoint = ck.string(), .state_snapshot_interval = 2};
  {
    auto q = sl::start(counts_query(in, log), sl::output_mode::update, opts);
    for (int i = 0; i < 4; ++i) {
      in.add_data({at("a", i)});
      q.process_all_available();
    }
    q.stop();
  }
  auto expect_refused = [&](auto&& plan, const sl::query_options& o, const std::string& needle) {
    auto q = sl::start(std::forward<decltype(plan)>(plan), sl::output_mode::update, o);
    REQUIRE_THROWS_WITH(q.await_termination(), Catch::Contains(needle));
  };
  SECTION("another query (different row type) is refused at start, naming the metadata file") {
    auto other = in | sl::group_by(sl::col<"page">) | sl::aggregate(sl::count()) | sl::console();
    REQUIRE_THROWS_WITH(sl::start(std::move(other), sl::output_mode::update, opts),
                        Catch::Contains((ck / "metadata").string()) && Catch::Contains("different query"));
  }
  SECTION("a truncated offsets file names the file") {
    const auto last = sl::list_log_entries(ck / "offsets").back();
    fs::resize_file(ck / "offsets" / std::to_string(last), 2);
    expect_refused(counts_query(in, log), opts, (ck / "offsets" / std::to_string(last)).string());
  }
  SECTION("an unparsable commit file names the file") {
    const auto last = sl::list_log_entries(ck / "commits").back();
    std::ofstream(ck / "commits" / std::to_string(last)) << "v1\n{not json\n";
    expect_refused(counts_query(in, log), opts, (ck / "commits" / std::to_string(last)).string());
  }
  SECTION("a corrupt state file names the file") {
    bool corrupted = false;
    for (const auto& e : fs::recursive_directory_iterator(ck / "state")) {
      if (e.path().extension() == ".snapshot") {
        fs::resize_file(e.path(), 3);
        corrupted = true;
      }
    }
    REQUIRE(corrupted);
    expect_refused(counts_query(in, log), opts, "state");
    expect_refused(counts_query(in, log), opts, "corrupt at byte");
  }
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: a purge stopped half-way never leaves a commit without its offsets", "[checkpoint]") {
  // The crash tests kill the process at random moments, purges included. Commits are purged
  // before offsets, so whatever step a purge stops at, every remaining commits/N still has its
  // offsets/N (the engine takes a commit without offsets for a corrupt checkpoint). Here
  // commits/0 cannot be removed (a non-empty directory stands in its place): the purge stops
  // there, and offsets/0 must still exist.
  const auto dir = fresh_dir("purge-order");
  sl::checkpoint_dir cp(dir);
  for (std::int64_t n = 0; n < 3; ++n) {
    cp.write_offsets({n, 0, 0, {}});
    if (n > 0) cp.write_commit({n, 0, {}});
  }
  fs::create_directories(cp.commits_path(0) / "blocker");
  CHECK_THROWS(cp.purge(2, 1));
  CHECK(fs::exists(cp.offsets_path(0)));
  fs::remove_all(cp.commits_path(0));
  cp.purge(2, 1);
  CHECK(!fs::exists(cp.commits_path(0)));
  CHECK(!fs::exists(cp.offsets_path(0)));
  CHECK(!fs::exists(cp.commits_path(1)));
  CHECK(!fs::exists(cp.offsets_path(1)));
  CHECK(fs::exists(cp.offsets_path(2)));
  CHECK(fs::exists(cp.commits_path(2)));
  fs::remove_all(dir);
}

namespace {
struct Hit {
  std::int64_t key = 0;
  std::int64_t v = 0;
};
BOOST_DESCRIBE_STRUCT(Hit, (), (key, v))

std::vector<Hit> hits(std::int64_t from, std::int64_t to) {
  std::vector<Hit> out;
  for (std::int64_t k = from; k < to; ++k) out.push_back({k, k});
  return out;
}
}  // namespace

// Update mode emits, and the checkpoint delta writes, the groups a batch touched: from a list of
// them while they are few against the state, by a scan of every group otherwise (past a quarter
// of the groups, or 1,024). Both must give the same rows, and a restart after each batch must
// find the same state.
TEST_CASE("checkpoint: update mode and state deltas are right whether a batch touches few or most groups",
          "[checkpoint][aggregation]") {
  const auto dir = fresh_dir("touched");
  sl::memory_stream<Hit> in;
  // batch: (keys from, to); batches 0 and 2 touch more than the list holds, 1 and 3 few.
  const std::vector<std::pair<std::int64_t, std::int64_t>> batches = {{0, 3000}, {0, 10}, {0, 2000}, {5, 15}};
  std::map<std::int64_t, std::int64_t> expected_count, expected_sum;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    INFO("batch " << b);
    auto plan = in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::count(), sl::sum(sl::col<"v">));
    using Row = decltype(plan)::row_type;
    sl::memory_sink<Row> sink;
    auto q = sl::start(std::move(plan) | sink, sl::output_mode::update, {.checkpoint = dir.string()});
    const auto [from, to] = batches[b];
    in.add_data(hits(from, to));
    q.process_all_available();
    q.stop();
    for (std::int64_t k = from; k < to; ++k) {
      ++expected_count[k];
      expected_sum[k] += k;
    }
    const auto rows = sink.rows();
    REQUIRE(rows.size() == static_cast<std::size_t>(to - from));
    std::set<std::int64_t> emitted;
    for (const auto& r : rows) {
      const std::int64_t k = sl::get<"key">(r);
      INFO("key " << k);
      REQUIRE(emitted.insert(k).second);  // each touched group once
      CHECK(k >= from);
      CHECK(k < to);
      CHECK(sl::get<"count">(r) == expected_count[k]);  // the count over every batch so far: restored state
      CHECK(sl::get<"sum(v)">(r) == expected_sum[k]);
    }
    const auto p = q.last_progress();
    REQUIRE(p);
    CHECK(p->state_operators.at(0).num_rows_total == static_cast<std::int64_t>(expected_count.size()));
    CHECK(p->state_operators.at(0).num_rows_updated == to - from);
  }
  fs::remove_all(dir);
}

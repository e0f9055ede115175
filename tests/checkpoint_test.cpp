// Checkpoints: a query started on an existing checkpoint resumes where it stopped; a batch
// logged but not committed runs again with the same offsets, watermark and timestamp; a
// corrupt file (every file is checksummed), a query whose state would not fit (another window,
// key, function, watermark column...), logs without their metadata and another query's
// metadata are refused with errors naming the file and what differs.
#include <catch2/catch.hpp>

#include <sluice/files.hpp>
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

// Why a query on a checkpoint was refused: by sl::start (the metadata and the newest log
// entries are checked there) or by its first batch (state, source logs); empty when it ran.
template <class Plan, class Mode>
std::string refusal(Plan&& plan, Mode mode, const sl::query_options& o) {
  try {
    auto q = sl::start(std::forward<Plan>(plan), mode, o);
    q.process_all_available();
    q.stop();
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
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
    CHECK_THAT(refusal(std::forward<decltype(plan)>(plan), sl::output_mode::update, o), Catch::Contains(needle));
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
    // With a valid checksum: what a bug, not a disk, would leave.
    const auto last = sl::list_log_entries(ck / "commits").back();
    const auto id = sl::read_checkpoint_file(ck / "commits" / std::to_string(last)).query_id;
    sl::write_checkpoint_file(ck / "commits" / std::to_string(last), "v1\n{not json\n", id, /*overwrite=*/true);
    expect_refused(counts_query(in, log), opts, (ck / "commits" / std::to_string(last)).string());
    expect_refused(counts_query(in, log), opts, "unparsable JSON");
  }
  SECTION("a truncated state file names the file") {
    bool corrupted = false;
    for (const auto& e : fs::recursive_directory_iterator(ck / "state")) {
      if (e.path().extension() == ".snapshot") {
        fs::resize_file(e.path(), 3);
        corrupted = true;
      }
    }
    REQUIRE(corrupted);
    expect_refused(counts_query(in, log), opts, "state");
    expect_refused(counts_query(in, log), opts, "no checksum trailer");
  }
  SECTION("a state file whose checksum matches but whose content is not a state names the byte") {
    fs::path snap;  // of a state partition that has one (a partition no batch changed has no files)
    for (const auto& e : fs::directory_iterator(ck / "state" / "0"))
      if (fs::exists(e.path() / "3.snapshot")) snap = e.path() / "3.snapshot";
    REQUIRE(fs::exists(snap));
    const auto id = sl::read_checkpoint_file(snap).query_id;
    sl::write_checkpoint_file(snap, "xyz", id, /*overwrite=*/true);
    expect_refused(counts_query(in, log), opts, snap.string());
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

// ---------------------------------------------------------------- what a checkpoint must match
namespace {
struct Visit {
  std::string page;
  std::string user;
  std::int64_t n = 0;
  sl::timestamp ts;
  sl::timestamp ts2;
};
BOOST_DESCRIBE_STRUCT(Visit, (), (page, user, n, ts, ts2))

Visit visit(const char* page, int seconds) {
  return {page, "u", 1, sl::timestamp{seconds * 1'000'000LL}, sl::timestamp{seconds * 1'000'000LL}};
}

// Ends any pipeline in a memory sink of its row type.
template <class Q>
auto into_memory(Q q) {
  using Row = typename Q::row_type;
  return std::move(q) | sl::memory_sink<Row>();
}

// Runs two batches of `plan` on a new checkpoint; returns the query id.
template <class Plan>
std::string fill(Plan plan, sl::memory_stream<Visit>& in, const sl::query_options& o) {
  auto q = sl::start(std::move(plan), sl::output_mode::update, o);
  in.add_data({visit("a", 1), visit("b", 2)});
  q.process_all_available();
  in.add_data({visit("a", 12)});
  q.process_all_available();
  auto id = q.id();
  q.stop();
  return id;
}

std::size_t files_under(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}
}  // namespace

TEST_CASE("checkpoint: a query whose state would not fit the checkpoint is refused, naming what changed",
          "[checkpoint]") {
  const auto dir = fresh_dir("compat");
  sl::memory_stream<Visit> in;
  const auto ck = dir / "ck";
  const sl::query_options opts{.checkpoint = ck.string()};
  const auto metadata = (ck / "metadata").string();
  const auto id = fill(into_memory(in | sl::with_watermark(sl::col<"ts">, 5s) |
                                   sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) |
                                   sl::aggregate(sl::count().as<"n">())),
                       in, opts);
  const auto files_before = files_under(ck);
  bool accepted = false;
  auto refused = [&](auto plan) { return refusal(std::move(plan), sl::output_mode::update, opts); };

  SECTION("the window duration (the issue's case: its old state was relabelled)") {
    const auto why = refused(into_memory(in | sl::with_watermark(sl::col<"ts">, 5s) |
                                         sl::group_by(sl::window(sl::col<"ts">, 20s), sl::col<"page">) |
                                         sl::aggregate(sl::count().as<"n">())));
    CHECK_THAT(why, Catch::StartsWith(metadata + ": this checkpoint was written by a different query: "));
    CHECK_THAT(why, Catch::Contains("window duration changed from 10 seconds to 20 seconds in operator 1 (aggregate)"));
    CHECK_THAT(why, !Catch::Contains("slide"));  // a tumbling window's slide is its duration: said once
    CHECK_THAT(why, Catch::Contains("use a new checkpoint location"));
  }
  SECTION("a slide, which also changes the state's layout") {
    const auto why = refused(into_memory(in | sl::with_watermark(sl::col<"ts">, 5s) |
                                         sl::group_by(sl::window(sl::col<"ts">, 10s, 5s), sl::col<"page">) |
                                         sl::aggregate(sl::count().as<"n">())));
    CHECK_THAT(why, Catch::Contains("window slide changed from 10 seconds to 5 seconds in operator 1 (aggregate)"));
    CHECK_THAT(why, Catch::Contains("the state layout changed from groups to window slices in operator 1 (aggregate)"));
  }
  SECTION("a grouping key of the same type (Spark would take it)") {
    const auto why = refused(into_memory(in | sl::with_watermark(sl::col<"ts">, 5s) |
                                         sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"user">) |
                                         sl::aggregate(sl::count().as<"n">())));
    CHECK_THAT(why, Catch::Contains("grouping key 1 changed from page (string) to user (string) in operator 1 (aggregate)"));
  }
  SECTION("an aggregate function with the same output column") {
    const auto why = refused(into_memory(in | sl::with_watermark(sl::col<"ts">, 5s) |
                                         sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) |
                                         sl::aggregate(sl::sum(sl::col<"n">).as<"n">())));
    CHECK_THAT(why, Catch::Contains("aggregate 0 changed from count() AS n to sum(n) of long AS n in operator 1 (aggregate)"));
    CHECK_THAT(why, !Catch::Contains("output row"));  // the same row: only the description tells them apart
  }
  SECTION("the watermark column") {
    const auto why = refused(into_memory(in | sl::with_watermark(sl::col<"ts2">, 5s) |
                                         sl::group_by(sl::window(sl::col<"ts2">, 10s), sl::col<"page">) |
                                         sl::aggregate(sl::count().as<"n">())));
    CHECK_THAT(why, Catch::Contains("watermark column changed from ts to ts2 in operator 0 (watermark)"));
    CHECK_THAT(why, Catch::Contains("window column changed from ts to ts2 in operator 1 (aggregate)"));
  }
  SECTION("the operators") {
    const auto why = refused(into_memory(in | sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) |
                                         sl::aggregate(sl::count().as<"n">())));
    CHECK_THAT(why, Catch::Contains("the stateful and watermark operators changed from [watermark(ts), aggregate by "
                                    "[window(ts, 10 seconds), page (string)]] to [aggregate by [window(ts, 10 seconds), "
                                    "page (string)]]"));
  }
  SECTION("the output mode") {
    CHECK_THAT(refusal(into_memory(in | sl::with_watermark(sl::col<"ts">, 5s) |
                                   sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) |
                                   sl::aggregate(sl::count().as<"n">())),
                       sl::output_mode::append, opts),
               Catch::Contains("output mode changed from update to append"));
  }
  SECTION("the watermark delay may change, as in Spark; the query keeps its id") {
    auto q = sl::start(into_memory(in | sl::with_watermark(sl::col<"ts">, 1min) |
                                   sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) |
                                   sl::aggregate(sl::count().as<"n">())),
                       sl::output_mode::update, opts);
    CHECK(q.id() == id);
    in.add_data({visit("c", 30)});
    q.process_all_available();
    q.stop();
    accepted = true;
  }
  if (accepted) CHECK(files_under(ck) > files_before);
  else CHECK(files_under(ck) == files_before);  // a refused query writes nothing
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: logs without their metadata, or another query's metadata, are refused", "[checkpoint]") {
  const auto dir = fresh_dir("identity");
  sl::memory_stream<Visit> in;
  auto plan = [&] {
    return into_memory(in | sl::with_watermark(sl::col<"ts">, 5s) |
                       sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) | sl::aggregate(sl::count()));
  };
  const auto ck = dir / "ck";
  const sl::query_options opts{.checkpoint = ck.string()};
  const auto id = fill(plan(), in, opts);

  SECTION("a missing metadata file: the id, which sinks know batches by, would change") {
    fs::remove(ck / "metadata");
    const auto why = refusal(plan(), sl::output_mode::update, opts);
    CHECK_THAT(why, Catch::StartsWith(ck.string() + ": holds offsets/0.."));
    CHECK_THAT(why, Catch::Contains("commits/0..") && Catch::Contains("state/") && Catch::Contains("but no metadata file"));
    CHECK_THAT(why, Catch::Contains("(its files name query " + id + ")"));
    CHECK(!fs::exists(ck / "metadata"));  // nothing written: the next start is refused too
  }
  SECTION("a metadata file copied from another checkpoint of the same query") {
    const auto other = dir / "other";
    sl::memory_stream<Visit> in2;
    const auto other_id =
        fill(into_memory(in2 | sl::with_watermark(sl::col<"ts">, 5s) |
                         sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) | sl::aggregate(sl::count())),
             in2, {.checkpoint = other.string()});
    REQUIRE(other_id != id);
    fs::copy_file(other / "metadata", ck / "metadata", fs::copy_options::overwrite_existing);
    const auto why = refusal(plan(), sl::output_mode::update, opts);
    const auto last = sl::list_log_entries(ck / "offsets").back();
    CHECK_THAT(why, Catch::StartsWith((ck / "offsets" / std::to_string(last)).string() + ": written by query " + id +
                                      ", but the checkpoint's metadata names query " + other_id));
  }
  SECTION("the id stays the checkpoint's for its life") {
    auto q = sl::start(plan(), sl::output_mode::update, opts);
    CHECK(q.id() == id);
    q.stop();
  }
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: a flipped byte in any checkpoint file is refused, naming the file", "[checkpoint]") {
  const auto dir = fresh_dir("checksums");
  const auto input = dir / "in";
  fs::create_directories(input);
  for (int i = 0; i < 4; ++i)
    std::ofstream(input / ("f" + std::to_string(i) + ".json"))
        << R"({"page":"p)" << i << R"(","user":"u","n":1,"ts":"1970-01-01T00:00:1)" << i
        << R"(Z","ts2":"1970-01-01T00:00:00Z"})" << "\n";
  auto plan = [&] {
    return into_memory(sl::files::json_lines<Visit>(input, {.max_files_per_trigger = 1}) |
                       sl::with_watermark(sl::col<"ts">, 5s) |
                       sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) | sl::aggregate(sl::count()));
  };
  const auto ck = dir / "ck";
  const sl::query_options opts{.trigger = sl::trigger::available_now(), .checkpoint = ck.string(),
                               .state_snapshot_interval = 3};
  {
    auto q = sl::start(plan(), sl::output_mode::update, opts);
    q.await_termination();
  }
  const auto last = sl::list_log_entries(ck / "commits").back();
  REQUIRE(last >= 3);
  // A delta after its partition's newest snapshot (or in a partition without one) and a
  // snapshot, both of which the restart reads (a partition has files only for the batches that
  // changed it).
  std::string partition, snapshot_partition;
  std::int64_t snapshot = -1, delta = -1;
  for (const auto& e : fs::directory_iterator(ck / "state" / "0")) {
    const auto snaps = sl::detail::state_versions_in(e.path(), "snapshot");
    const auto deltas = sl::detail::state_versions_in(e.path(), "delta");
    if (!deltas.empty() && deltas.back() > (snaps.empty() ? -1 : snaps.back())) {
      partition = e.path().filename().string();
      delta = deltas.back();
    }
    if (!snaps.empty()) {
      snapshot_partition = e.path().filename().string();
      snapshot = snaps.back();
    }
  }
  REQUIRE(!partition.empty());
  REQUIRE(snapshot >= 0);
  const std::vector<fs::path> files = {
      "metadata",
      fs::path("offsets") / std::to_string(last),
      fs::path("commits") / std::to_string(last),
      fs::path("state") / "0" / partition / (std::to_string(delta) + ".delta"),
      fs::path("state") / "0" / snapshot_partition / (std::to_string(snapshot) + ".snapshot"),
      fs::path("sources") / "0" / "1",
  };
  for (const auto& f : files) {
    for (const char* where : {"content", "trailer"}) {
      DYNAMIC_SECTION(f.string() << ", in its " << where) {
        const auto copy = dir / "copy";
        fs::remove_all(copy);
        fs::copy(ck, copy, fs::copy_options::recursive);
        const auto target = copy / f;
        REQUIRE(fs::exists(target));
        std::string bytes = read_text(target);
        const auto trailer = bytes.rfind(sl::checkpoint_trailer_tag);
        REQUIRE(trailer != std::string::npos);
        REQUIRE(trailer > 0);
        // A bit of the content's middle, or of the query id in the trailer.
        const std::size_t at = std::string_view(where) == "content" ? trailer / 2 : bytes.size() - 5;
        bytes[at] = static_cast<char>(bytes[at] ^ 0x01);
        std::ofstream(target, std::ios::binary | std::ios::trunc) << bytes;
        auto o = opts;
        o.checkpoint = copy.string();
        const auto why = refusal(plan(), sl::output_mode::update, o);
        CHECK_THAT(why, Catch::Contains(target.string() + ": checksum mismatch (stored crc32c "));
      }
    }
  }
  SECTION("a file without its trailer (truncated, or from a sluice before checksums)") {
    const auto target = ck / "state" / "0" / partition / (std::to_string(delta) + ".delta");
    std::string bytes = read_text(target);
    bytes.resize(bytes.rfind(sl::checkpoint_trailer_tag));
    std::ofstream(target, std::ios::binary | std::ios::trunc) << bytes;
    CHECK_THAT(refusal(plan(), sl::output_mode::update, opts),
               Catch::Contains(target.string() + ": no checksum trailer"));
  }
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: a checkpoint of an earlier sluice (format 1) is refused, saying why", "[checkpoint]") {
  const auto dir = fresh_dir("format1");
  std::ofstream(dir / "metadata") << R"({"id":"3f9c0f56-3d1b-4a8f-9b0e-1c2d3e4f5a6b","formatVersion":1,"fingerprint":"0123456789abcdef"})"
                                  << "\n";
  fs::create_directories(dir / "offsets");
  std::ofstream(dir / "offsets" / "0") << "v1\n{\"batchWatermarkUs\":0,\"batchTimestampUs\":0}\n{\"batches\":1}\n";
  sl::memory_stream<Click> in;
  batch_log log;
  CHECK_THAT(refusal(counts_query(in, log), sl::output_mode::update, {.checkpoint = dir.string()}),
             Catch::StartsWith((dir / "metadata").string() + ": a checkpoint of format version 1, written by an "
                                                             "earlier sluice version") &&
                 Catch::Contains("use a new checkpoint location"));
  fs::remove_all(dir);
}

TEST_CASE("checkpoint files: CRC-32C, and the trailer written and verified", "[checkpoint]") {
  CHECK(sl::crc32c("123456789") == 0xE3069283u);  // the standard check value
  CHECK(sl::crc32c("56789", sl::crc32c("1234")) == 0xE3069283u);
  CHECK(sl::crc32c("") == 0u);
  std::string big(100'003, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
  CHECK(sl::crc32c(std::string_view(big).substr(40'000), sl::crc32c(std::string_view(big).substr(0, 40'000))) ==
        sl::crc32c(big));

  const auto dir = fresh_dir("trailer");
  const auto f = dir / "entry";
  sl::write_checkpoint_file(f, big, "q-1");
  CHECK(read_text(f).ends_with(" q-1\n"));
  CHECK(sl::read_checkpoint_file(f, "q-1") == big);
  const auto read = sl::read_checkpoint_file(f);
  CHECK(read.query_id == "q-1");
  CHECK(read.content == big);
  CHECK_THROWS_WITH(sl::read_checkpoint_file(f, "q-2"),
                    Catch::StartsWith(f.string() + ": written by query q-1, but the checkpoint's metadata names query q-2"));
  CHECK_THROWS_WITH(sl::write_checkpoint_file(f, "x", "q-1"), Catch::Contains("already exists"));  // put-if-absent
  CHECK_THROWS_WITH(sl::write_checkpoint_file(dir / "other", "x", "a b"), Catch::Contains("space or newline"));
  fs::remove_all(dir);
}

TEST_CASE("checkpoint descriptions: sources and fields added later are compared too", "[checkpoint]") {
  const boost::json::object was{{"outputMode", "append"},
                                {"row", "r"},
                                {"sources", boost::json::array{boost::json::object{{"offset", "long"}}}},
                                {"operators", boost::json::array{}}};
  auto now = was;
  now["sources"].as_array().push_back(boost::json::object{{"offset", "long"}});
  CHECK(sl::describe_query_changes(was, now) == std::vector<std::string>{"the number of sources changed from 1 to 2"});
  now = was;
  now["sources"].as_array()[0].as_object()["offset"] = "string";
  CHECK(sl::describe_query_changes(was, now) ==
        std::vector<std::string>{"the offset type of source 0 changed from long to string"});
  now = was;
  now["shufflePartitions"] = 200;  // what a later version may add
  CHECK(sl::describe_query_changes(was, now) == std::vector<std::string>{"shufflePartitions changed from null to 200"});
  CHECK(sl::describe_query_changes(now, was) == std::vector<std::string>{"shufflePartitions changed from 200 to null"});
}

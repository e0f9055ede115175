// Session windows, [flat_]map_groups_with_state and transform_with_state keep their state in
// shuffle_partitions state partitions (state/<op>/<partition>/): a checkpoint written before,
// with the whole state in state/<op>/, still restores (its keys spread over the partitions),
// and the next batch writes every partition's snapshot.
#include <catch2/catch.hpp>

#include <sluice/checkpoint/inspect.hpp>
#include <sluice/sluice.hpp>

#include "keyed_state_queries.hpp"

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace keyed_state_queries;

namespace {
fs::path fresh_dir(const std::string& name) {
  std::random_device rd;
  auto dir = fs::temp_directory_path() / ("sluice-keyed-partitions-" + name + "-" + std::to_string(rd()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Copies the fixture and a stream holding the batches it was written with.
fs::path copy_fixture(const fs::path& dir, const char* name, sl::memory_stream<Hit>& in) {
  const auto ck = dir / "ck";
  fs::copy(fs::path(SLUICE_TESTS_SOURCE_DIR) / "data" / name, ck, fs::copy_options::recursive);
  REQUIRE(fs::exists(ck / "state" / "0" / "6.delta"));
  for (const auto& b : legacy_batches) in.add_data(b);
  return ck;
}

// Runs the query from the checkpoint over `batches` (each processed before the next is added),
// with two workers; its rows as sorted JSON text.
template <class Row, class Make>
std::vector<std::string> run_from(const fs::path& ck, sl::memory_stream<Hit>& in, Make make,
                                  const std::vector<std::vector<Hit>>& batches) {
  sl::memory_sink<Row> sink;
  auto q = sl::start(make(in) | sink, sl::output_mode::append,
                     {.checkpoint = ck.string(), .min_batches_to_retain = 3, .state_snapshot_interval = 2, .parallelism = 2});
  for (const auto& b : batches) {
    in.add_data(b);
    q.process_all_available();
  }
  q.stop();
  if (auto e = q.exception()) throw *e;
  std::vector<std::string> out;
  for (const auto& r : sink.rows()) out.push_back(sl::to_json_string(r));
  std::sort(out.begin(), out.end());
  return out;
}

// After the first run from the fixture: batch 7 wrote a snapshot of each of the 8 partitions
// (its offset log fixed shuffle_partitions at the default); the versions before are still in
// the layout before partitions.
void check_rewritten(const fs::path& ck) {
  for (int p = 0; p < 8; ++p) CHECK(fs::exists(ck / "state" / "0" / std::to_string(p) / "7.snapshot"));
  CHECK(fs::exists(ck / "state" / "0" / "6.delta"));
  const sl::checkpoint_dir cd(ck, "");
  CHECK_FALSE(sl::detail::state_chains(cd, 0, 6).front().partition);
  CHECK(sl::detail::state_chains(cd, 0, 7).size() == 8);
}
// After the second run: retention (3 batches) has passed batch 7, the whole layout's files are gone.
void check_partitions_only(const fs::path& ck) {
  CHECK_FALSE(fs::exists(ck / "state" / "0" / "6.delta"));
  CHECK(sl::detail::state_versions(sl::checkpoint_dir(ck, ""), 0, "delta").empty());
  const auto d = sl::describe_checkpoint(ck);
  CHECK(d.at("stateOperators").as_array()[0].as_object().at("partitions").as_array().size() == 8);
}
}  // namespace

TEST_CASE("keyed state partitions: a session window checkpoint written before state partitions still restores",
          "[shuffle][session][checkpoint]") {
  // Written before partitions by session_query in append mode, state_snapshot_interval 2, on
  // legacy_batches: state/0/<v>.delta for batches 0..6, snapshots 1, 3, 5. After it the
  // sessions a [25 s, 29 s), c [26 s, 30 s) and d [27 s, 31 s) are open; the watermark is 22 s.
  const auto dir = fresh_dir("session");
  sl::memory_stream<Hit> in;
  const auto ck = copy_fixture(dir, "checkpoint_session_before_partitions", in);
  // a@28 extends a's restored session; the watermark then passes 31 s: a, c and d close.
  CHECK(run_from<session_row>(ck, in, session_query, {{hit("a", 28, 10), hit("c", 40, 11)}}) ==
        std::vector<std::string>{
            R"({"session_window":{"start":"1970-01-01T00:00:25.000Z","end":"1970-01-01T00:00:32.000Z"},"page":"a","n":2,"total":17})",
            R"({"session_window":{"start":"1970-01-01T00:00:26.000Z","end":"1970-01-01T00:00:30.000Z"},"page":"c","n":1,"total":8})",
            R"({"session_window":{"start":"1970-01-01T00:00:27.000Z","end":"1970-01-01T00:00:31.000Z"},"page":"d","n":1,"total":9})"});
  check_rewritten(ck);
  // Restarted again, from the partitions: c's session [40 s, 44 s) grows to 46 s and closes.
  CHECK(run_from<session_row>(ck, in, session_query, {{hit("c", 42, 12)}, {hit("e", 60, 13)}}) ==
        std::vector<std::string>{
            R"({"session_window":{"start":"1970-01-01T00:00:40.000Z","end":"1970-01-01T00:00:46.000Z"},"page":"c","n":2,"total":23})"});
  check_partitions_only(ck);
  std::vector<boost::json::object> state;  // e's open session
  sl::read_checkpoint_state(ck, 0, std::nullopt, [&](boost::json::object o) { state.push_back(std::move(o)); });
  REQUIRE(state.size() == 1);
  CHECK(state[0].at("key").at("page") == "e");
  fs::remove_all(dir);
}

TEST_CASE("keyed state partitions: a group state checkpoint written before state partitions still restores",
          "[shuffle][group_state][checkpoint]") {
  // Written before partitions by group_state_query on legacy_batches, as the session one. After
  // it the state holds a (4 rows, sum 14, timeout 28 s), c (1, 8, 29 s) and d (1, 9, 30 s); the
  // watermark is 22 s.
  const auto dir = fresh_dir("group-state");
  sl::memory_stream<Hit> in;
  const auto ck = copy_fixture(dir, "checkpoint_group_state_before_partitions", in);
  // a@28 adds to a's restored tally (timeout 31 s); the watermark then passes 31 s: a and d time out.
  CHECK(run_from<PageTally>(ck, in, group_state_query, {{hit("a", 28, 10), hit("c", 40, 11)}}) ==
        std::vector<std::string>{R"({"page":"a","n":5,"total":24})", R"({"page":"d","n":1,"total":9})"});
  check_rewritten(ck);
  // Restarted again, from the partitions: c (2 rows, sum 19) gets a third and times out.
  CHECK(run_from<PageTally>(ck, in, group_state_query, {{hit("c", 50, 12)}, {hit("e", 60, 13)}}) ==
        std::vector<std::string>{R"({"page":"c","n":3,"total":31})"});
  check_partitions_only(ck);
  std::vector<boost::json::object> state;  // e's tally
  sl::read_checkpoint_state(ck, 0, std::nullopt, [&](boost::json::object o) { state.push_back(std::move(o)); });
  REQUIRE(state.size() == 1);
  CHECK(state[0].at("key").at("page") == "e");
  fs::remove_all(dir);
}

TEST_CASE("keyed state partitions: a transform_with_state checkpoint written before state partitions still restores",
          "[shuffle][transform_with_state][checkpoint]") {
  // Written before partitions by transform_with_state_query on legacy_batches. After it a has
  // the values 1, 2, 4, 7 (timer 28 s), c 8 (29 s), d 9 (30 s); the watermark is 22 s.
  const auto dir = fresh_dir("tws");
  sl::memory_stream<Hit> in;
  const auto ck = copy_fixture(dir, "checkpoint_transform_with_state_before_partitions", in);
  // a@28 appends to a's restored list and moves its timer to 31 s; the watermark then passes
  // 31 s: a's and d's timers fire (total * 1000 + the values weighted by their place).
  CHECK(run_from<PageTally>(ck, in, transform_with_state_query, {{hit("a", 28, 10), hit("c", 40, 11)}}) ==
        std::vector<std::string>{R"({"page":"a","n":5,"total":24095})", R"({"page":"d","n":1,"total":9009})"});
  check_rewritten(ck);
  // Restarted again, from the partitions: c (8, 11) gets 12 and its timer fires.
  CHECK(run_from<PageTally>(ck, in, transform_with_state_query, {{hit("c", 50, 12)}, {hit("e", 60, 13)}}) ==
        std::vector<std::string>{R"({"page":"c","n":3,"total":31066})"});
  check_partitions_only(ck);
  fs::remove_all(dir);
}

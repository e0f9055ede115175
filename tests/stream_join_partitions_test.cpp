// Stream-stream join state in shuffle_partitions state partitions: a checkpoint written with
// the whole join state (before partitions) restores into the partitions, keeps its rows and
// their matched flags, and is rewritten as per-partition files (state/<op>/<partition>/).
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace stream_join_partitions {
struct JL {
  std::int64_t lk;
  sl::timestamp lt;
  std::int64_t lid;
};
BOOST_DESCRIBE_STRUCT(JL, (), (lk, lt, lid))
struct JR {
  std::int64_t rk;
  sl::timestamp rt;
  std::int64_t rid;
};
BOOST_DESCRIBE_STRUCT(JR, (), (rk, rt, rid))
JL jl(std::int64_t k, int s, std::int64_t id) { return {k, sl::timestamp{s * 1'000'000LL}, id}; }
JR jr(std::int64_t k, int s, std::int64_t id) { return {k, sl::timestamp{s * 1'000'000LL}, id}; }

template <class Sink>
auto join_query(sl::memory_stream<JL>& l, sl::memory_stream<JR>& r, Sink& sink) {
  return l | sl::with_watermark(sl::col<"lt">, 10s) |
         sl::full_join(r | sl::with_watermark(sl::col<"rt">, 10s), sl::col<"lk">, sl::col<"rk">,
                       sl::time_range(sl::col<"lt">, sl::col<"rt">, -5s, 5s)) |
         sink;
}
using Out = sl::row<sl::field<"lk", std::optional<std::int64_t>>, sl::field<"lt", std::optional<sl::timestamp>>,
                    sl::field<"lid", std::optional<std::int64_t>>, sl::field<"rk", std::optional<std::int64_t>>,
                    sl::field<"rt", std::optional<sl::timestamp>>, sl::field<"rid", std::optional<std::int64_t>>>;

std::vector<std::string> json_rows(const sl::memory_sink<Out>& sink) {
  std::vector<std::string> out;
  for (const auto& r : sink.rows()) out.push_back(sl::to_json_string(r));
  std::sort(out.begin(), out.end());
  return out;
}
std::string pair_row(std::int64_t lk, int lt, std::int64_t lid, std::int64_t rk, int rt, std::int64_t rid) {
  return sl::to_json_string(Out{{lk}, {sl::timestamp{lt * 1'000'000LL}}, {lid}, {rk}, {sl::timestamp{rt * 1'000'000LL}}, {rid}});
}
std::string right_only(std::int64_t rk, int rt, std::int64_t rid) {
  return sl::to_json_string(Out{{}, {}, {}, {rk}, {sl::timestamp{rt * 1'000'000LL}}, {rid}});
}
fs::path fresh_dir() {
  std::random_device rd;
  auto dir = fs::temp_directory_path() / ("sluice-join-partitions-" + std::to_string(rd()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}
}  // namespace stream_join_partitions

using namespace stream_join_partitions;

TEST_CASE("stream join: a checkpoint with the whole join state (before state partitions) still restores",
          "[stream_join][shuffle][checkpoint]") {
  // Written by sluice before the join had state partitions (commit b4675f3) running
  // join_query in append mode, state_snapshot_interval 2, shuffle_partitions left at its
  // default (8, in the offset log's conf), one batch per step of
  //   left {1 1s #1, 2 2s #2, 3 3s #3}, right {1 2s #101, 4 3s #104}
  //   left {4 5s #4, 5 6s #5},          right {2 4s #102, 6 7s #106}
  //   left {1 20s #6, 7 21s #7},        right {5 22s #105, 7 24s #107, 8 25s #108}
  //   left {8 26s #8, 9 27s #9},        right {9 28s #109, 1 29s #110}
  // (key, time, id), each step processed before the next was added: batches 0..5 (two of them
  // no-data batches), state/0/<v>.delta for each, snapshots 1, 3 and 5. At the end the
  // watermark is 17 s; the left state keeps #6 (unmatched), #7, #8, #9 (matched), the right
  // state #105 and #110 (unmatched), #107, #108, #109 (matched).
  const auto dir = fresh_dir();
  const auto ck = dir / "ck";
  fs::copy(fs::path(SLUICE_TESTS_SOURCE_DIR) / "data" / "checkpoint_join_before_partitions", ck,
           fs::copy_options::recursive);
  REQUIRE(fs::exists(ck / "state" / "0" / "5.snapshot"));
  REQUIRE_FALSE(fs::exists(ck / "state" / "0" / "0" ));
  sl::memory_stream<JL> l;
  sl::memory_stream<JR> r;
  // The memory streams hold the fixture's four batches again (their offsets are in the log).
  l.add_data({jl(1, 1, 1), jl(2, 2, 2), jl(3, 3, 3)});
  r.add_data({jr(1, 2, 101), jr(4, 3, 104)});
  l.add_data({jl(4, 5, 4), jl(5, 6, 5)});
  r.add_data({jr(2, 4, 102), jr(6, 7, 106)});
  l.add_data({jl(1, 20, 6), jl(7, 21, 7)});
  r.add_data({jr(5, 22, 105), jr(7, 24, 107), jr(8, 25, 108)});
  l.add_data({jl(8, 26, 8), jl(9, 27, 9)});
  r.add_data({jr(9, 28, 109), jr(1, 29, 110)});
  const sl::query_options opts{.checkpoint = ck.string(), .min_batches_to_retain = 3, .state_snapshot_interval = 2,
                               .parallelism = 2};
  {
    sl::memory_sink<Out> sink;
    auto q = sl::start(join_query(l, r, sink), sl::output_mode::append, opts);
    // The restored rows join: left #6 with a new right row, right #105 with a new left row.
    l.add_data({jl(5, 24, 10)});
    r.add_data({jr(1, 23, 111)});
    q.process_all_available();
    CHECK(json_rows(sink) == std::vector<std::string>{pair_row(1, 20, 6, 1, 23, 111), pair_row(5, 24, 10, 5, 22, 105)});
    // The watermark goes to 30 s: the left rows up to 25 s leave, all matched (#6, #7, #10),
    // and the right ones up to 25 s (#105, #107, #111 matched; #108 at 25 s stays).
    l.add_data({jl(9, 40, 11)});
    r.add_data({jr(9, 41, 112)});
    q.process_all_available();
    CHECK(q.current_watermark() == 30'000'000);
    q.stop();
    CHECK(json_rows(sink) == std::vector<std::string>{pair_row(1, 20, 6, 1, 23, 111), pair_row(5, 24, 10, 5, 22, 105),
                                                      pair_row(9, 40, 11, 9, 41, 112)});
  }
  // The first batch after the restore wrote every partition's snapshot; the offset log's
  // shuffle_partitions (8) is the number of partitions.
  for (int p = 0; p < 8; ++p) CHECK(fs::exists(ck / "state" / "0" / std::to_string(p) / "6.snapshot"));
  CHECK_FALSE(fs::exists(ck / "state" / "0" / "8"));
  {  // Restarted again: from the partitions now.
    sl::memory_sink<Out> sink;
    auto q = sl::start(join_query(l, r, sink), sl::output_mode::append, opts);
    // The watermark goes to 50 s: of the rows left, only right #110 never matched (#108 and
    // #109 did before the checkpoint was written, #8, #9, #11 and #112 too).
    l.add_data({jl(3, 61, 13)});
    r.add_data({jr(3, 60, 113)});
    q.process_all_available();
    CHECK(q.current_watermark() == 50'000'000);
    q.stop();
    CHECK(json_rows(sink) == std::vector<std::string>{pair_row(3, 61, 13, 3, 60, 113), right_only(1, 29, 110)});
  }
  // Retention (3 batches) has passed: the files before partitions are gone.
  CHECK_FALSE(fs::exists(ck / "state" / "0" / "5.snapshot"));
  fs::remove_all(dir);
}

// Checkpoints written by earlier sluice versions (tests/data/checkpoints/) are accepted when
// their state has the same binary layout as the query's, whatever the compiler called the
// state's types; a query whose state layout differs is refused, naming the operator and what
// differs.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace sl = sluice;
namespace fs = std::filesystem;

namespace {
// The fixtures' row type (tests/data/checkpoints/README.md).
struct Visit {
  std::string page;
  std::string user;
  double value;
  sl::timestamp ts;
};
BOOST_DESCRIBE_STRUCT(Visit, (), (page, user, value, ts))

Visit at(const char* page, const char* user, double v, int s) { return {page, user, v, sl::timestamp{s * 1'000'000LL}}; }

fs::path copy_fixture(const std::string& name) {
  std::random_device rd;
  const auto dir = fs::path(SLUICE_TESTS_BINARY_DIR) / ("ckpt-compat-" + name + "-" + std::to_string(rd()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy(fs::path(SLUICE_TESTS_SOURCE_DIR) / "data" / "checkpoints" / name, dir / "ck", fs::copy_options::recursive);
  return dir;
}

// Restarts the fixtures' query on `ck` with the fixtures' two batches again (the restored
// offset skips them) and a third, and returns what the third batch wrote.
template <class Aggregate>
std::set<std::string> resume(const fs::path& ck, Aggregate aggregate) {
  sl::memory_stream<Visit> in;
  std::set<std::string> out;
  auto q0 = in | sl::with_watermark(sl::col<"ts">, 5s) | sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) |
            std::move(aggregate);
  using Row = typename decltype(q0)::row_type;
  auto q = sl::start(std::move(q0) | sl::foreach_batch([&out](std::span<const Row> rows, std::int64_t id) {
                       for (const auto& r : rows) out.insert(std::to_string(id) + " " + sl::to_json_string(r));
                     }),
                     sl::output_mode::update, sl::query_options{.checkpoint = ck.string()});
  in.add_data({at("a", "u1", 1.0, 1), at("a", "u2", 3.0, 2), at("b", "u1", 10.0, 3)});
  in.add_data({at("a", "u1", 5.0, 4), at("b", "u3", 20.0, 12)});
  in.add_data({at("b", "u4", 50.0, 14), at("a", "u3", 7.0, 8)});
  q.process_all_available();
  q.stop();
  return out;
}

auto avg_and_hll() { return sl::aggregate(sl::avg(sl::col<"value">), sl::approx_count_distinct(sl::col<"user">)); }
}  // namespace

TEST_CASE("checkpoint compatibility: avg and approx_count_distinct state from before the one-base aggregates resumes",
          "[checkpoint][compat]") {
  for (const char* fixture : {"avg_hll_before_column_aggregate", "avg_hll_type_names"}) {
    INFO(fixture);
    const auto dir = copy_fixture(fixture);
    const auto out = resume(dir / "ck", avg_and_hll());
    // Batch 3 only, from the restored state: a's window held 1, 3, 5 from u1 and u2; b's 20
    // from u3.
    CHECK(out == std::set<std::string>{
                     R"x(3 {"window":{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:00:10.000Z"},"page":"a","avg(value)":4.0,"approx_count_distinct(user)":3})x",
                     R"x(3 {"window":{"start":"1970-01-01T00:00:10.000Z","end":"1970-01-01T00:00:20.000Z"},"page":"b","avg(value)":35.0,"approx_count_distinct(user)":2})x"});
    fs::remove_all(dir);
  }
}

namespace {
// A user's state before and after a field was added: the same C++ name, another layout.
namespace v1 {
struct Tally {
  std::int64_t count = 0;
};
BOOST_DESCRIBE_STRUCT(Tally, (), (count))
}  // namespace v1
namespace v2 {
struct Tally {
  std::int64_t count = 0;
  std::string last;
};
BOOST_DESCRIBE_STRUCT(Tally, (), (count, last))
}  // namespace v2

struct Out {
  std::string page;
  std::int64_t count = 0;
};
BOOST_DESCRIBE_STRUCT(Out, (), (page, count))

template <class State>
std::string run_tally(const fs::path& ck) {
  sl::memory_stream<Visit> in;
  auto tally = [](const std::string& page, std::span<const Visit> rows, sl::group_state<State>& st) {
    State s = st.get_option().value_or(State{});
    s.count += static_cast<std::int64_t>(rows.size());
    st.update(s);
    return Out{page, s.count};
  };
  try {
    auto q = sl::start(in | sl::group_by_key(sl::col<"page">) | sl::map_groups_with_state<State>(tally) |
                           sl::foreach_batch([](std::span<const Out>, std::int64_t) {}),
                       sl::output_mode::update, sl::query_options{.checkpoint = ck.string()});
    in.add_data({at("a", "u1", 1.0, 1)});
    q.process_all_available();
    q.stop();
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}
}  // namespace

TEST_CASE("checkpoint compatibility: a state of another binary layout is refused, naming the operator and what differs",
          "[checkpoint][compat]") {
  std::random_device rd;
  const auto dir = fs::path(SLUICE_TESTS_BINARY_DIR) / ("ckpt-compat-layout-" + std::to_string(rd()));
  fs::remove_all(dir);
  REQUIRE(run_tally<v1::Tally>(dir / "ck").empty());
  REQUIRE(run_tally<v1::Tally>(dir / "ck").empty());  // the same layout resumes
  CHECK(run_tally<v2::Tally>(dir / "ck") ==
        (dir / "ck" / "metadata").string() +
            ": this checkpoint was written by a different query: the state layout changed in operator 0 "
            "(flatMapGroupsWithState): value.state changed from optional<struct<count:long>> to "
            "optional<struct<count:long,last:string>>. Its offsets and state cannot be reused by this query: run the "
            "query as it was, or use a new checkpoint location");
  fs::remove_all(dir);
}

TEST_CASE("checkpoint compatibility: an older checkpoint whose recorded layout differs is refused, naming the field",
          "[checkpoint][compat]") {
  const auto dir = copy_fixture("avg_hll_type_names");
  const auto schema = dir / "ck" / "state" / "0" / "_metadata" / "schema";
  // As if avg had kept its count as an int then: the type names cannot tell, the layout can.
  auto recorded = sl::read_checkpoint_file(schema);
  const auto at = recorded.content.find(R"("name":"count","type":"long")");
  REQUIRE(at != std::string::npos);
  recorded.content.replace(at, 28, R"("name":"count","type":"int")");
  sl::write_checkpoint_file(schema, recorded.content, recorded.query_id, /*overwrite=*/true);
  std::string error;
  try {
    (void)resume(dir / "ck", avg_and_hll());
  } catch (const std::exception& e) {
    error = e.what();
  }
  CHECK_THAT(error, Catch::Matchers::Contains("the state layout changed in operator 1 (aggregate): value.avg(value).count "
                                              "changed from int to long"));
  fs::remove_all(dir);
}

TEST_CASE("checkpoint compatibility: an older checkpoint without a schema whose state files do not fit the layout is refused",
          "[checkpoint][compat]") {
  const auto dir = copy_fixture("avg_hll_before_column_aggregate");
  // A delta with a byte more than the layout reads (a valid checksum: not a damaged file).
  const auto delta = dir / "ck" / "state" / "0" / "1.delta";
  auto f = sl::read_checkpoint_file(delta);
  sl::write_checkpoint_file(delta, f.content + "x", f.query_id, /*overwrite=*/true);
  std::string error;
  try {
    (void)resume(dir / "ck", avg_and_hll());
  } catch (const std::exception& e) {
    error = e.what();
  }
  CHECK_THAT(error, Catch::Matchers::Contains(delta.string() + ": corrupt at byte") &&
                        Catch::Matchers::Contains("written by an earlier sluice that named the state's types") &&
                        Catch::Matchers::Contains("struct<window.start:timestamp,page:string> -> struct<avg(value):struct<sum:"
                                                  "double,count:long>,approx_count_distinct(user):hll>"));
  fs::remove_all(dir);
}

// Ranges in the core and <sluice/range_v3.hpp>: every place that takes rows takes any
// std::ranges::input_range (range-v3 views included); sl::from_range(view) is a bounded,
// replayable source whose offset is the position; flat_map may return range-v3 views; a
// memory sink's rows are a view for range-v3 pipelines.
#include <catch2/catch.hpp>

#include <range/v3/range/conversion.hpp>
#include <range/v3/view/filter.hpp>
#include <range/v3/view/iota.hpp>
#include <range/v3/view/repeat_n.hpp>
#include <range/v3/view/transform.hpp>
#include <sluice/range_v3.hpp>
#include <sluice/sluice.hpp>
#include <sluice/testing.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <numeric>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

namespace sl = sluice;
namespace st = sluice::testing;
namespace rv = ranges::views;
namespace fs = std::filesystem;

namespace range_v3_test {
struct Tick {
  std::int64_t id;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Tick, (), (id, name))

struct Name {
  std::int64_t id;
  std::string label;
};
BOOST_DESCRIBE_STRUCT(Name, (), (id, label))

Tick tick(int i) { return {i, "t" + std::to_string(i)}; }

// Ticks 0..n-1, lazily.
auto ticks(int n) { return rv::iota(0, n) | rv::transform(tick); }

std::vector<std::int64_t> ids(const std::vector<Tick>& rows) {
  std::vector<std::int64_t> out;
  for (const auto& r : rows) out.push_back(r.id);
  return out;
}

std::vector<std::int64_t> iota_ids(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(to - from));
  std::iota(out.begin(), out.end(), from);
  return out;
}

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::path(SLUICE_TESTS_BINARY_DIR) / "range_v3_test" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

template <class Plan>
void run_available_now(Plan plan, const sl::query_options& base = {}) {
  auto options = base;
  options.trigger = sl::trigger::available_now();
  auto q = sl::start(std::move(plan), sl::output_mode::append, options);
  q.await_termination();
}
}  // namespace range_v3_test

using namespace range_v3_test;

TEST_CASE("range-v3: memory_stream::add_data takes range-v3 and std views", "[range_v3]") {
  sl::memory_stream<Tick> in;
  in.add_data(ticks(3));                                                            // range-v3
  in.add_data(std::views::iota(10, 12) | std::views::transform(tick));              // std
  in.add_data(rv::iota(20, 30) | rv::filter([](int i) { return i % 5 == 0; }) | rv::transform(tick));  // not sized
  sl::memory_sink<Tick> out;
  run_available_now(in | out);
  CHECK(ids(out.rows()) == std::vector<std::int64_t>{0, 1, 2, 10, 11, 20, 25});
}

TEST_CASE("range-v3: static_table is built from a range-v3 view", "[range_v3]") {
  sl::static_table names(rv::iota(0, 4) | rv::transform([](int i) { return Name{i, "n" + std::to_string(i)}; }));
  STATIC_REQUIRE(std::is_same_v<decltype(names), sl::static_table<Name>>);
  CHECK(names.size() == 4);
  sl::memory_stream<Tick> in;
  in.add_data(ticks(6));
  auto joined = in | sl::join(names, sl::col<"id">);
  sl::memory_sink<decltype(joined)::row_type> out;
  run_available_now(joined | out);
  std::vector<std::string> labels;
  for (const auto& r : out.rows()) labels.push_back(sl::get<"label">(r));
  CHECK(labels == std::vector<std::string>{"n0", "n1", "n2", "n3"});  // ids 4 and 5: no match
}

TEST_CASE("range-v3: the testing toolkit's add_data takes a range-v3 view", "[range_v3]") {
  sl::memory_stream<Tick> in;
  auto q = in | sl::filter([](const Tick& t) { return t.id % 2 == 0; });
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,  //
                                  st::add_data(in, ticks(5)),   //
                                  st::check_answer(tick(0), tick(2), tick(4)),
                                  st::add_data(in, rv::repeat_n(tick(8), 2)),  //
                                  st::check_new_answer(tick(8), tick(8))));
  // A failing check still fails (the rows are really compared).
  CHECK_THROWS_AS(st::test_stream(q, sl::output_mode::append, st::add_data(in, ticks(2)), st::check_answer(tick(1))),
                  st::stream_test_failure);
}

TEST_CASE("range-v3: flat_map may return range-v3 views", "[range_v3]") {
  sl::memory_stream<Tick> in;
  in.add_data({tick(3), tick(0), tick(2)});
  // Each tick expands into `id` rows; a lazy view, no vector per row.
  auto expanded = in | sl::flat_map([](const Tick& t) {
                    return rv::iota(std::int64_t{0}, t.id) |
                           rv::transform([name = t.name](std::int64_t k) { return Name{k, name}; });
                  });
  STATIC_REQUIRE(std::is_same_v<decltype(expanded)::row_type, Name>);
  sl::memory_sink<Name> out;
  run_available_now(expanded | out);
  std::vector<std::string> got;
  for (const auto& r : out.rows()) got.push_back(r.label + ":" + std::to_string(r.id));
  CHECK(got == std::vector<std::string>{"t3:0", "t3:1", "t3:2", "t2:0", "t2:1"});
}

TEST_CASE("range-v3: a memory sink's rows are a view for range-v3 pipelines", "[range_v3]") {
  sl::memory_stream<Tick> in;
  in.add_data(ticks(6));
  sl::memory_sink<Tick> out;
  run_available_now(in | out);
  // From a temporary: the snapshot owns its rows (a range-v3 view, per <sluice/range_v3.hpp>).
  STATIC_REQUIRE(ranges::view_<sl::shared_rows<Tick>>);
  STATIC_REQUIRE(std::ranges::view<sl::shared_rows<Tick>>);
  const auto odd = out.view() | rv::filter([](const Tick& t) { return t.id % 2 == 1; }) |
                   rv::transform([](const Tick& t) { return t.name; }) | ranges::to<std::vector>();
  CHECK(odd == std::vector<std::string>{"t1", "t3", "t5"});
  // A snapshot: rows added later are not in a view taken before.
  auto before = out.view();
  CHECK(before.size() == 6);
  CHECK(std::ranges::distance(out.view() | std::views::take(2)) == 2);
  CHECK(sl::shared_rows<Tick>{}.empty());
}

TEST_CASE("range-v3: from_range is a bounded source whose offset is the position", "[range_v3]") {
  sl::memory_sink<Tick> out;
  auto plan = sl::from_range(ticks(10), {.max_rows_per_trigger = 4}) | out;
  auto q = sl::start(std::move(plan), sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  q.await_termination();  // bounded: available-now ends once the range is read
  CHECK(ids(out.rows()) == iota_ids(0, 10));
  const auto batches = out.batches();
  REQUIRE(batches.size() == 3);  // 4 + 4 + 2 rows
  CHECK(batches[0].rows.size() == 4);
  CHECK(batches[2].rows.size() == 2);
  const auto& progress = q.recent_progress();
  REQUIRE(progress.size() >= 3);
  CHECK(boost::json::serialize(progress[0].sources.at(0).end_offset) == R"({"position":4})");
  CHECK(boost::json::serialize(progress[2].sources.at(0).start_offset) == R"({"position":8})");
  CHECK(boost::json::serialize(progress[2].sources.at(0).end_offset) == R"({"position":10})");

  // A container and a std view work the same; without a limit, one batch takes all.
  sl::memory_sink<Tick> all;
  run_available_now(sl::from_range(std::vector<Tick>{tick(1), tick(2)}) | all);
  CHECK(ids(all.rows()) == std::vector<std::int64_t>{1, 2});
  sl::memory_sink<Tick> from_std;
  run_available_now(sl::from_range(std::views::iota(5, 8) | std::views::transform(tick)) | from_std);
  CHECK(ids(from_std.rows()) == std::vector<std::int64_t>{5, 6, 7});
  STATIC_REQUIRE(sl::unbounded_range<decltype(rv::iota(0))>);
  STATIC_REQUIRE(sl::unbounded_range<decltype(std::views::iota(0))>);
  STATIC_REQUIRE_FALSE(sl::unbounded_range<decltype(ticks(3))>);
}

TEST_CASE("range-v3: from_range resumes at the checkpointed position and replays a failed batch", "[range_v3]") {
  const auto dir = fresh_dir("resume");
  const sl::query_options opts{.trigger = sl::trigger::available_now(), .checkpoint = (dir / "ck").string()};
  sl::memory_sink<Tick> out;
  // First run: the range's first 6 rows, in batches of 4.
  run_available_now(sl::from_range(ticks(6), {.max_rows_per_trigger = 4}) | out, opts);
  CHECK(ids(out.rows()) == iota_ids(0, 6));

  // The range has grown (the same first rows, then more): the restarted query starts at
  // position 6. Batch 3 (rows 10..13) fails once, on row 11, after reading row 10.
  auto failures = std::make_shared<std::atomic<int>>(0);
  auto failing_once = [failures](const Tick& t) {
    if (t.id == 11 && failures->fetch_add(1) == 0) throw std::runtime_error("row 11 fails once");
    return true;
  };
  {
    auto q = sl::start(sl::from_range(ticks(16), {.max_rows_per_trigger = 4}) | sl::filter(failing_once) | out,
                       sl::output_mode::append, opts);
    CHECK_THROWS_AS(q.await_termination(), sl::streaming_query_error);
  }
  CHECK(ids(out.rows()) == iota_ids(0, 10));  // batch 2 (rows 6..9) done, batch 3 failed
  // Restarted: batch 3 runs again over the same positions, then the rest; nothing twice.
  run_available_now(sl::from_range(ticks(16), {.max_rows_per_trigger = 4}) | sl::filter(failing_once) | out, opts);
  CHECK(failures->load() == 2);  // row 11 read once by the failed batch, once by its re-run
  CHECK(ids(out.rows()) == iota_ids(0, 16));
  fs::remove_all(dir);
}

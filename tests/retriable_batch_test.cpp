// sluice::retriable_batch_error (engine/control.hpp): a batch whose sink throws it runs again in
// the same query, on reloaded state, at most retriable_batch_error::max_batch_retries times in
// a row (kafka::fenced_error is one: a consumer-group member fenced out of its group).
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <filesystem>
#include <map>
#include <random>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace sl = sluice;

namespace {
struct Hit {
  std::string page;
};
BOOST_DESCRIBE_STRUCT(Hit, (), (page))

struct refused : std::runtime_error, sl::retriable_batch_error {
  using std::runtime_error::runtime_error;
};

struct journal {
  std::mutex m;
  std::vector<std::int64_t> calls;           // batch ids offered to the sink, failed ones included
  std::map<std::string, std::int64_t> last;  // the counts of the last batch that went through
  int fail_next = 0;                         // this many calls throw `refused`
};

std::string fresh_dir() {
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() / ("sluice-retriable-" + std::to_string(rd()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

auto counting(sl::memory_stream<Hit>& in, journal& j) {
  return in | sl::group_by(sl::col<"page">) | sl::aggregate(sl::count().as<"n">()) |
         sl::foreach_batch([&j](auto rows, std::int64_t id) {
           std::lock_guard lock(j.m);
           j.calls.push_back(id);
           if (j.fail_next > 0) {
             --j.fail_next;
             throw refused("refused batch " + std::to_string(id));
           }
           j.last.clear();
           for (const auto& r : rows) j.last[sl::get<"page">(r)] = sl::get<"n">(r);
         });
}
}  // namespace

TEST_CASE("retriable batch error: the batch runs again on reloaded state, counted once", "[engine]") {
  sl::memory_stream<Hit> in;
  journal j;
  const auto dir = fresh_dir();  // the state is reloaded from the checkpoint
  auto q = sl::start(counting(in, j), sl::output_mode::complete, {.checkpoint = dir});
  in.add_data({{"a"}, {"b"}, {"a"}});
  q.process_all_available();
  {
    std::lock_guard lock(j.m);
    j.fail_next = 2;  // batch 1 is refused twice, then goes through
  }
  in.add_data({{"a"}, {"c"}});
  q.process_all_available();
  q.stop();
  REQUIRE(!q.exception());
  CHECK(j.calls == std::vector<std::int64_t>{0, 1, 1, 1});
  // The refused runs' rows were not kept in the aggregation's state: "a" counts 3, not 5.
  CHECK(j.last == std::map<std::string, std::int64_t>{{"a", 3}, {"b", 1}, {"c", 1}});
  std::filesystem::remove_all(dir);
}

TEST_CASE("retriable batch error: refused more than max_batch_retries times in a row, the query fails", "[engine]") {
  sl::memory_stream<Hit> in;
  journal j;
  j.fail_next = 100;
  const auto dir = fresh_dir();
  auto q = sl::start(counting(in, j), sl::output_mode::complete, {.checkpoint = dir});
  in.add_data({{"a"}});
  REQUIRE_THROWS_WITH(q.await_termination(), Catch::Contains("refused batch 0"));
  CHECK(j.calls.size() == static_cast<std::size_t>(sl::retriable_batch_error::max_batch_retries) + 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("retriable batch error: a stateful query without a checkpoint fails with it at once", "[engine]") {
  sl::memory_stream<Hit> in;
  journal j;
  j.fail_next = 1;
  auto q = sl::start(counting(in, j), sl::output_mode::complete);
  in.add_data({{"a"}});
  REQUIRE_THROWS_WITH(q.await_termination(), Catch::Contains("refused batch 0"));
  CHECK(j.calls == std::vector<std::int64_t>{0});
}

// sluice/sinks/two_phase.hpp: the two-phase sink form (create_writer / write / commit / abort,
// then the sink's commit or abort), its skipping of committed batch ids, and idempotency keys.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>
#include <sluice/sinks/two_phase.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace two_phase_test {
struct Item {
  std::int64_t id = 0;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, name))

// What the sink saw, and the store it commits to; shared by copies and across query restarts.
struct journal {
  std::mutex m;
  std::vector<std::string> calls;
  std::map<std::int64_t, std::vector<std::int64_t>> committed;  // batch id -> row ids
  std::vector<std::int64_t> rows;                                  // every committed row id, in order
  std::string query_id;
  int last_committed_asked = 0;
  void log(std::string s) {
    std::lock_guard lock(m);
    calls.push_back(std::move(s));
  }
  std::vector<std::string> take() {
    std::lock_guard lock(m);
    return std::exchange(calls, {});
  }
};

struct message {
  std::int64_t partition = 0;
  std::vector<std::int64_t> ids;
};

struct failures {
  std::int64_t write_id = -1;    // write() of this row id throws
  bool commit_batch = false;     // the sink's commit throws
  bool abort_throws = false;     // and so does its abort
};

struct writer {
  std::shared_ptr<journal> j;
  failures f;
  std::int64_t batch, partition;
  std::vector<std::int64_t> pending;
  void write(const Item& it) {
    j->log("write " + std::to_string(it.id));
    if (it.id == f.write_id) throw std::runtime_error("cannot write row " + std::to_string(it.id));
    pending.push_back(it.id);
  }
  message commit() {
    j->log("writer.commit " + std::to_string(batch) + "/" + std::to_string(partition));
    return {partition, pending};
  }
  void abort() { j->log("writer.abort " + std::to_string(batch)); }
};

// A two-phase sink over an in-memory store. With `remembers`, it reports the last committed
// batch (as a store holding the batch id in the same transaction as the rows would).
template <bool Remembers>
struct store_sink {
  std::shared_ptr<journal> j = std::make_shared<journal>();
  failures f;

  void start(const sl::sink_context& ctx) {
    std::lock_guard lock(j->m);
    j->query_id = ctx.query_id;
  }
  writer create_writer(std::int64_t batch_id, std::int64_t partition_id) {
    j->log("create_writer " + std::to_string(batch_id) + "/" + std::to_string(partition_id));
    return {j, f, batch_id, partition_id, {}};
  }
  void commit(std::int64_t batch_id, const std::vector<message>& messages) {
    j->log("commit " + std::to_string(batch_id) + " messages=" + std::to_string(messages.size()));
    if (f.commit_batch) throw std::runtime_error("store unavailable");
    std::lock_guard lock(j->m);
    for (const auto& msg : messages) {
      auto& ids = j->committed[batch_id];
      ids.insert(ids.end(), msg.ids.begin(), msg.ids.end());
      j->rows.insert(j->rows.end(), msg.ids.begin(), msg.ids.end());
    }
  }
  void abort(std::int64_t batch_id, std::vector<message> messages) {
    j->log("abort " + std::to_string(batch_id) + " messages=" + std::to_string(messages.size()));
    if (f.abort_throws) throw std::runtime_error("abort failed too");
  }
  std::optional<std::int64_t> last_committed_batch()
    requires Remembers
  {
    std::lock_guard lock(j->m);
    ++j->last_committed_asked;
    if (j->committed.empty()) return std::nullopt;
    return j->committed.rbegin()->first;
  }
  std::string description() const { return "StoreSink"; }
};

std::vector<Item> items(std::int64_t from, std::int64_t to) {
  std::vector<Item> out;
  for (auto i = from; i < to; ++i) out.push_back({i, "item-" + std::to_string(i)});
  return out;
}

fs::path fresh_dir(const std::string& name) {
  std::random_device rd;
  auto dir = fs::temp_directory_path() / ("sluice-two-phase-" + name + "-" + std::to_string(rd()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

using vs = std::vector<std::string>;
}  // namespace two_phase_test

using namespace two_phase_test;

TEST_CASE("two_phase: a batch is create_writer, write per row, writer commit, then sink commit", "[two_phase]") {
  store_sink<true> sink;
  sl::memory_stream<Item> in;
  in.add_data(items(1, 4));
  auto q = sl::start(in | sl::two_phase(sink), sl::output_mode::append);
  q.process_all_available();
  CHECK(sink.j->take() == vs{"create_writer 0/0", "write 1", "write 2", "write 3", "writer.commit 0/0",
                             "commit 0 messages=1"});
  in.add_data(items(4, 5));
  q.process_all_available();
  CHECK(sink.j->take() == vs{"create_writer 1/0", "write 4", "writer.commit 1/0", "commit 1 messages=1"});
  q.stop();
  CHECK(sink.j->rows == std::vector<std::int64_t>{1, 2, 3, 4});
  CHECK(sink.j->query_id == q.id());  // start(ctx) was passed on
  CHECK(sink.j->last_committed_asked == 1);  // once per query start, not per batch
  CHECK(q.last_progress()->sink.description == "StoreSink");
}

TEST_CASE("two_phase: a failing write aborts the writer and the batch, and fails the query", "[two_phase]") {
  store_sink<true> sink;
  sink.f.write_id = 2;
  sl::memory_stream<Item> in;
  in.add_data(items(1, 4));
  auto q = sl::start(in | sl::two_phase(sink), sl::output_mode::append);
  REQUIRE_THROWS_WITH(q.await_termination(), Catch::Contains("cannot write row 2") && Catch::Contains("batch 0"));
  CHECK(sink.j->take() == vs{"create_writer 0/0", "write 1", "write 2", "writer.abort 0", "abort 0 messages=0"});
  CHECK(sink.j->rows.empty());
}

TEST_CASE("two_phase: a failing sink commit aborts with the writers' messages, not the writer", "[two_phase]") {
  store_sink<true> sink;
  sink.f.commit_batch = true;
  sink.f.abort_throws = true;  // an abort that fails too must not hide the commit's error
  auto bound = sl::two_phase(sink).bind<Item>();
  const auto rows = items(1, 3);
  bound.start({"q", "", sl::output_mode_kind::append});
  REQUIRE_THROWS_WITH(bound.add_batch(5, rows), "store unavailable");
  CHECK(sink.j->take() == vs{"create_writer 5/0", "write 1", "write 2", "writer.commit 5/0", "commit 5 messages=1",
                             "abort 5 messages=1"});
  CHECK(!bound.last_committed_batch());
  // The batch is offered again (after a restart) and commits this time.
  sink.j->calls.clear();
  auto again = sl::two_phase(store_sink<true>{sink.j, {}}).bind<Item>();
  again.start({"q", "", sl::output_mode_kind::append});
  again.add_batch(5, rows);
  CHECK(sink.j->rows == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("two_phase: batch ids the sink reports committed are skipped", "[two_phase]") {
  store_sink<true> sink;
  sink.j->committed[3] = {};  // the store already holds batch 3
  auto bound = sl::two_phase(std::ref(sink)).bind<Item>();
  bound.start({"q", "", sl::output_mode_kind::append});
  const auto rows = items(10, 12);
  bound.add_batch(2, rows);
  bound.add_batch(3, rows);
  CHECK(sink.j->take().empty());
  bound.add_batch(4, rows);
  CHECK(sink.j->take() == vs{"create_writer 4/0", "write 10", "write 11", "writer.commit 4/0", "commit 4 messages=1"});
  bound.add_batch(4, rows);  // offered again in the same run: skipped
  CHECK(sink.j->take().empty());
  CHECK(sink.j->last_committed_asked == 1);
  CHECK(bound.last_committed_batch() == 4);
}

TEST_CASE("two_phase: without last_committed_batch only this run's commits are skipped", "[two_phase]") {
  store_sink<false> sink;
  auto bound = sl::two_phase(sink).bind<Item>();
  const auto rows = items(1, 2);
  bound.add_batch(0, rows);
  bound.add_batch(0, rows);
  CHECK(sink.j->rows == std::vector<std::int64_t>{1});
  auto next_run = sl::two_phase(sink).bind<Item>();  // a restart: nothing remembered
  next_run.add_batch(0, rows);
  CHECK(sink.j->rows == std::vector<std::int64_t>{1, 1});
}

namespace two_phase_test {
// Runs memory_stream -> two_phase(sink) with a checkpoint: three batches, then "crashes"
// between the sink's commit of the last batch and the commit log (its commits/N is removed,
// as a kill at that moment leaves it), then restarts and adds one more batch.
template <bool Remembers>
std::vector<std::int64_t> restart_after_lost_commit_log(const std::string& name) {
  const auto dir = fresh_dir(name);
  const sl::query_options opts{.checkpoint = (dir / "ck").string()};
  store_sink<Remembers> sink;
  sl::memory_stream<Item> in;
  {
    auto q = sl::start(in | sl::two_phase(sink), sl::output_mode::append, opts);
    for (int b = 0; b < 3; ++b) {
      in.add_data(items(b * 10, b * 10 + 3));
      q.process_all_available();
    }
    q.stop();
  }
  REQUIRE(fs::exists(dir / "ck" / "commits" / "2"));
  fs::remove(dir / "ck" / "commits" / "2");
  {
    auto q = sl::start(in | sl::two_phase(sink), sl::output_mode::append, opts);
    in.add_data(items(100, 102));
    q.process_all_available();
    q.stop();
    REQUIRE(!q.exception());
    CHECK(q.recent_progress().front().batch_id == 2);  // batch 2 ran again first
  }
  fs::remove_all(dir);
  auto rows = sink.j->rows;
  std::sort(rows.begin(), rows.end());
  return rows;
}
}  // namespace two_phase_test

TEST_CASE("two_phase: a batch re-run after its commit is skipped by the batch id the sink holds", "[two_phase]") {
  const auto rows = restart_after_lost_commit_log<true>("remembers");
  CHECK(rows == std::vector<std::int64_t>{0, 1, 2, 10, 11, 12, 20, 21, 22, 100, 101});
}

TEST_CASE("two_phase: a sink that cannot say what it committed writes a re-run batch twice", "[two_phase]") {
  // The contrast: the same scenario without last_committed_batch duplicates batch 2.
  const auto rows = restart_after_lost_commit_log<false>("forgets");
  CHECK(rows == std::vector<std::int64_t>{0, 1, 2, 10, 11, 12, 20, 20, 21, 21, 22, 22, 100, 101});
}

TEST_CASE("two_phase: output modes follow the user sink's supports", "[two_phase]") {
  struct append_only : store_sink<true> {
    static constexpr bool supports(sl::output_mode_kind m) { return m == sl::output_mode_kind::append; }
  };
  using bound = decltype(sl::two_phase(append_only{}).bind<Item>());
  STATIC_REQUIRE(sl::sink_supports<bound>(sl::output_mode_kind::append));
  STATIC_REQUIRE(!sl::sink_supports<bound>(sl::output_mode_kind::complete));
  using any = decltype(sl::two_phase(store_sink<true>{}).bind<Item>());
  STATIC_REQUIRE(sl::sink_supports<any>(sl::output_mode_kind::complete));
}

TEST_CASE("two_phase: idempotency keys have a stable string and hash", "[two_phase]") {
  const sl::idempotency_key k{"q-1", 7, 0, 3};
  CHECK(k.str() == "q-1/7/0/3");
  CHECK(k.hash() == 0x927062c2733ac765ULL);  // FNV-1a 64 of "q-1/7/0/3", fixed forever
  CHECK(k.hex() == "927062c2733ac765");
  CHECK(k == sl::idempotency_key{"q-1", 7, 0, 3});
  CHECK(k.hash() != sl::idempotency_key{"q-1", 7, 0, 4}.hash());
  CHECK(k.hash() != sl::idempotency_key{"q-1", 7, 1, 3}.hash());
  CHECK(k.hash() != sl::idempotency_key{"q-1", 8, 0, 3}.hash());
  CHECK(k.hash() != sl::idempotency_key{"q-2", 7, 0, 3}.hash());
  CHECK(k < sl::idempotency_key{"q-1", 7, 0, 4});
  CHECK(sl::to_json_string(k) == R"({"query_id":"q-1","batch_id":7,"partition":0,"row_index":3})");
}

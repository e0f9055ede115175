// sl::two_phase given a batch as partitions (graph/plan.hpp's partition-aware protocol): a sink
// with concurrent_writers gets a writer per partition, on several threads at once, and one
// commit with every message; a failing writer aborts the others and the batch; a sink without
// concurrent_writers keeps getting the batch whole, through one writer.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>
#include <sluice/sinks/two_phase.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "partition_support.hpp"

namespace two_phase_partitions_test {
namespace sl = sluice;
using sluice_test::batch_on;
using sluice_test::split_rows;
using sluice_test::thread_tasks;

struct Item {
  std::int64_t id = 0;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, name))

// A transactional store: rows become visible only in the sink's commit.
struct store {
  std::mutex m;
  std::condition_variable cv;
  std::map<std::int64_t, std::vector<std::int64_t>> committed;  // batch id -> row ids, in message order
  std::vector<std::string> calls;                                 // sink-level calls, in order
  std::vector<std::int64_t> aborted_partitions;                   // writers aborted
  std::vector<std::size_t> abort_messages;                        // messages per sink abort
  int writing = 0, most_writing = 0;                              // writers inside write() at once
  std::map<std::int64_t, int> arrived;                            // per batch, writers that began writing
  int wait_for_writers = 0;  // write() waits (1 s at most) until this many writers of its batch began
  std::int64_t fail_partition = -1;
  void log(std::string s) {
    std::lock_guard lock(m);
    calls.push_back(std::move(s));
  }
};

struct message {
  std::int64_t partition = 0;
  std::vector<std::int64_t> ids;
};

struct writer {
  std::shared_ptr<store> s;
  std::int64_t batch, partition;
  std::vector<std::int64_t> pending;
  void write(const Item& it) {
    if (pending.empty()) {  // the partition's first row: count the writers at work at once
      std::unique_lock lock(s->m);
      s->most_writing = std::max(s->most_writing, ++s->writing);
      ++s->arrived[batch];
      s->cv.notify_all();
      s->cv.wait_for(lock, std::chrono::seconds(1), [&] { return s->arrived[batch] >= s->wait_for_writers; });
      --s->writing;
    }
    if (partition == s->fail_partition) throw std::runtime_error("partition " + std::to_string(partition) + " failed");
    pending.push_back(it.id);
  }
  message commit() { return {partition, pending}; }
  void abort() {
    std::lock_guard lock(s->m);
    s->aborted_partitions.push_back(partition);
  }
};

template <bool Concurrent>
struct store_sink {
  static constexpr bool concurrent_writers = Concurrent;
  std::shared_ptr<store> s = std::make_shared<store>();

  writer create_writer(std::int64_t batch_id, std::int64_t partition) {
    s->log("create_writer " + std::to_string(batch_id) + "/" + std::to_string(partition));
    return {s, batch_id, partition, {}};
  }
  void commit(std::int64_t batch_id, const std::vector<message>& messages) {
    std::lock_guard lock(s->m);
    s->calls.push_back("commit " + std::to_string(batch_id) + " messages=" + std::to_string(messages.size()));
    auto& ids = s->committed[batch_id];
    for (const auto& msg : messages) ids.insert(ids.end(), msg.ids.begin(), msg.ids.end());
  }
  void abort(std::int64_t batch_id, const std::vector<message>& messages) {
    std::lock_guard lock(s->m);
    s->calls.push_back("abort " + std::to_string(batch_id));
    s->abort_messages.push_back(messages.size());
  }
  std::optional<std::int64_t> last_committed_batch() {
    std::lock_guard lock(s->m);
    if (s->committed.empty()) return std::nullopt;
    return s->committed.rbegin()->first;
  }
};

std::vector<Item> items(std::int64_t from, std::int64_t to) {
  std::vector<Item> out;
  for (auto i = from; i < to; ++i) out.push_back({i, "item-" + std::to_string(i)});
  return out;
}

using concurrent_bound = decltype(sl::two_phase(store_sink<true>{}).bind<Item>());
using joined_bound = decltype(sl::two_phase(store_sink<false>{}).bind<Item>());
static_assert(sl::partitioned_sink_for<concurrent_bound, Item>);
static_assert(!sl::partitioned_sink_for<joined_bound, Item>);
static_assert(sl::bound_sink_for<joined_bound, Item>);
}  // namespace two_phase_partitions_test

using namespace two_phase_partitions_test;

TEST_CASE("two_phase: with concurrent_writers, 1, 2 and 4 partitions are written at once and commit the same rows",
          "[two_phase][partitions]") {
  thread_tasks pool(4);
  std::vector<std::map<std::int64_t, std::vector<std::int64_t>>> results;
  for (const std::size_t partitions : {1, 2, 4}) {
    INFO("partitions: " << partitions);
    store_sink<true> sink;
    sink.s->wait_for_writers = static_cast<int>(partitions);
    auto bound = sl::two_phase(sink).bind<Item>();
    bound.start({"q", "", sl::output_mode_kind::append});
    std::vector<Item> scratch;
    for (std::int64_t b = 0; b < 3; ++b) {
      const auto rows = items(b * 100, b * 100 + 40 + b);
      const auto parts = split_rows(rows, partitions);
      sl::deliver_batch(bound, batch_on(b, &pool), std::span<const std::span<const Item>>(parts), scratch);
    }
    // Batch 1 offered again (a re-run after the sink's commit): skipped.
    const auto again = items(100, 141);
    const auto parts = split_rows(again, partitions);
    sl::deliver_batch(bound, batch_on(1, &pool), std::span<const std::span<const Item>>(parts), scratch);

    CHECK(scratch.empty());
    CHECK(sink.s->most_writing == static_cast<int>(partitions));  // every writer of a batch at work at once
    const auto commits = std::count_if(sink.s->calls.begin(), sink.s->calls.end(),
                                       [](const std::string& c) { return c.starts_with("commit "); });
    CHECK(commits == 3);
    CHECK(std::find(sink.s->calls.begin(), sink.s->calls.end(),
                    "commit 2 messages=" + std::to_string(partitions)) != sink.s->calls.end());
    CHECK(sink.s->aborted_partitions.empty());
    results.push_back(sink.s->committed);
  }
  CHECK(results[0] == results[1]);
  CHECK(results[0] == results[2]);
  CHECK(results[0].at(2).size() == 42);
}

TEST_CASE("two_phase: a failing partition writer aborts the others and the batch, and the re-run commits once",
          "[two_phase][partitions]") {
  thread_tasks pool(4);
  store_sink<true> sink;
  sink.s->fail_partition = 2;
  sink.s->wait_for_writers = 4;  // all four at work when partition 2 fails
  const auto rows = items(0, 80);
  const auto parts = split_rows(rows, 4);
  const std::span<const std::span<const Item>> all_parts(parts);
  std::vector<Item> scratch;
  {
    auto bound = sl::two_phase(sink).bind<Item>();
    bound.start({"q", "", sl::output_mode_kind::append});
    REQUIRE_THROWS_WITH(sl::deliver_batch(bound, batch_on(0, &pool), all_parts, scratch), "partition 2 failed");
    CHECK(!bound.last_committed_batch());
  }
  CHECK(sink.s->committed.empty());
  // Every writer is undone: aborted itself (the failing one, and those that had not committed
  // when it failed), or its committed message handed to the sink's abort of the batch.
  auto aborted = sink.s->aborted_partitions;
  std::sort(aborted.begin(), aborted.end());
  CHECK(std::count(aborted.begin(), aborted.end(), 2) == 1);
  REQUIRE(sink.s->abort_messages.size() == 1);  // the batch aborted once
  CHECK(aborted.size() + sink.s->abort_messages[0] == 4);
  CHECK(std::count(sink.s->calls.begin(), sink.s->calls.end(), "abort 0") == 1);

  // The restarted query runs the batch again: committed once.
  sink.s->fail_partition = -1;
  sink.s->arrived.clear();
  auto bound = sl::two_phase(sink).bind<Item>();
  bound.start({"q", "", sl::output_mode_kind::append});
  sl::deliver_batch(bound, batch_on(0, &pool), all_parts, scratch);
  sl::deliver_batch(bound, batch_on(0, &pool), all_parts, scratch);
  std::vector<std::int64_t> expected;
  for (const auto& r : rows) expected.push_back(r.id);
  CHECK(sink.s->committed.size() == 1);
  CHECK(sink.s->committed.at(0) == expected);
}

TEST_CASE("two_phase: a sink without concurrent_writers gets the partitions joined, through one writer",
          "[two_phase][partitions]") {
  thread_tasks pool(4);
  store_sink<false> sink;
  auto bound = sl::two_phase(sink).bind<Item>();
  bound.start({"q", "", sl::output_mode_kind::append});
  const auto rows = items(0, 30);
  const auto parts = split_rows(rows, 4);
  std::vector<Item> scratch;
  sl::deliver_batch(bound, batch_on(7, &pool), std::span<const std::span<const Item>>(parts), scratch);
  CHECK(sink.s->calls == std::vector<std::string>{"create_writer 7/0", "commit 7 messages=1"});
  CHECK(sink.s->most_writing == 1);
  CHECK(scratch.size() == rows.size());
  CHECK(sink.s->committed.at(7).size() == rows.size());
}

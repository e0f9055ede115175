// Partitioned aggregation state (Spark's partial aggregation, exchange by key hash and state
// per shuffle partition): the same groups, output and metrics whatever the number of state
// partitions, the number of input partitions and the threads they run on; per-partition state
// files (state/<op>/<partition>/) that restore; a checkpoint written before partitions that
// still restores; shuffle_partitions fixed by the checkpoint.
#include <catch2/catch.hpp>

#include <sluice/checkpoint/inspect.hpp>
#include <sluice/detail/flat_map_prefetch.hpp>
#include <sluice/sluice.hpp>

#include "partition_support.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <exception>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace sl = sluice;
namespace fs = std::filesystem;

namespace {
struct Reading {
  std::int64_t key;
  sl::timestamp ts;
  double value;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (key, ts, value))

using sluice_test::thread_tasks;  // the engine's pool stands in

fs::path fresh_dir(const std::string& name) {
  std::random_device rd;
  auto dir = fs::temp_directory_path() / ("sluice-shuffle-" + name + "-" + std::to_string(rd()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Batches of rows in roughly increasing event time, some late, keys in [0, keys).
std::vector<std::vector<Reading>> make_batches(int batches, int rows, int keys, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<Reading>> out;
  std::int64_t t = 0;
  for (int b = 0; b < batches; ++b) {
    std::vector<Reading> v;
    for (int i = 0; i < rows; ++i) {
      t += static_cast<std::int64_t>(rng() % 200'000);
      const std::int64_t jitter = static_cast<std::int64_t>(rng() % 20'000'000);  // up to 20 s early: some late
      v.push_back({static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(keys)),
                   sl::timestamp{std::max<std::int64_t>(0, t - jitter)}, static_cast<double>(rng() % 100)});
    }
    out.push_back(std::move(v));
  }
  return out;
}

struct run_config {
  std::size_t shuffle_partitions = 1;
  std::size_t input_partitions = 1;
  std::size_t threads = 0;  // 0: no task runner, everything on this thread
  bool buckets = false;     // on one thread too, through the buckets (as a large state goes)
  // With workers: after how many group updates an input partition judges its pre-aggregation
  // (0: the stage's default); a few, so that the partitions stop pre-aggregating part way.
  std::size_t pre_aggregate_check_at = 0;
  // Through the buckets, the rows applied with their table entries prefetched however small
  // the partitions' tables are (as a large state's are).
  bool prefetch = false;
};

struct batch_result {
  std::vector<std::string> rows;  // in output order
  std::int64_t total = 0, updated = 0, removed = 0, dropped = 0;
  std::size_t exchanged_partials = 0, exchanged_rows = 0;  // what the exchange carried
  std::size_t late_rows = 0;                               // rows sent to late_rows in the batch
  std::vector<std::string> sorted() const {
    auto r = rows;
    std::sort(r.begin(), r.end());
    return r;
  }
};

// Drives the aggregation stage of `node` by hand as the engine will: begin_batch, each input
// partition through open_batch / accept / close_batch (on its own thread when there are
// workers), then finish. The watermark (delay 5 s) is computed here, the same for every run.
template <class Node>
std::vector<batch_result> run(Node node, const std::vector<std::vector<Reading>>& batches, sl::output_mode_kind mode,
                              const run_config& cfg, std::vector<Reading>* late = nullptr) {
  auto& stage = node.stage;
  sl::graph_controls controls;
  node.visit(controls);
  stage.late_rows = late;
  if constexpr (requires { stage.straight_below_groups; })
    if (cfg.buckets) stage.straight_below_groups = 0;
  if constexpr (requires { stage.pre_aggregate_check_at; })
    if (cfg.pre_aggregate_check_at > 0) stage.pre_aggregate_check_at = cfg.pre_aggregate_check_at;
  if constexpr (requires { stage.prefetch_above_groups; })
    if (cfg.prefetch) stage.prefetch_above_groups = 0;
  thread_tasks tasks(std::max<std::size_t>(1, cfg.threads));
  std::vector<batch_result> out;
  std::int64_t watermark = 0, previous = 0, max_ts = 0;
  for (std::size_t b = 0; b < batches.size() + 1; ++b) {  // and a last batch without data
    sl::batch_context ctx;
    ctx.batch_id = static_cast<std::int64_t>(b);
    ctx.watermark = watermark;
    ctx.has_watermark = true;
    ctx.operator_watermarks = {{previous, watermark}};
    ctx.mode = mode;
    ctx.shuffle_partitions = cfg.shuffle_partitions;
    ctx.tasks = cfg.threads > 0 ? &tasks : nullptr;
    stage.begin_batch(ctx);
    const std::vector<Reading> none;
    const auto& rows = b < batches.size() ? batches[b] : none;
    std::vector<std::vector<Reading>> parts(cfg.input_partitions);
    for (std::size_t i = 0; i < rows.size(); ++i) parts[i * cfg.input_partitions / rows.size()].push_back(rows[i]);
    auto one = [&](std::size_t p) {
      auto local = [&] {  // as the engine opens them (graph/node.hpp)
        if constexpr (requires { stage.open_batch(ctx, p); }) return stage.open_batch(ctx, p);
        else return stage.open_batch(ctx);
      }();
      for (const auto& r : parts[p]) stage.accept(ctx, r, local);
      stage.close_batch(local);
    };
    if (cfg.threads > 0) {
      std::vector<std::thread> threads;
      for (std::size_t p = 0; p < parts.size(); ++p) threads.emplace_back(one, p);
      for (auto& t : threads) t.join();
    } else {
      for (std::size_t p = 0; p < parts.size(); ++p) one(p);
    }
    batch_result r;
    auto down = [&](auto&& row) { r.rows.push_back(sl::to_json_string(row)); };
    const std::size_t late_before = late != nullptr ? late->size() : 0;
    stage.finish(ctx, down);
    if (late != nullptr) r.late_rows = late->size() - late_before;
    if constexpr (requires { stage.exchanged_partials; }) {
      r.exchanged_partials = stage.exchanged_partials;
      r.exchanged_rows = stage.exchanged_rows;
    }
    const auto m = stage.metrics();
    r.total = m.num_rows_total;
    r.updated = m.num_rows_updated;
    r.removed = m.num_rows_removed;
    r.dropped = m.num_rows_dropped_by_watermark;
    out.push_back(std::move(r));
    for (const auto& row : rows) max_ts = std::max(max_ts, row.ts.micros);
    previous = watermark;
    watermark = std::max(watermark, max_ts - 5'000'000);
  }
  if (cfg.threads > 1 && cfg.shuffle_partitions > 1) CHECK(tasks.ran() > 0);  // finish used the workers
  return out;
}

template <class Node>
void check_same_results(const Node& node, sl::output_mode_kind mode) {
  const auto batches = make_batches(6, 400, 37, 11);
  std::vector<Reading> late_ref;
  const auto ref = run(node, batches, mode, {1, 1, 0}, &late_ref);
  std::size_t emitted = 0;
  for (const auto& b : ref) emitted += b.rows.size();
  REQUIRE(emitted > 0);
  // With workers, input partitions pre-aggregate their rows, and merging their partial
  // aggregates adds a group's values in another order than one thread does: exact here, as
  // the values are whole numbers (a double sum of them is exact in any order); averages of
  // fractional values may differ in the last bits (docs/semantics.md).
  const std::vector<run_config> configs = {{4, 1, 0},       {4, 3, 0},       {7, 3, 3},       {2, 4, 2},
                                           {1, 2, 2},       {16, 1, 2},      {4, 3, 0, true}, {5, 1, 0, true},
                                           {300, 2, 0, true}, {7, 3, 3, false, 20}, {4, 4, 2, false, 1},
                                           {1, 1, 0, true, 0, true}, {4, 3, 0, true, 0, true}, {5, 2, 0, true, 0, true}};
  for (const auto& cfg : configs) {
    INFO("shuffle_partitions " << cfg.shuffle_partitions << ", input partitions " << cfg.input_partitions
                               << ", threads " << cfg.threads);
    std::vector<Reading> late;
    const auto got = run(node, batches, mode, cfg, &late);
    REQUIRE(got.size() == ref.size());
    for (std::size_t b = 0; b < ref.size(); ++b) {
      INFO("batch " << b);
      CHECK(got[b].sorted() == ref[b].sorted());
      CHECK(got[b].total == ref[b].total);
      CHECK(got[b].updated == ref[b].updated);
      CHECK(got[b].removed == ref[b].removed);
      CHECK(got[b].dropped == ref[b].dropped);
      CHECK(got[b].late_rows == ref[b].late_rows);
    }
    CHECK(late.size() == late_ref.size());
  }
  // Output order: state partition order, the same with threads as without, straight to the
  // partitions' tables or through the buckets.
  const auto seq = run(node, batches, mode, {5, 1, 0});
  const auto par = run(node, batches, mode, {5, 1, 2});
  const auto buckets = run(node, batches, mode, {5, 1, 0, true});
  const auto prefetched = run(node, batches, mode, {5, 1, 0, true, 0, true});
  const auto one = run(node, batches, mode, {1, 1, 0});
  const auto one_prefetched = run(node, batches, mode, {1, 1, 0, true, 0, true});
  for (std::size_t b = 0; b < seq.size(); ++b) {
    CHECK(par[b].rows == seq[b].rows);
    CHECK(buckets[b].rows == seq[b].rows);
    CHECK(prefetched[b].rows == seq[b].rows);
    CHECK(one_prefetched[b].rows == one[b].rows);
  }
}

auto tumbling(sl::memory_stream<Reading>& in) {
  return in | sl::with_watermark(sl::col<"ts">, 5s) | sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"key">) |
         sl::aggregate(sl::count(), sl::sum(sl::col<"value">), sl::avg(sl::col<"value">));
}
}  // namespace

// The prefetcher reads Boost's table layout (detail/flat_map_prefetch.hpp): on the Boost it
// knows, it must find where keys are, or the apply loop's prefetches all miss (silently).
TEST_CASE("shuffle partitions: the group table's prefetcher finds the keys' entries", "[shuffle]") {
  using key = std::tuple<std::int64_t, std::int64_t>;
  using map = boost::unordered_flat_map<key, double, sl::detail::prehashed_key_hash, sl::detail::prehashed_key_equal>;
  map m;
  CHECK(sl::detail::flat_map_prefetcher<map>(m).enabled() == sl::detail::flat_map_layout_known);
  CHECK(sl::detail::flat_map_prefetcher<map>(m).guess(12345) == nullptr);  // nothing allocated
  for (std::int64_t i = 0; i < 20'000; ++i) m[{i / 7, i}] = static_cast<double>(i);  // rehashed on the way
  const sl::detail::flat_map_prefetcher<map> p(m);
  REQUIRE(p.enabled() == sl::detail::flat_map_layout_known);
  if (sl::detail::flat_map_layout_known) {
    std::size_t found = 0;
    for (const auto& [k, v] : m)
      if (p.guess(sl::detail::key_hash{}(k)) == &*m.find(k)) ++found;
    CHECK(found > m.size() * 9 / 10);  // (a tag shared in the group, or an overflowed group: not the first guess)
    m.clear();
    m.rehash(0);
    CHECK(p.guess(sl::detail::key_hash{}(key{1, 2})) == nullptr);
  }
  // A hash the map mixes again (not avalanching) does not tell where the key is: off.
  boost::unordered_flat_map<int, int> plain;
  CHECK(!sl::detail::flat_map_prefetcher<decltype(plain)>(plain).enabled());
}

TEST_CASE("shuffle partitions: a tumbling-window aggregation gives the same results however partitioned",
          "[shuffle]") {
  sl::memory_stream<Reading> in;
  const auto node = tumbling(in);
  SECTION("append") { check_same_results(node, sl::output_mode_kind::append); }
  SECTION("update") { check_same_results(node, sl::output_mode_kind::update); }
  SECTION("complete") { check_same_results(node, sl::output_mode_kind::complete); }
}

TEST_CASE("shuffle partitions: with workers, input partitions exchange partial aggregates, not rows", "[shuffle]") {
  sl::memory_stream<Reading> in;
  const auto node = tumbling(in);
  const auto batches = make_batches(6, 400, 5, 7);  // few groups a batch: a few windows of 5 keys
  const auto ref = run(node, batches, sl::output_mode_kind::update, {4, 3, 0});
  const auto par = run(node, batches, sl::output_mode_kind::update, {4, 3, 2});
  const auto rows = run(node, batches, sl::output_mode_kind::update, {4, 3, 0, true});  // one thread, buckets
  const auto dense = run(node, batches, sl::output_mode_kind::update, {4, 3, 2, false, 1});  // stops at once
  std::size_t partials = 0;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    INFO("batch " << b);
    CHECK(par[b].sorted() == ref[b].sorted());
    CHECK(par[b].updated == ref[b].updated);
    CHECK(par[b].dropped == ref[b].dropped);
    // At most one partial aggregate per group the batch updated and input partition; no rows.
    CHECK(par[b].exchanged_rows == 0);
    CHECK(par[b].exchanged_partials >= static_cast<std::size_t>(par[b].updated));
    CHECK(par[b].exchanged_partials <= 3 * static_cast<std::size_t>(par[b].updated));
    CHECK(par[b].exchanged_partials < batches[b].size() / 4);
    partials += par[b].exchanged_partials;
    // One thread through the buckets routes rows, and so does a partition that stopped
    // pre-aggregating (after its first row, here): every row not late, in both.
    CHECK(rows[b].exchanged_partials == 0);
    CHECK(rows[b].exchanged_rows + static_cast<std::size_t>(rows[b].dropped) == batches[b].size());
    CHECK(dense[b].exchanged_partials <= 3);
    CHECK(dense[b].exchanged_rows + dense[b].exchanged_partials + static_cast<std::size_t>(dense[b].dropped) ==
          batches[b].size());
    CHECK(dense[b].sorted() == ref[b].sorted());
  }
  CHECK(partials > 0);
}

// Fractional values: merged partial aggregates add a group's values in another order than one
// thread, so sums and averages of doubles are compared with a relative tolerance of 1e-12
// against one thread (counts exactly); with the same partitioning they are the same bits
// from run to run, the partials merged in input partition order whichever closed first.
TEST_CASE("shuffle partitions: fractional sums with workers, within 1e-12 of one thread and the same run to run",
          "[shuffle]") {
  sl::memory_stream<Reading> in;
  auto batches = make_batches(6, 400, 5, 13);
  for (auto& b : batches)
    for (auto& r : b) r.value = r.value * 0.1 + 0.01;
  auto by_group = [](const std::vector<batch_result>& res) {
    std::vector<std::map<std::string, boost::json::object>> out;
    for (const auto& b : res) {
      auto& m = out.emplace_back();
      for (const auto& row : b.rows) {
        auto o = boost::json::parse(row).as_object();
        const std::string group = boost::json::serialize(o.contains("window") ? o["window"] : boost::json::value()) +
                                  "/" + boost::json::serialize(o.contains("key") ? o["key"] : boost::json::value());
        m[group] = std::move(o);
      }
    }
    return out;
  };
  auto check = [&](const auto& node) {
    const auto one = by_group(run(node, batches, sl::output_mode_kind::update, {1, 1, 0}));
    const auto first = run(node, batches, sl::output_mode_kind::update, {4, 3, 2});
    const auto par = by_group(first);
    for (int again = 0; again < 3; ++again) {
      const auto rerun = run(node, batches, sl::output_mode_kind::update, {4, 3, 2});
      for (std::size_t b = 0; b < first.size(); ++b) CHECK(rerun[b].sorted() == first[b].sorted());
    }
    REQUIRE(par.size() == one.size());
    std::size_t compared = 0;
    for (std::size_t b = 0; b < one.size(); ++b) {
      REQUIRE(par[b].size() == one[b].size());
      for (const auto& [group, o] : one[b]) {
        INFO("batch " << b << ", group " << group);
        REQUIRE(par[b].contains(group));
        const auto& p = par[b].at(group);
        CHECK(p.at("count") == o.at("count"));
        for (const char* f : {"sum(value)", "avg(value)"}) {
          const double x = o.at(f).template to_number<double>(), y = p.at(f).template to_number<double>();
          CHECK(std::abs(x - y) <= 1e-12 * std::max(std::abs(x), 1.0));
          ++compared;
        }
      }
    }
    CHECK(compared > 0);
  };
  SECTION("keyed") { check(tumbling(in)); }
  SECTION("global") { check(in | sl::aggregate(sl::count(), sl::sum(sl::col<"value">), sl::avg(sl::col<"value">))); }
}

// The input partitions close in any order on the workers: whichever closes first, their
// partial aggregates merge in input partition order, to the same bits.
TEST_CASE("shuffle partitions: partial aggregates merge in input partition order, whichever closes first",
          "[shuffle]") {
  sl::memory_stream<Reading> in;
  auto batches = make_batches(3, 300, 3, 17);
  for (auto& b : batches)
    for (std::size_t i = 0; i < b.size(); ++i) b[i].value = b[i].value * 0.1 + 1e-7 * static_cast<double>(i);
  auto drive = [&](auto node, bool reverse) {
    sl::graph_controls controls;
    node.visit(controls);
    thread_tasks tasks(2);
    std::vector<std::string> out;
    for (std::int64_t b = 0; b < 3; ++b) {
      sl::batch_context ctx;
      ctx.batch_id = b;
      ctx.mode = sl::output_mode_kind::update;
      ctx.shuffle_partitions = 4;
      ctx.tasks = &tasks;
      node.stage.begin_batch(ctx);
      const auto& rows = batches[static_cast<std::size_t>(b)];
      std::vector<decltype(node.stage.open_batch(ctx, 0))> locals;
      for (std::size_t i = 0; i < 3; ++i) locals.push_back(node.stage.open_batch(ctx, i));
      for (std::size_t i = 0; i < rows.size(); ++i) node.stage.accept(ctx, rows[i], locals[i * 3 / rows.size()]);
      for (std::size_t i = 0; i < 3; ++i) node.stage.close_batch(locals[reverse ? 2 - i : i]);
      auto down = [&](auto&& row) { out.push_back(sl::to_json_string(row)); };
      node.stage.finish(ctx, down);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  auto check = [&](const auto& node) {
    const auto forward = drive(node, false);
    CHECK(forward.size() >= 3);  // a row a batch at least
    CHECK(drive(node, true) == forward);
  };
  SECTION("keyed") {
    check(in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::sum(sl::col<"value">), sl::avg(sl::col<"value">)));
  }
  SECTION("global") { check(in | sl::aggregate(sl::sum(sl::col<"value">), sl::avg(sl::col<"value">))); }
}

TEST_CASE("shuffle partitions: sliced sliding windows and keys without event time, however partitioned",
          "[shuffle]") {
  sl::memory_stream<Reading> in;
  SECTION("sliding windows, append") {
    const auto node = in | sl::with_watermark(sl::col<"ts">, 5s) |
                      sl::group_by(sl::window(sl::col<"ts">, 10s, 5s), sl::col<"key">) |
                      sl::aggregate(sl::count(), sl::max(sl::col<"value">));
    check_same_results(node, sl::output_mode_kind::append);
  }
  SECTION("sliding windows, update") {
    const auto node = in | sl::with_watermark(sl::col<"ts">, 5s) |
                      sl::group_by(sl::window(sl::col<"ts">, 10s, 5s), sl::col<"key">) |
                      sl::aggregate(sl::count(), sl::sum(sl::col<"value">));
    check_same_results(node, sl::output_mode_kind::update);
  }
  SECTION("a key without event time, update") {
    const auto node = in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::count(), sl::sum(sl::col<"value">));
    check_same_results(node, sl::output_mode_kind::update);
  }
  SECTION("a window alone, append (the run-summing fast path)") {
    const auto node = in | sl::with_watermark(sl::col<"ts">, 5s) | sl::group_by(sl::window(sl::col<"ts">, 10s)) |
                      sl::aggregate(sl::count(), sl::sum(sl::col<"value">));
    check_same_results(node, sl::output_mode_kind::append);
  }
}

TEST_CASE("shuffle partitions: a global aggregation keeps its one group in state partition 0", "[shuffle]") {
  sl::memory_stream<Reading> in;
  auto node = in | sl::aggregate(sl::count(), sl::sum(sl::col<"value">), sl::avg(sl::col<"value">));
  SECTION("update") { check_same_results(node, sl::output_mode_kind::update); }
  SECTION("complete") { check_same_results(node, sl::output_mode_kind::complete); }
  SECTION("nothing hashed: partition 0 holds it, the others stay empty and write nothing") {
    const auto batches = make_batches(3, 100, 5, 3);
    for (const auto& cfg : {run_config{8, 3, 2}, run_config{8, 1, 0}, run_config{8, 2, 0, true}}) {
      auto n = node;
      sl::graph_controls controls;
      n.visit(controls);
      thread_tasks tasks(2);
      for (std::int64_t b = 0; b < 3; ++b) {
        sl::batch_context ctx;
        ctx.batch_id = b;
        ctx.mode = sl::output_mode_kind::update;
        ctx.shuffle_partitions = cfg.shuffle_partitions;
        ctx.tasks = cfg.threads > 0 ? &tasks : nullptr;
        n.stage.begin_batch(ctx);
        std::vector<decltype(n.stage.open_batch(ctx))> locals;
        for (std::size_t i = 0; i < cfg.input_partitions; ++i) locals.push_back(n.stage.open_batch(ctx));
        for (std::size_t i = 0; i < batches[static_cast<std::size_t>(b)].size(); ++i)
          n.stage.accept(ctx, batches[static_cast<std::size_t>(b)][i], locals[i % locals.size()]);
        for (auto& l : locals) n.stage.close_batch(l);
        auto down = [](auto&&) {};
        n.stage.finish(ctx, down);
        REQUIRE(n.stage.parts_.size() == 8);
        CHECK(n.stage.parts_[0].groups.size() == 1);
        CHECK(std::get<0>(n.stage.parts_[0].groups.begin()->second.states) == 100 * (b + 1));
        CHECK_FALSE(n.stage.partition_unchanged(0));
        for (std::size_t p = 1; p < 8; ++p) {
          CHECK(n.stage.parts_[p].groups.empty());
          CHECK(n.stage.partition_unchanged(p));
        }
      }
    }
  }
}

TEST_CASE("shuffle partitions: first() and last() take their input partitions in order", "[shuffle]") {
  sl::memory_stream<Reading> in;
  auto ordered = in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::first(sl::col<"value">));
  auto any_order = in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::count());
  STATIC_REQUIRE_FALSE(decltype(ordered.stage)::parallel_accept);
  STATIC_REQUIRE(decltype(any_order.stage)::parallel_accept);
}

TEST_CASE("shuffle partitions: each state partition's files restore it", "[shuffle]") {
  const auto dir = fresh_dir("files");
  const sl::checkpoint_dir ck(dir, "test-query");
  sl::memory_stream<Reading> in;
  const auto batches = make_batches(5, 300, 23, 5);
  // Uninterrupted, four state partitions.
  const auto ref = run(tumbling(in), batches, sl::output_mode_kind::update, {4, 2, 2});

  // The same, its state saved after each batch and restored into a new stage after batch 2.
  auto node = tumbling(in);
  auto& stage = node.stage;
  sl::graph_controls controls;
  node.visit(controls);
  const std::vector<std::vector<Reading>> first(batches.begin(), batches.begin() + 3);
  {
    std::int64_t watermark = 0, previous = 0, max_ts = 0;
    for (std::size_t b = 0; b < first.size(); ++b) {
      sl::batch_context ctx;
      ctx.batch_id = static_cast<std::int64_t>(b);
      ctx.watermark = watermark;
      ctx.has_watermark = true;
      ctx.operator_watermarks = {{previous, watermark}};
      ctx.mode = sl::output_mode_kind::update;
      ctx.shuffle_partitions = 4;
      stage.begin_batch(ctx);
      auto local = stage.open_batch(ctx);
      for (const auto& r : first[b]) stage.accept(ctx, r, local);
      stage.close_batch(local);
      auto down = [](auto&&) {};
      stage.finish(ctx, down);
      sl::detail::save_state(ck, 0, ctx.batch_id, stage, /*snapshot_interval=*/2);
      for (const auto& row : first[b]) max_ts = std::max(max_ts, row.ts.micros);
      previous = watermark;
      watermark = std::max(watermark, max_ts - 5'000'000);
    }
  }
  for (std::size_t p = 0; p < 4; ++p) {
    INFO("partition " << p);
    CHECK(fs::exists(dir / "state" / "0" / std::to_string(p) / "2.delta"));
    CHECK(fs::exists(dir / "state" / "0" / std::to_string(p) / "1.snapshot"));
    CHECK_FALSE(fs::exists(dir / "state" / "0" / std::to_string(p) / "0.snapshot"));
  }
  CHECK_FALSE(fs::exists(dir / "state" / "0" / "2.delta"));
  CHECK(sl::detail::state_partition_dirs(ck, 0) == std::vector<std::size_t>{0, 1, 2, 3});

  auto restored = tumbling(in);
  sl::graph_controls rc;
  restored.visit(rc);
  sl::detail::load_state(ck, 0, 2, restored.stage);
  CHECK(restored.stage.state_partitions() == 4);
  CHECK_FALSE(restored.stage.full_snapshot_due);
  std::size_t groups = 0;
  for (const auto& p : restored.stage.parts_) groups += p.groups.size();
  std::size_t expected = 0;
  for (const auto& p : stage.parts_) expected += p.groups.size();
  CHECK(groups == expected);
  CHECK(groups > 0);
  for (std::size_t p = 0; p < 4; ++p) {
    REQUIRE(restored.stage.parts_[p].groups.size() == stage.parts_[p].groups.size());
    for (const auto& [k, g] : stage.parts_[p].groups) {
      const auto it = restored.stage.parts_[p].groups.find(k);
      REQUIRE(it != restored.stage.parts_[p].groups.end());
      CHECK(std::get<0>(it->second.states) == std::get<0>(g.states));  // count
      CHECK(std::get<1>(it->second.states) == std::get<1>(g.states));  // sum
    }
  }
  CHECK(ref.size() == batches.size() + 1);
  fs::remove_all(dir);
}

namespace {
struct Click {
  std::string page;
  sl::timestamp ts;
};
BOOST_DESCRIBE_STRUCT(Click, (), (page, ts))
Click at(const char* page, int seconds) { return {page, sl::timestamp{seconds * 1'000'000LL}}; }
using click_counts = sl::row<sl::field<"window", sl::time_window>, sl::field<"page", std::string>,
                             sl::field<"count", std::int64_t>>;
auto click_query(sl::memory_stream<Click>& in, sl::memory_sink<click_counts>& sink) {
  return in | sl::with_watermark(sl::col<"ts">, 5s) | sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"page">) |
         sl::aggregate(sl::count()) | sink;
}
std::vector<std::string> json_rows(const sl::memory_sink<click_counts>& sink) {
  std::vector<std::string> out;
  for (const auto& r : sink.rows()) out.push_back(sl::to_json_string(r));
  std::sort(out.begin(), out.end());
  return out;
}
// The batches the checkpoint in tests/data/checkpoint_before_partitions was written with.
const std::vector<std::vector<Click>> legacy_batches = {
    {at("a", 1), at("a", 2), at("b", 3)}, {at("a", 4), at("c", 12)}, {at("b", 15), at("a", 25)}, {at("c", 26), at("d", 27)}};
}  // namespace

TEST_CASE("shuffle partitions: a checkpoint written before state partitions still restores", "[shuffle][checkpoint]") {
  // Written by sluice before partitions (commit 1ad167b) running click_query in update mode,
  // state_snapshot_interval 2, on legacy_batches: state/0/<v>.delta for batches 0..6 (the last
  // three without data), snapshots 1, 3, 5. After it the state holds window [20 s, 30 s) with
  // a, c and d counted once each; the watermark is 22 s.
  const auto dir = fresh_dir("legacy");
  const auto ck = dir / "ck";
  fs::copy(fs::path(SLUICE_TESTS_SOURCE_DIR) / "data" / "checkpoint_before_partitions", ck, fs::copy_options::recursive);
  REQUIRE(fs::exists(ck / "state" / "0" / "6.delta"));
  sl::memory_stream<Click> in;
  for (const auto& b : legacy_batches) in.add_data(b);
  const sl::query_options opts{.checkpoint = ck.string(), .min_batches_to_retain = 3, .state_snapshot_interval = 2,
                               .shuffle_partitions = 3};
  {
    sl::memory_sink<click_counts> sink;
    auto q = sl::start(click_query(in, sink), sl::output_mode::update, opts);
    in.add_data({at("a", 21), at("b", 22)});
    q.process_all_available();
    q.stop();
    CHECK(json_rows(sink) == std::vector<std::string>{
                                 R"({"window":{"start":"1970-01-01T00:00:20.000Z","end":"1970-01-01T00:00:30.000Z"},"page":"a","count":2})",
                                 R"({"window":{"start":"1970-01-01T00:00:20.000Z","end":"1970-01-01T00:00:30.000Z"},"page":"b","count":1})"});
  }
  // Batch 7 wrote a snapshot of each of the 3 partitions; the versions before are still in
  // the layout before partitions.
  for (int p = 0; p < 3; ++p) CHECK(fs::exists(ck / "state" / "0" / std::to_string(p) / "7.snapshot"));
  CHECK(fs::exists(ck / "state" / "0" / "6.delta"));
  const sl::checkpoint_dir cd(ck, "");
  {
    const auto chains = sl::detail::state_chains(cd, 0, 6);
    REQUIRE(chains.size() == 1);
    CHECK_FALSE(chains[0].partition);
    CHECK(sl::detail::state_chains(cd, 0, 7).size() == 3);
  }
  {  // Restarted again: from the partitions now (0 takes the checkpoint's value).
    sl::memory_sink<click_counts> sink;
    auto o = opts;
    o.shuffle_partitions = 0;
    auto q = sl::start(click_query(in, sink), sl::output_mode::update, o);
    in.add_data({at("d", 29), at("a", 23)});
    q.process_all_available();
    in.add_data({at("e", 31)});
    q.process_all_available();
    in.add_data({at("e", 45)});
    q.process_all_available();
    q.stop();
    const auto rows = json_rows(sink);
    CHECK(std::count(rows.begin(), rows.end(),
                     R"({"window":{"start":"1970-01-01T00:00:20.000Z","end":"1970-01-01T00:00:30.000Z"},"page":"a","count":3})") == 1);
    CHECK(std::count(rows.begin(), rows.end(),
                     R"({"window":{"start":"1970-01-01T00:00:20.000Z","end":"1970-01-01T00:00:30.000Z"},"page":"d","count":2})") == 1);
  }
  // Retention (3 batches) has passed batch 7: the files before partitions are gone.
  CHECK_FALSE(fs::exists(ck / "state" / "0" / "6.delta"));
  CHECK(sl::detail::state_versions(cd, 0, "delta").empty());
  // And `sluice checkpoint state` reads the partitions: window [40 s, 50 s) of e.
  std::vector<boost::json::object> state;
  sl::read_checkpoint_state(ck, 0, std::nullopt, [&](boost::json::object o) { state.push_back(std::move(o)); });
  REQUIRE(state.size() == 1);
  CHECK(state[0].at("key").at("page") == "e");
  CHECK(state[0].at("value").at("count") == 1);
  const auto d = sl::describe_checkpoint(ck);
  CHECK(d.at("stateOperators").as_array()[0].as_object().at("partitions").as_array().size() == 3);
  fs::remove_all(dir);
}

namespace {
struct Total {
  std::int64_t count;
  double total;
};
BOOST_DESCRIBE_STRUCT(Total, (), (count, total))
auto global_query(sl::memory_stream<Reading>& in, sl::memory_sink<Total>& sink) {
  return in | sl::aggregate(sl::count().as<"count">(), sl::sum(sl::col<"value">).as<"total">()) | sl::as<Total>() | sink;
}
// The batches tests/data/checkpoint_global_before_partition0 was written with: batch b has b + 1
// rows, values 10 b + i.
std::vector<Reading> global_batch(int b) {
  std::vector<Reading> rows;
  for (int i = 0; i <= b; ++i) rows.push_back({i, sl::timestamp{1'000'000LL * (b + 1)}, double(10 * b + i)});
  return rows;
}
}  // namespace

TEST_CASE("shuffle partitions: a global aggregation's checkpoint from when its group was placed by hash restores",
          "[shuffle][checkpoint]") {
  // Written by sluice before global aggregations kept their group in partition 0 (the parent
  // of the commit that made them) running global_query in update mode, state_snapshot_interval
  // 2, 8 state partitions, on global_batch(0..4): the one group (count 15, total 420) is in
  // state/0/7/, the partition its empty key hashed to; snapshots 1 and 3.
  const auto dir = fresh_dir("global-legacy");
  const auto ck = dir / "ck";
  fs::copy(fs::path(SLUICE_TESTS_SOURCE_DIR) / "data" / "checkpoint_global_before_partition0", ck,
           fs::copy_options::recursive);
  REQUIRE(fs::exists(ck / "state" / "0" / "7" / "4.delta"));
  sl::memory_stream<Reading> in;
  for (int b = 0; b < 5; ++b) in.add_data(global_batch(b));
  const sl::query_options opts{.checkpoint = ck.string(), .min_batches_to_retain = 2, .state_snapshot_interval = 2};
  auto check_run = [&](std::vector<Reading> rows, std::int64_t count, double total) {
    sl::memory_sink<Total> sink;
    auto q = sl::start(global_query(in, sink), sl::output_mode::update, opts);
    in.add_data(std::move(rows));
    q.process_all_available();
    q.stop();
    REQUIRE(sink.rows().size() == 1);
    CHECK(sink.rows()[0].count == count);
    CHECK(sink.rows()[0].total == total);
  };
  check_run({{1, sl::timestamp{9'000'000}, 1000.0}}, 16, 1420.0);
  // Batch 5 moved the group to partition 0 and wrote a snapshot of every partition: 7's is
  // empty now.
  for (int p = 0; p < 8; ++p) CHECK(fs::exists(ck / "state" / "0" / std::to_string(p) / "5.snapshot"));
  CHECK(fs::file_size(ck / "state" / "0" / "7" / "5.snapshot") < fs::file_size(ck / "state" / "0" / "0" / "5.snapshot"));
  // From then on only partition 0 writes.
  check_run({{2, sl::timestamp{10'000'000}, 5.0}, {3, sl::timestamp{10'000'000}, 5.0}}, 18, 1430.0);
  CHECK(fs::exists(ck / "state" / "0" / "0" / "6.delta"));
  for (int p = 1; p < 8; ++p) CHECK_FALSE(fs::exists(ck / "state" / "0" / std::to_string(p) / "6.delta"));
  check_run({{4, sl::timestamp{11'000'000}, 1.0}}, 19, 1431.0);
  check_run({{5, sl::timestamp{12'000'000}, 1.0}}, 20, 1432.0);
  fs::remove_all(dir);
}

TEST_CASE("shuffle partitions: a batch writes deltas only for the partitions it changed", "[shuffle][checkpoint]") {
  const auto dir = fresh_dir("gaps");
  const auto ck = dir / "ck";
  sl::memory_stream<Click> in;
  // 8 state partitions, retention of 3 batches, a snapshot every 2: pages a and b land in
  // partitions pa and pb, each batch touches one page.
  const sl::query_options opts{.checkpoint = ck.string(), .min_batches_to_retain = 3, .state_snapshot_interval = 2};
  std::vector<std::string> all;
  auto batch = [&](std::vector<Click> rows) {
    sl::memory_sink<click_counts> sink;
    auto q = sl::start(click_query(in, sink), sl::output_mode::update, opts);
    in.add_data(std::move(rows));
    q.process_all_available();
    q.stop();
    for (auto& r : json_rows(sink)) all.push_back(r);
  };
  const sl::checkpoint_dir cd(ck, "");
  auto last = [&] {  // the newest commit
    std::int64_t n = -1;
    for (const auto& e : fs::directory_iterator(ck / "commits"))
      if (std::isdigit(static_cast<unsigned char>(e.path().filename().string()[0])))
        n = std::max<std::int64_t>(n, std::stoll(e.path().filename().string()));
    return n;
  };
  // The partitions with a delta of a version from `from` on (batches without data write none).
  auto deltas_from = [&](std::int64_t from) {
    std::vector<std::size_t> out;
    for (std::size_t p = 0; p < 8; ++p)
      for (std::int64_t v = from; v <= last(); ++v)
        if (fs::exists(ck / "state" / "0" / std::to_string(p) / (std::to_string(v) + ".delta"))) {
          out.push_back(p);
          break;
        }
    return out;
  };
  batch({at("a", 1)});
  const auto pa = deltas_from(0);
  REQUIRE(pa.size() == 1);
  auto from = last() + 1;
  batch({at("b", 2)});
  const auto pb = deltas_from(from);
  REQUIRE(pb.size() == 1);
  // Then 8 batches touch a only (b's partition writes nothing; a restart after each batch):
  // every restore must see b's count through its base snapshot and no delta.
  from = last() + 1;
  for (int i = 0; i < 8; ++i) batch({at("a", 3 + i % 5)});
  CHECK(deltas_from(from) == pa);
  // b's partition: its one snapshot, after its first batch, is still its base (nothing changed
  // since), kept by the purge, as no later snapshot replaced it.
  const auto b_dir = ck / "state" / "0" / std::to_string(pb[0]);
  if (pa != pb) {
    CHECK(sl::detail::state_versions_in(b_dir, "snapshot").size() == 1);
    // a's partition: the purge kept only what the retained versions need.
    const auto a_dir = ck / "state" / "0" / std::to_string(pa[0]);
    CHECK(sl::detail::state_versions_in(a_dir, "delta").size() <= 4);
    CHECK(sl::detail::state_versions_in(a_dir, "snapshot").size() <= 3);
  }
  batch({at("b", 8)});
  CHECK(std::count(all.begin(), all.end(),
                   R"({"window":{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:00:10.000Z"},"page":"a","count":9})") == 1);
  CHECK(std::count(all.begin(), all.end(),
                   R"({"window":{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:00:10.000Z"},"page":"b","count":2})") == 1);
  // The commit records each partition's base snapshot and deltas after it; the others have none.
  auto files = sl::detail::recorded_state_files(cd, 0, last());
  REQUIRE(files);
  REQUIRE(files->size() == 8);
  for (std::size_t p = 0; p < 8; ++p)
    if (p != pa[0] && p != pb[0]) CHECK((*files)[p] == sl::state_partition_files{-1, 0});
  // A delta of a committed version lost (not a partition that was unchanged): refused, naming
  // the partition's directory. (Batches until b's partition has a delta after its snapshot.)
  for (int i = 0; (*files)[pb[0]].deltas == 0; ++i) {
    REQUIRE(i < 4);
    batch({at("b", 9)});
    files = sl::detail::recorded_state_files(cd, 0, last());
  }
  const auto b_deltas = sl::detail::state_versions_in(b_dir, "delta");
  REQUIRE(b_deltas.back() > (*files)[pb[0]].snapshot);
  fs::remove(b_dir / (std::to_string(b_deltas.back()) + ".delta"));
  sl::memory_sink<click_counts> sink;
  try {
    auto q = sl::start(click_query(in, sink), sl::output_mode::update, opts);
    q.process_all_available();
    q.stop();
    FAIL("started on a checkpoint missing a delta");
  } catch (const std::exception& e) {
    CHECK_THAT(e.what(), Catch::Contains(b_dir.string()) && Catch::Contains("a state file of a committed batch is missing"));
  }
  fs::remove_all(dir);
}

TEST_CASE("shuffle partitions: fixed by the checkpoint, a different value is refused at start", "[shuffle][checkpoint]") {
  const auto dir = fresh_dir("fixed");
  const auto ck = dir / "ck";
  sl::memory_stream<Click> in;
  {
    sl::memory_sink<click_counts> sink;
    auto q = sl::start(click_query(in, sink), sl::output_mode::update, {.checkpoint = ck.string(), .shuffle_partitions = 5});
    in.add_data({at("a", 1), at("b", 2), at("c", 3)});
    q.process_all_available();
    q.stop();
  }
  // (Partitions a batch leaves unchanged have no files: the commit records every partition.)
  CHECK(sl::detail::recorded_state_files(sl::checkpoint_dir(ck, ""), 0, 0)->size() == 5);
  std::string error;
  try {
    sl::memory_sink<click_counts> sink;
    auto q = sl::start(click_query(in, sink), sl::output_mode::update, {.checkpoint = ck.string(), .shuffle_partitions = 4});
    q.process_all_available();
    q.stop();
  } catch (const std::exception& e) {
    error = e.what();
  }
  CHECK_THAT(error, Catch::Contains("query_options.shuffle_partitions is 4") && Catch::Contains("created with 5") &&
                        Catch::Contains(ck.string()));
  {  // The same value, or 0, runs on.
    sl::memory_sink<click_counts> sink;
    auto q = sl::start(click_query(in, sink), sl::output_mode::update, {.checkpoint = ck.string(), .shuffle_partitions = 5});
    in.add_data({at("a", 4)});
    q.process_all_available();
    q.stop();
    CHECK(json_rows(sink) == std::vector<std::string>{
                                 R"({"window":{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:00:10.000Z"},"page":"a","count":2})"});
  }
  {  // A new query without a value gets the default.
    sl::memory_sink<click_counts> sink;
    auto q = sl::start(click_query(in, sink), sl::output_mode::update, {.checkpoint = (dir / "new").string()});
    q.process_all_available();
    q.stop();
    CHECK(sl::detail::recorded_state_files(sl::checkpoint_dir(dir / "new", ""), 0, 0)->size() ==
          sl::default_shuffle_partitions);
  }
  fs::remove_all(dir);
}

// ---- deduplication: state per state partition, input partitions accepted at once

namespace {
// The same first occurrences (rows differ beyond their keys: the one kept shows which came
// first), in the same order, metrics and late rows whatever the partitioning.
template <class Node>
void check_same_dedup(const Node& node) {
  const auto batches = make_batches(6, 400, 37, 17);
  std::vector<Reading> late_ref;
  const auto ref = run(node, batches, sl::output_mode_kind::append, {1, 1, 0}, &late_ref);
  std::size_t emitted = 0, duplicates = 0;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    emitted += ref[b].rows.size();
    duplicates += batches[b].size() - ref[b].rows.size();
  }
  REQUIRE(emitted > 0);
  REQUIRE(duplicates > 0);
  const std::vector<run_config> configs = {{4, 1, 0}, {4, 3, 0}, {7, 3, 3}, {2, 4, 2}, {1, 2, 2},
                                           {1, 4, 4}, {16, 1, 2}, {3, 4, 4}, {300, 2, 2}};
  for (const auto& cfg : configs) {
    INFO("shuffle_partitions " << cfg.shuffle_partitions << ", input partitions " << cfg.input_partitions
                               << ", threads " << cfg.threads);
    std::vector<Reading> late;
    const auto got = run(node, batches, sl::output_mode_kind::append, cfg, &late);
    REQUIRE(got.size() == ref.size());
    for (std::size_t b = 0; b < ref.size(); ++b) {
      INFO("batch " << b);
      CHECK(got[b].rows == ref[b].rows);
      CHECK(got[b].total == ref[b].total);
      CHECK(got[b].updated == ref[b].updated);
      CHECK(got[b].removed == ref[b].removed);
      CHECK(got[b].dropped == ref[b].dropped);
    }
    REQUIRE(late.size() == late_ref.size());
    for (std::size_t i = 0; i < late.size(); ++i) CHECK(sl::to_json_string(late[i]) == sl::to_json_string(late_ref[i]));
  }
}
}  // namespace

TEST_CASE("shuffle partitions: deduplication keeps the same first occurrences however partitioned", "[shuffle][dedup]") {
  sl::memory_stream<Reading> in;
  SECTION("drop_duplicates, keys kept forever") {
    check_same_dedup(in | sl::with_watermark(sl::col<"ts">, 5s) | sl::drop_duplicates(sl::col<"key">));
  }
  SECTION("drop_duplicates with the event time among the keys") {
    check_same_dedup(in | sl::with_watermark(sl::col<"ts">, 5s) |
                     sl::drop_duplicates(sl::col<"key">, sl::col<"ts">));
  }
  SECTION("drop_duplicates_within_watermark") {
    check_same_dedup(in | sl::with_watermark(sl::col<"ts">, 5s) | sl::drop_duplicates_within_watermark(sl::col<"key">));
  }
  SECTION("without a watermark, the whole row") { check_same_dedup(in | sl::drop_duplicates()); }
}

TEST_CASE("shuffle partitions: each deduplication state partition's files restore it", "[shuffle][dedup][checkpoint]") {
  const auto dir = fresh_dir("dedup-files");
  const sl::checkpoint_dir ck(dir, "test-query");
  sl::memory_stream<Reading> in;
  auto make = [&] { return in | sl::with_watermark(sl::col<"ts">, 5s) | sl::drop_duplicates_within_watermark(sl::col<"key">); };
  const auto batches = make_batches(5, 300, 23, 5);
  // Uninterrupted, and with its state saved after each batch, restored into a new stage after
  // batch 2 and run on: the same rows.
  const auto ref = run(make(), batches, sl::output_mode_kind::append, {4, 2, 2});
  auto node = make();
  auto& stage = node.stage;
  sl::graph_controls controls;
  node.visit(controls);
  auto restored = make();
  sl::graph_controls rc;
  restored.visit(rc);
  thread_tasks tasks(2);
  std::int64_t watermark = 0, previous = 0, max_ts = 0;
  for (std::size_t b = 0; b <= batches.size(); ++b) {
    const bool after = b > 2;
    auto& st = after ? restored.stage : stage;
    if (b == 3) {
      sl::detail::load_state(ck, 0, 2, restored.stage);
      CHECK(restored.stage.state_partitions() == 4);
      CHECK_FALSE(restored.stage.full_snapshot_due);
      for (std::size_t p = 0; p < 4; ++p) {
        REQUIRE(restored.stage.parts_[p].seen.size() == stage.parts_[p].seen.size());
        for (const auto& [k, e] : stage.parts_[p].seen) CHECK(restored.stage.parts_[p].seen.at(k) == e);
      }
      restored.stage.restore_last_batch_watermark(stage.last_watermark_);
    }
    sl::batch_context ctx;
    ctx.batch_id = static_cast<std::int64_t>(b);
    ctx.watermark = watermark;
    ctx.has_watermark = true;
    ctx.operator_watermarks = {{previous, watermark}};
    ctx.mode = sl::output_mode_kind::append;
    ctx.shuffle_partitions = 4;
    ctx.tasks = &tasks;
    st.begin_batch(ctx);
    const std::vector<Reading> none;
    const auto& rows = b < batches.size() ? batches[b] : none;
    auto l0 = st.open_batch(ctx, 0);
    auto l1 = st.open_batch(ctx, 1);
    for (std::size_t i = 0; i < rows.size(); ++i) st.accept(ctx, rows[i], i < rows.size() / 2 ? l0 : l1);
    st.close_batch(l1);
    st.close_batch(l0);
    std::vector<std::string> got;
    auto down = [&](auto&& row) { got.push_back(sl::to_json_string(row)); };
    st.finish(ctx, down);
    CHECK(got == ref[b].rows);
    if (!after) sl::detail::save_state(ck, 0, ctx.batch_id, st, /*snapshot_interval=*/2);
    for (const auto& row : rows) max_ts = std::max(max_ts, row.ts.micros);
    previous = watermark;
    watermark = std::max(watermark, max_ts - 5'000'000);
  }
  for (std::size_t p = 0; p < 4; ++p) {
    INFO("partition " << p);
    CHECK(fs::exists(dir / "state" / "0" / std::to_string(p) / "2.delta"));
    CHECK(fs::exists(dir / "state" / "0" / std::to_string(p) / "1.snapshot"));
  }
  CHECK_FALSE(fs::exists(dir / "state" / "0" / "2.delta"));
  fs::remove_all(dir);
}

namespace {
struct Visit {
  std::int64_t id;
  std::string page;
  sl::timestamp ts;
};
BOOST_DESCRIBE_STRUCT(Visit, (), (id, page, ts))
Visit visit(std::int64_t id, const char* page, int seconds) { return {id, page, sl::timestamp{seconds * 1'000'000LL}}; }
auto visit_query(sl::memory_stream<Visit>& in, sl::memory_sink<Visit>& sink) {
  return in | sl::with_watermark(sl::col<"ts">, 5s) | sl::drop_duplicates(sl::col<"id">) |
         sl::drop_duplicates_within_watermark(sl::col<"page">) | sink;
}
std::vector<std::string> json_rows(const sl::memory_sink<Visit>& sink) {
  std::vector<std::string> out;
  for (const auto& r : sink.rows()) out.push_back(sl::to_json_string(r));
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST_CASE("shuffle partitions: a deduplication checkpoint written before state partitions still restores",
          "[shuffle][dedup][checkpoint]") {
  // Written by sluice before deduplication had state partitions (commit 1042039) running
  // visit_query in append mode, state_snapshot_interval 2, on the batches
  //   {1 a 1s, 2 a 2s, 1 b 3s}, {3 a 4s, 4 c 12s}, {5 b 15s, 6 a 25s, 2 d 26s}, {7 c 26s, 8 d 27s}
  // (each processed before the next was added): state/0 (ids, kept forever) and state/1
  // (pages, within the watermark) with <v>.delta for batches 0..6, snapshots 1, 3, 5. After
  // it ids 1..8 are kept, and pages a, c and d until 30 s, 31 s and 32 s; the watermark is 22 s.
  const auto dir = fresh_dir("dedup-legacy");
  const auto ck = dir / "ck";
  fs::copy(fs::path(SLUICE_TESTS_SOURCE_DIR) / "data" / "checkpoint_dedup_before_partitions", ck,
           fs::copy_options::recursive);
  REQUIRE(fs::exists(ck / "state" / "1" / "6.delta"));
  sl::memory_stream<Visit> in;
  for (const auto& b : std::vector<std::vector<Visit>>{{visit(1, "a", 1), visit(2, "a", 2), visit(1, "b", 3)},
                                                       {visit(3, "a", 4), visit(4, "c", 12)},
                                                       {visit(5, "b", 15), visit(6, "a", 25), visit(2, "d", 26)},
                                                       {visit(7, "c", 26), visit(8, "d", 27)}})
    in.add_data(b);
  const sl::query_options opts{.checkpoint = ck.string(), .min_batches_to_retain = 3, .state_snapshot_interval = 2,
                               .parallelism = 2};
  {
    sl::memory_sink<Visit> sink;
    auto q = sl::start(visit_query(in, sink), sl::output_mode::append, opts);
    // id 8 is known; page a is within the watermark (until 30 s); e and f are new.
    in.add_data({visit(8, "e", 28), visit(9, "a", 28), visit(10, "e", 29), visit(11, "f", 29)});
    q.process_all_available();
    q.stop();
    CHECK(json_rows(sink) == std::vector<std::string>{R"({"id":10,"page":"e","ts":"1970-01-01T00:00:29.000Z"})",
                                                      R"({"id":11,"page":"f","ts":"1970-01-01T00:00:29.000Z"})"});
  }
  // Its offset log fixed shuffle_partitions at the default, 8, which the query takes.
  for (int op = 0; op < 2; ++op)
    for (int p = 0; p < 8; ++p) CHECK(fs::exists(ck / "state" / std::to_string(op) / std::to_string(p) / "7.snapshot"));
  CHECK(fs::exists(ck / "state" / "1" / "6.delta"));
  {  // Restarted again: from the partitions now.
    sl::memory_sink<Visit> sink;
    auto q = sl::start(visit_query(in, sink), sl::output_mode::append, opts);
    // ids 1 and 10 are known; at a watermark of 24 s, c and a are still kept (until 31 s and 30 s).
    in.add_data({visit(1, "g", 30), visit(10, "h", 30), visit(12, "c", 29), visit(13, "a", 40)});
    q.process_all_available();
    CHECK(sink.rows().empty());
    // The watermark is 35 s now: a, c, d, e and f have left.
    in.add_data({visit(14, "c", 41), visit(15, "a", 41), visit(16, "b", 42)});
    q.process_all_available();
    q.stop();
    CHECK(json_rows(sink) == std::vector<std::string>{R"({"id":14,"page":"c","ts":"1970-01-01T00:00:41.000Z"})",
                                                      R"({"id":15,"page":"a","ts":"1970-01-01T00:00:41.000Z"})",
                                                      R"({"id":16,"page":"b","ts":"1970-01-01T00:00:42.000Z"})"});
  }
  // Retention (3 batches) has passed batch 7: the files before partitions are gone.
  CHECK_FALSE(fs::exists(ck / "state" / "1" / "6.delta"));
  CHECK(sl::detail::state_versions(sl::checkpoint_dir(ck, ""), 1, "delta").empty());
  // `sluice checkpoint state` reads the partitions: ids 1 to 16.
  std::vector<boost::json::object> ids;
  sl::read_checkpoint_state(ck, 0, std::nullopt, [&](boost::json::object o) { ids.push_back(std::move(o)); });
  CHECK(ids.size() == 16);
  std::vector<boost::json::object> pages;
  sl::read_checkpoint_state(ck, 1, std::nullopt, [&](boost::json::object o) { pages.push_back(std::move(o)); });
  CHECK(pages.size() == 3);  // a, c and b of the last batch
  const auto d = sl::describe_checkpoint(ck);
  for (int op = 0; op < 2; ++op)
    CHECK(d.at("stateOperators").as_array()[op].as_object().at("partitions").as_array().size() == 8);
  fs::remove_all(dir);
}

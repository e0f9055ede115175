// Property test: stream-stream joins (inner, left outer, right outer, full outer, left semi) on
// a key and a time range, over random out-of-order input in random batches with random
// restarts from the checkpoint, equal a straightforward reference; also with the join's state
// in 1, 3 and 8 state partitions and 1, 2 and 4 workers (changed at each restart).
//
// The reference keeps every row that was not late and joins by brute force. A batch runs with
// the watermark W of the batches before it: a row with event time <= W is late. Every pair of
// rows that are not late, with equal keys and leftTime in [rightTime - 3 s, rightTime + 2 s],
// is emitted once; a left semi join emits each left row with a match once. A left row leaves
// once a batch runs with leftTime <= W - 3 s - 1 us, a right row once rightTime <= W - 2 s - 1
// us; an outer join then emits it with nulls unless it ever matched. After each batch every
// input's watermark becomes max(its event times) - delay (0 before it has data, and again
// after a restart: Spark's WatermarkTracker), W the min over both, never lower; a moved
// watermark runs a no-data batch that evicts with the new one. Both inputs read one memory
// stream (filtered by side), so a unit of data is one batch for both.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "stateful_property_support.hpp"

namespace sl = sluice;
using namespace std::chrono_literals;

namespace stream_join_property {
struct Ev {
  bool left = false;
  std::int64_t key = 0;
  sl::timestamp ts;
  std::int64_t id = 0;
};
BOOST_DESCRIBE_STRUCT(Ev, (), (left, key, ts, id))
struct PL {
  std::int64_t lk = 0;
  sl::timestamp lt;
  std::int64_t lid = 0;
};
BOOST_DESCRIBE_STRUCT(PL, (), (lk, lt, lid))
struct PR {
  std::int64_t rk = 0;
  sl::timestamp rt;
  std::int64_t rid = 0;
};
BOOST_DESCRIBE_STRUCT(PR, (), (rk, rt, rid))

constexpr std::int64_t S = 1'000'000;
constexpr std::int64_t lower = -3 * S, upper = 2 * S, delay = 4 * S;

template <sl::join_type JT>
auto plan(const sl::memory_stream<Ev>& in, sem::batch_outputs& out) {
  auto left = in | sl::filter([](const Ev& e) { return e.left; }) |
              sl::map([](const Ev& e) { return PL{e.key, e.ts, e.id}; }) |
              sl::with_watermark(sl::col<"lt">, std::chrono::microseconds(delay));
  auto right = in | sl::filter([](const Ev& e) { return !e.left; }) |
               sl::map([](const Ev& e) { return PR{e.key, e.ts, e.id}; }) |
               sl::with_watermark(sl::col<"rt">, std::chrono::microseconds(delay));
  auto range = sl::time_range(sl::col<"lt">, sl::col<"rt">, std::chrono::microseconds(lower),
                              std::chrono::microseconds(upper));
  auto joined = [&] {
    if constexpr (JT == sl::join_type::inner) return left | sl::join(right, sl::col<"lk">, sl::col<"rk">, range);
    else if constexpr (JT == sl::join_type::left_outer)
      return left | sl::left_join(right, sl::col<"lk">, sl::col<"rk">, range);
    else if constexpr (JT == sl::join_type::right_outer)
      return left | sl::right_join(right, sl::col<"lk">, sl::col<"rk">, range);
    else if constexpr (JT == sl::join_type::full_outer)
      return left | sl::full_join(right, sl::col<"lk">, sl::col<"rk">, range);
    else return left | sl::left_semi_join(right, sl::col<"lk">, sl::col<"rk">, range);
  }();
  using Row = typename decltype(joined)::row_type;
  return std::move(joined) | out.sink<Row>([](const Row& r) { return boost::json::serialize(sl::to_json(r)); });
}

template <class Row, class V>
void set(Row& row, V& field, const std::optional<V>& v) {
  (void)row;
  field = *v;
}
template <class Row, class V>
void set(Row& row, std::optional<V>& field, const std::optional<V>& v) {
  (void)row;
  field = v;
}

struct side_row {
  std::int64_t key, t, id;
  bool matched = false, evicted = false;
};

template <sl::join_type JT, class Row>
struct reference {
  static constexpr bool left_preserved = JT == sl::join_type::left_outer || JT == sl::join_type::full_outer;
  static constexpr bool right_preserved = JT == sl::join_type::right_outer || JT == sl::join_type::full_outer;
  std::int64_t W = 0;
  std::optional<std::int64_t> wl, wr;
  std::vector<side_row> ls, rs;
  std::multiset<std::string> out;

  void emit(const side_row* l, const side_row* r) {
    if constexpr (JT == sl::join_type::left_semi) {
      out.insert(boost::json::serialize(sl::to_json(PL{l->key, sl::timestamp{l->t}, l->id})));
    } else {
      Row row{};
      auto o = [](const side_row* s, auto f) { return s ? std::optional(f(*s)) : std::nullopt; };
      set(row, sl::get<"lk">(row), o(l, [](auto& s) { return s.key; }));
      set(row, sl::get<"lt">(row), o(l, [](auto& s) { return sl::timestamp{s.t}; }));
      set(row, sl::get<"lid">(row), o(l, [](auto& s) { return s.id; }));
      set(row, sl::get<"rk">(row), o(r, [](auto& s) { return s.key; }));
      set(row, sl::get<"rt">(row), o(r, [](auto& s) { return sl::timestamp{s.t}; }));
      set(row, sl::get<"rid">(row), o(r, [](auto& s) { return s.id; }));
      out.insert(boost::json::serialize(sl::to_json(row)));
    }
  }
  static bool match(const side_row& l, const side_row& r) {
    return l.key == r.key && l.t >= r.t + lower && l.t <= r.t + upper;
  }
  void evict(std::int64_t w) {
    for (auto& l : ls)
      if (!l.evicted && l.t <= w + lower - 1) {
        l.evicted = true;
        if (left_preserved && !l.matched) emit(&l, nullptr);
      }
    for (auto& r : rs)
      if (!r.evicted && r.t <= w - upper - 1) {
        r.evicted = true;
        if (right_preserved && !r.matched) emit(nullptr, &r);
      }
  }
  void batch(const std::vector<Ev>& rows) {
    const std::size_t old_l = ls.size(), old_r = rs.size();
    std::optional<std::int64_t> max_l, max_r;
    for (const auto& e : rows) {
      auto& m = e.left ? max_l : max_r;
      m = std::max(m.value_or(e.ts.micros), e.ts.micros);
      if (e.ts.micros <= W) continue;  // late
      (e.left ? ls : rs).push_back({e.key, e.ts.micros, e.id});
    }
    for (std::size_t i = old_l; i < ls.size(); ++i)  // new left rows with every right row
      for (auto& r : rs)
        if (match(ls[i], r)) pair(ls[i], r);
    for (std::size_t i = 0; i < old_l; ++i)  // old left rows with the new right rows
      for (std::size_t k = old_r; k < rs.size(); ++k)
        if (match(ls[i], rs[k])) pair(ls[i], rs[k]);
    evict(W);
    auto move = [](std::optional<std::int64_t>& w, std::optional<std::int64_t> max) {
      if (max) w = std::max(w.value_or(*max - delay), *max - delay);
      else if (!w) w = 0;
    };
    move(wl, max_l);
    move(wr, max_r);
    const std::int64_t next = std::max(W, std::min(*wl, *wr));
    if (next > W) evict(next);  // the no-data batch
    W = next;
  }
  void pair(side_row& l, side_row& r) {
    if constexpr (JT == sl::join_type::left_semi) {
      if (!l.matched) emit(&l, nullptr);
    } else {
      emit(&l, &r);
    }
    l.matched = r.matched = true;
  }
  void restart() { wl = wr = std::nullopt; }
};

// shuffle_partitions and parallelism 0: the defaults; a parallelism: the first run's, and at
// each restart one of 1, 2 and 4 at random.
template <sl::join_type JT>
void check(std::uint32_t seed, std::size_t shuffle_partitions = 0, std::size_t parallelism = 0) {
  std::mt19937 rng(seed);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sluice-join-property-" + std::to_string(seed) + "-" + sl::detail::random_uuid());
  sl::query_options opts{.checkpoint = (dir / "ck").string(), .state_snapshot_interval = 3,
                         .parallelism = parallelism, .shuffle_partitions = shuffle_partitions};
  sl::memory_stream<Ev> in;
  sem::batch_outputs out;
  using Row = typename decltype(plan<JT>(in, out))::row_type;
  reference<JT, Row> ref;
  std::optional<sl::streaming_query> q;
  q.emplace(sl::start(plan<JT>(in, out), sl::output_mode::append, opts));
  std::int64_t clock = 100, id = 0;
  for (int b = 0; b < 30; ++b) {
    INFO("seed " << seed << ", batch " << b << ", shuffle_partitions " << shuffle_partitions << ", parallelism "
                  << opts.parallelism);
    std::vector<Ev> rows(std::uniform_int_distribution<int>(1, 6)(rng));
    for (auto& e : rows) {
      clock += std::uniform_int_distribution<std::int64_t>(0, 2)(rng);
      // whole seconds, out of order, some late: the bounds and the watermark are hit exactly
      e = {rng() % 2 == 0, std::uniform_int_distribution<std::int64_t>(0, 2)(rng),
           sl::timestamp{(clock - std::uniform_int_distribution<std::int64_t>(0, 8)(rng)) * S}, id++};
    }
    ref.batch(rows);
    in.add_data(rows);
    q->process_all_available();
    REQUIRE(q->current_watermark() == ref.W);
    REQUIRE(out.all() == ref.out);
    if (rng() % 4 == 0) {
      q->stop();
      if (parallelism != 0) opts.parallelism = std::size_t{1} << (rng() % 3);
      q.emplace(sl::start(plan<JT>(in, out), sl::output_mode::append, opts));
      ref.restart();
    }
  }
  q->stop();
  std::filesystem::remove_all(dir);
}
}  // namespace stream_join_property

TEST_CASE("property: stream-stream joins equal a brute-force reference across restarts", "[property][stream_join]") {
  using namespace stream_join_property;
  for (std::uint32_t seed = 1; seed <= 4; ++seed) {
    check<sl::join_type::inner>(seed);
    check<sl::join_type::left_outer>(seed);
    check<sl::join_type::right_outer>(seed);
    check<sl::join_type::full_outer>(seed);
    check<sl::join_type::left_semi>(seed);
  }
}

TEST_CASE("property: stream-stream joins with their state in 1, 3 and 8 partitions on 1, 2 and 4 workers",
          "[property][stream_join][parallel]") {
  using namespace stream_join_property;
  std::uint32_t seed = 100;
  for (const std::size_t shuffle : {1, 3, 8}) {
    // Each run starts on 1, 2 or 4 workers in turn and changes at its restarts.
    const std::size_t first = std::size_t{1} << (seed % 3);
    check<sl::join_type::inner>(++seed, shuffle, first);
    check<sl::join_type::left_outer>(++seed, shuffle, first);
    check<sl::join_type::right_outer>(++seed, shuffle, first);
    check<sl::join_type::full_outer>(++seed, shuffle, first);
    check<sl::join_type::left_semi>(++seed, shuffle, first);
  }
}

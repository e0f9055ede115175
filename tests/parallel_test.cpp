// Partitioned execution (issue #15): a batch's source partitions run on the query's workers,
// and the sink's content does not depend on query_options::parallelism. For each operator
// family and output mode, a source whose batches have random boundaries and whose partitions
// are cut at random places runs with parallelism 1, 2 and 4, also stopped half way and
// restarted from its checkpoint with another parallelism; every batch's rows must equal those
// of the one-thread run (in the same order for stateless queries, order aside after a stateful
// operator). Also the worker pool itself: every task runs once, the first exception is
// rethrown, nested parallel_for runs in turn.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>
#include <sluice/engine/workers.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace parallel_test {
struct Ev {
  std::int64_t key = 0;
  sl::timestamp ts;
  std::int64_t v = 0;
};
BOOST_DESCRIBE_STRUCT(Ev, (), (key, ts, v))

struct split_offset {
  std::int64_t pos = 0;
};
BOOST_DESCRIBE_STRUCT(split_offset, (), (pos))
struct split_part {
  std::int64_t from = 0, to = 0;
};

// Fixed rows made available step by step (the batch boundaries); each batch's range is cut into
// one to five partitions at places drawn from the range (some empty), read at once.
struct split_source {
  using row_type = Ev;
  using offset_type = split_offset;
  using partition_type = split_part;
  static constexpr bool parallel_read = true;
  struct state {
    std::vector<Ev> rows;
    std::mutex mutex;
    std::int64_t available = 0;
    std::atomic<int> reading{0}, most_at_once{0};
    bool slow = false;  // a pause before each row: partitions read at once interleave their rows
  };
  std::shared_ptr<state> s = std::make_shared<state>();

  split_offset initial_offset() { return {0}; }
  split_offset latest_offset(const split_offset&, sl::read_limit) {
    std::lock_guard lock(s->mutex);
    return {s->available};
  }
  std::vector<split_part> partitions(const split_offset& start, const split_offset& end) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(start.pos * 7919 + end.pos));
    const auto k = std::uniform_int_distribution<int>(1, 5)(rng);
    std::vector<std::int64_t> cuts{start.pos, end.pos};
    for (int i = 1; i < k; ++i) cuts.push_back(std::uniform_int_distribution<std::int64_t>(start.pos, end.pos)(rng));
    std::sort(cuts.begin(), cuts.end());
    std::vector<split_part> parts;
    for (std::size_t i = 0; i + 1 < cuts.size(); ++i) parts.push_back({cuts[i], cuts[i + 1]});
    return parts;
  }
  template <class Emit>
  void read(const split_part& p, Emit&& emit) {
    const int now = ++s->reading;
    for (int seen = s->most_at_once.load(); now > seen && !s->most_at_once.compare_exchange_weak(seen, now);) {
    }
    for (auto i = p.from; i < p.to; ++i) {
      if (s->slow) std::this_thread::sleep_for(20us);
      emit(s->rows[static_cast<std::size_t>(i)]);
    }
    if (p.to - p.from > 50) std::this_thread::sleep_for(1ms);  // long enough for partitions to overlap
    --s->reading;
  }
  void commit(const split_offset&) {}
  std::string description() const { return "split_source"; }
};

// Makes rows [0, end) available and waits until the query processed them.
void make_available(split_source& src, sl::streaming_query& q, std::int64_t end) {
  {
    std::lock_guard lock(src.s->mutex);
    src.s->available = end;
  }
  q.process_all_available();
}

constexpr std::int64_t S = 1'000'000;

// Rows out of order (some very late), and random batch boundaries (some batches empty).
struct input {
  std::vector<Ev> rows;
  std::vector<std::int64_t> ends;
};
input random_input(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
  input in;
  std::int64_t clock = 100 * S;
  const int n = static_cast<int>(uniform(300, 700));
  for (int i = 0; i < n; ++i) {
    clock += uniform(0, 400'000);
    std::int64_t t = clock + uniform(-10 * S, 2 * S);
    if (uniform(0, 19) == 0) t -= uniform(20 * S, 60 * S);
    t -= t % 250'000;
    in.rows.push_back({uniform(0, 6), sl::timestamp{std::max<std::int64_t>(t, 1)}, uniform(-50, 100)});
  }
  for (std::int64_t at = 0; at < n;) {
    at = std::min<std::int64_t>(n, at + (uniform(0, 6) == 0 ? 0 : uniform(1, 120)));
    in.ends.push_back(at);
  }
  return in;
}

// The sink's content: per batch id, the rows as JSON text (sorted unless `ordered`).
using content = std::map<std::int64_t, std::vector<std::string>>;

template <class Sink>
content content_of(const Sink& sink, bool ordered) {
  content out;
  for (const auto& b : sink.batches()) {
    auto& rows = out[b.batch_id];
    rows.clear();  // a batch delivered again replaces itself
    for (const auto& r : b.rows) rows.push_back(sl::json_text(sl::to_json(r)));
    if (!ordered) std::sort(rows.begin(), rows.end());
  }
  return out;
}

std::string describe(const content& c) {
  std::string s;
  for (const auto& [id, rows] : c) {
    s += "batch " + std::to_string(id) + ":\n";
    for (const auto& r : rows) s += "  " + r + "\n";
  }
  return s;
}

// Runs the query `make(source)` over `in`: with `parallelism`, and when `restart_with` is set,
// stopped after half the input and restarted from its checkpoint with that parallelism.
template <class Make, class Mode>
content run_query(const input& in, Make make, Mode mode, std::size_t parallelism, std::size_t restart_with,
                  bool ordered, const std::filesystem::path& dir, int* most_at_once = nullptr,
                  std::size_t shuffle_partitions = 0) {
  split_source src;
  src.s->rows = in.rows;
  std::filesystem::remove_all(dir);
  auto plan = make(src);
  using Row = typename decltype(plan)::row_type;
  sl::memory_sink<Row> sink;
  const std::size_t half = restart_with ? in.ends.size() / 2 : in.ends.size();
  auto run = [&](std::size_t from, std::size_t to, std::size_t p) {
    auto q = sl::start(make(src) | sink, mode,
                       {.checkpoint = (dir / "ck").string(), .progress_retention = 1'000'000, .parallelism = p,
                        .shuffle_partitions = shuffle_partitions});
    for (std::size_t b = from; b < to; ++b) make_available(src, q, in.ends[b]);
    q.stop();
    if (auto e = q.exception()) throw *e;
  };
  run(0, half, parallelism);
  if (restart_with) run(half, in.ends.size(), restart_with);
  if (most_at_once) *most_at_once = src.s->most_at_once.load();
  std::filesystem::remove_all(dir);
  return content_of(sink, ordered);
}

// Every parallelism, with and without a restart, gives the content of the one-thread run.
template <class Make, class Mode>
void check_family(const char* name, Make make, Mode mode, bool ordered, int seeds = 2) {
  const auto dir = std::filesystem::temp_directory_path() / ("sluice_parallel_test_" + std::to_string(::getpid()));
  for (int seed = 1; seed <= seeds; ++seed) {
    const auto in = random_input(static_cast<std::uint64_t>(seed) * 104729 + std::hash<std::string>{}(name));
    const content expected = run_query(in, make, mode, 1, 0, ordered, dir);
    std::size_t rows = 0;
    for (const auto& [id, r] : expected) rows += r.size();
    CHECK(rows > 0);  // the family emits something to compare
    for (const auto& [p, restart] : {std::pair<std::size_t, std::size_t>{2, 0}, {4, 0}, {2, 4}, {4, 1}, {1, 2}}) {
      INFO(name << ", mode " << sl::to_string(Mode::value) << ", seed " << seed << ", parallelism " << p
                << (restart ? ", restarted with " + std::to_string(restart) : std::string()));
      const content got = run_query(in, make, mode, p, restart, ordered, dir);
      if (got != expected) FAIL("expected:\n" << describe(expected) << "got:\n" << describe(got));
    }
  }
}

// A keyed stateful operator: every parallelism and number of state partitions (1, 3, 8), with
// and without a restart, gives the content of the one-thread run with one state partition.
template <class Make, class Mode>
void check_keyed_family(const char* name, Make make, Mode mode, int seeds = 2) {
  const auto dir = std::filesystem::temp_directory_path() / ("sluice_parallel_test_" + std::to_string(::getpid()));
  for (int seed = 1; seed <= seeds; ++seed) {
    const auto in = random_input(static_cast<std::uint64_t>(seed) * 7919 + std::hash<std::string>{}(name));
    const content expected = run_query(in, make, mode, 1, 0, false, dir, nullptr, 1);
    std::size_t rows = 0;
    for (const auto& [id, r] : expected) rows += r.size();
    CHECK(rows > 0);
    for (const std::size_t shuffle : {1, 3, 8})
      for (const auto& [p, restart] : {std::pair<std::size_t, std::size_t>{1, 0}, {2, 0}, {4, 0}, {2, 4}, {4, 1}}) {
        INFO(name << ", mode " << sl::to_string(Mode::value) << ", seed " << seed << ", shuffle_partitions " << shuffle
                  << ", parallelism " << p << (restart ? ", restarted with " + std::to_string(restart) : std::string()));
        const content got = run_query(in, make, mode, p, restart, false, dir, nullptr, shuffle);
        if (got != expected) FAIL("expected:\n" << describe(expected) << "got:\n" << describe(got));
      }
  }
}

auto windowed = [](split_source src) {
  return std::move(src) | sl::with_watermark(sl::col<"ts">, 5s) |
         sl::group_by(sl::window(sl::col<"ts">, 10s, 5s), sl::col<"key">) |
         sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"v">).as<"total">(), sl::max(sl::col<"v">).as<"top">());
};
}  // namespace parallel_test

using namespace parallel_test;
using sluice::operator|;

TEST_CASE("parallel: stateless stages give the rows of one thread, in the same order", "[parallel]") {
  auto make = [](split_source src) {
    return std::move(src) | sl::filter([](const Ev& e) { return e.v % 7 != 0; }) |
           sl::map([](const Ev& e) { return Ev{e.key, e.ts, e.v * 2}; }) |
           sl::flat_map([](const Ev& e) { return std::vector<Ev>(static_cast<std::size_t>(e.key % 3), e); }) |
           sl::with_watermark(sl::col<"ts">, 5s) | sl::expect("small", [](const Ev& e) { return e.v < 150; });
  };
  check_family("stateless", make, sl::output_mode::append, true);
}

TEST_CASE("parallel: the partitions of a batch are read at once", "[parallel]") {
  const auto in = random_input(42);
  const auto dir = std::filesystem::temp_directory_path() / ("sluice_parallel_test_at_once_" + std::to_string(::getpid()));
  int most = 0;
  run_query(in, [](split_source src) { return src; }, sl::output_mode::append, 4, 0, true, dir, &most);
  CHECK(most >= 2);
  run_query(in, [](split_source src) { return src; }, sl::output_mode::append, 1, 0, true, dir, &most);
  CHECK(most == 1);
}

TEST_CASE("parallel: windowed aggregation, every output mode", "[parallel]") {
  check_family("window", windowed, sl::output_mode::append, false);
  check_family("window", windowed, sl::output_mode::update, false);
  check_family("window", windowed, sl::output_mode::complete, false);
}

TEST_CASE("parallel: keyed aggregation without a watermark", "[parallel]") {
  auto make = [](split_source src) {
    return std::move(src) | sl::group_by(sl::col<"key">) |
           sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"v">).as<"total">(), sl::avg(sl::col<"v">).as<"mean">());
  };
  check_family("keyed", make, sl::output_mode::update, false);
  check_family("keyed", make, sl::output_mode::complete, false);
}

TEST_CASE("parallel: session windows", "[parallel]") {
  auto make = [](split_source src) {
    return std::move(src) | sl::with_watermark(sl::col<"ts">, 5s) |
           sl::group_by(sl::col<"key">, sl::session_window(sl::col<"ts">, 3s)) |
           sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"v">).as<"total">());
  };
  check_family("session", make, sl::output_mode::append, false);
  check_family("session", make, sl::output_mode::complete, false);
}

TEST_CASE("parallel: session windows, however many state partitions", "[parallel][shuffle]") {
  // first() and last() see a session's rows in the order one thread gives.
  auto make = [](split_source src) {
    return std::move(src) | sl::with_watermark(sl::col<"ts">, 5s) |
           sl::group_by(sl::col<"key">, sl::session_window(sl::col<"ts">, 3s)) |
           sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"v">).as<"total">(), sl::first(sl::col<"v">).as<"head">(),
                         sl::last(sl::col<"v">).as<"tail">());
  };
  check_keyed_family("session", make, sl::output_mode::append);
  check_keyed_family("session", make, sl::output_mode::complete);
}

TEST_CASE("parallel: deduplication", "[parallel]") {
  auto make = [](split_source src) {
    return std::move(src) | sl::with_watermark(sl::col<"ts">, 5s) | sl::drop_duplicates(sl::col<"key">, sl::col<"ts">);
  };
  check_family("dedup", make, sl::output_mode::append, false);
  auto within = [](split_source src) {
    return std::move(src) | sl::with_watermark(sl::col<"ts">, 5s) | sl::drop_duplicates_within_watermark(sl::col<"key">);
  };
  check_family("dedup within watermark", within, sl::output_mode::append, false);
}

namespace parallel_test {
struct Running {
  std::int64_t count = 0, total = 0;
};
BOOST_DESCRIBE_STRUCT(Running, (), (count, total))
struct KeyTotal {
  std::int64_t key = 0;
  std::int64_t count = 0, total = 0, first = 0;
};
BOOST_DESCRIBE_STRUCT(KeyTotal, (), (key, count, total, first))
// `first`: the value of the group's first row in the batch, which depends on the rows' order.
std::vector<KeyTotal> running_total(const std::int64_t& key, std::span<const Ev> values, sl::group_state<Running>& state) {
  Running r = state.get_option().value_or(Running{});
  for (const auto& e : values) {
    ++r.count;
    r.total += e.v;
  }
  state.update(r);
  return {{key, r.count, r.total, values.empty() ? 0 : values.front().v}};
}
}  // namespace parallel_test

TEST_CASE("parallel: arbitrary keyed state sees the rows in the order of one thread", "[parallel]") {
  auto make = [](split_source src) {
    return std::move(src) | sl::group_by_key(sl::col<"key">) |
           sl::flat_map_groups_with_state<Running>(running_total, sl::output_mode::update);
  };
  check_family("group state", make, sl::output_mode::update, false);
}

namespace parallel_test {
// Emits a key's tally when the watermark passes 2 s after its latest row (an event-time timeout).
std::vector<KeyTotal> tally_until_timeout(const std::int64_t& key, std::span<const Ev> values,
                                          sl::group_state<Running>& state) {
  if (state.has_timed_out()) {
    const Running r = state.get();
    state.remove();
    return {{key, r.count, r.total, -1}};
  }
  Running r = state.get_option().value_or(Running{});
  std::int64_t latest = 0;
  for (const auto& e : values) {
    ++r.count;
    r.total = r.total * 3 + e.v;  // depends on the rows' order
    latest = std::max(latest, e.ts.micros);
  }
  state.update(r);
  state.set_timeout_timestamp(sl::timestamp{latest}, 2s);
  return {};
}
}  // namespace parallel_test

TEST_CASE("parallel: arbitrary keyed state, however many state partitions", "[parallel][shuffle]") {
  auto make = [](split_source src) {
    return std::move(src) | sl::group_by_key(sl::col<"key">) |
           sl::flat_map_groups_with_state<Running>(running_total, sl::output_mode::update);
  };
  check_keyed_family("group state", make, sl::output_mode::update);
  auto timed = [](split_source src) {
    return std::move(src) | sl::with_watermark(sl::col<"ts">, 5s) | sl::group_by_key(sl::col<"key">) |
           sl::flat_map_groups_with_state<Running>(tally_until_timeout, sl::output_mode::append,
                                                   sl::group_state_timeout::event_time);
  };
  check_keyed_family("group state with timeouts", timed, sl::output_mode::append);
}

namespace parallel_test {
// A running tally per key in a value state and the rows' values in a list state; an event-time
// timer 2 s after the key's latest row emits the tally (the values weighted by their place:
// their order shows) and clears the key.
struct TallyProcessor {
  sl::value_state<Running> tally;
  sl::list_state<std::int64_t> values;
  sl::processor_handle* handle = nullptr;
  void init(sl::processor_handle& h) {
    tally = h.get_value_state<Running>("tally");
    values = h.get_list_state<std::int64_t>("values");
    handle = &h;
  }
  std::vector<KeyTotal> handle_input_rows(const std::int64_t& key, std::span<const Ev> rows, const sl::timer_values&) {
    Running r = tally.get_option().value_or(Running{});
    std::int64_t latest = 0;
    for (const auto& e : rows) {
      ++r.count;
      r.total += e.v;
      latest = std::max(latest, e.ts.micros);
      values.append_value(e.v);
    }
    tally.update(r);
    for (auto t : handle->list_timers()) handle->delete_timer(t);
    handle->register_timer(latest / 1000 + 2000);
    return {{key, r.count, r.total, rows.front().v}};
  }
  std::vector<KeyTotal> handle_expired_timer(const std::int64_t& key, const sl::timer_values&,
                                             const sl::expired_timer_info&) {
    const Running r = tally.get();
    std::int64_t weighted = 0, i = 0;
    for (auto v : values.get()) weighted += ++i * v;
    tally.clear();
    values.clear();
    return {{key, r.count, r.total, weighted}};
  }
};
}  // namespace parallel_test

TEST_CASE("parallel: transform_with_state, however many state partitions", "[parallel][shuffle]") {
  auto make = [](split_source src) {
    return std::move(src) | sl::with_watermark(sl::col<"ts">, 5s) | sl::group_by_key(sl::col<"key">) |
           sl::transform_with_state(TallyProcessor{}, sl::time_mode::event_time, sl::output_mode::append);
  };
  check_keyed_family("transform_with_state", make, sl::output_mode::append);
}

TEST_CASE("parallel: a union reads the partitions of all its inputs", "[parallel]") {
  auto make = [](split_source src) {
    auto doubled = src | sl::map([](const Ev& e) { return Ev{e.key + 10, e.ts, e.v}; });
    return sl::union_all(src, std::move(doubled)) | sl::with_watermark(sl::col<"ts">, 5s) |
           sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"key">) | sl::aggregate(sl::count().as<"n">());
  };
  check_family("union", make, sl::output_mode::update, false);
  auto plain = [](split_source src) { return sl::union_all(src, src | sl::filter([](const Ev& e) { return e.key > 2; })); };
  check_family("union, stateless", plain, sl::output_mode::append, true);
}

namespace parallel_test {
struct JL {
  std::int64_t lk = 0;
  sl::timestamp lt;
  std::int64_t lv = 0;
};
BOOST_DESCRIBE_STRUCT(JL, (), (lk, lt, lv))
struct JR {
  std::int64_t rk = 0;
  sl::timestamp rt;
  std::int64_t rv = 0;
};
BOOST_DESCRIBE_STRUCT(JR, (), (rk, rt, rv))
// The two sides of a stream-stream join from one source (even and odd values), each side's
// input partitions read at once; joined on the key within 3 s, both sides watermarked.
template <sl::join_type JT>
auto stream_join(split_source src) {
  auto left = src | sl::filter([](const Ev& e) { return e.v % 2 == 0; }) |
              sl::map([](const Ev& e) { return JL{e.key, e.ts, e.v}; }) | sl::with_watermark(sl::col<"lt">, 5s);
  auto right = std::move(src) | sl::filter([](const Ev& e) { return e.v % 2 != 0; }) |
               sl::map([](const Ev& e) { return JR{e.key, e.ts, e.v}; }) | sl::with_watermark(sl::col<"rt">, 5s);
  auto range = sl::time_range(sl::col<"lt">, sl::col<"rt">, -3s, 3s);
  if constexpr (JT == sl::join_type::inner) return std::move(left) | sl::join(std::move(right), sl::col<"lk">, sl::col<"rk">, range);
  else if constexpr (JT == sl::join_type::left_outer)
    return std::move(left) | sl::left_join(std::move(right), sl::col<"lk">, sl::col<"rk">, range);
  else if constexpr (JT == sl::join_type::right_outer)
    return std::move(left) | sl::right_join(std::move(right), sl::col<"lk">, sl::col<"rk">, range);
  else if constexpr (JT == sl::join_type::full_outer)
    return std::move(left) | sl::full_join(std::move(right), sl::col<"lk">, sl::col<"rk">, range);
  else return std::move(left) | sl::left_semi_join(std::move(right), sl::col<"lk">, sl::col<"rk">, range);
}
}  // namespace parallel_test

TEST_CASE("parallel: stream-stream joins", "[parallel][stream_join]") {
  check_family("join inner", stream_join<sl::join_type::inner>, sl::output_mode::append, false);
  check_family("join left outer", stream_join<sl::join_type::left_outer>, sl::output_mode::append, false);
  check_family("join right outer", stream_join<sl::join_type::right_outer>, sl::output_mode::append, false);
  check_family("join full outer", stream_join<sl::join_type::full_outer>, sl::output_mode::append, false);
  check_family("join left semi", stream_join<sl::join_type::left_semi>, sl::output_mode::append, false);
}

TEST_CASE("parallel: chained stateful operators", "[parallel]") {
  auto make = [](split_source src) {
    return std::move(src) | sl::with_watermark(sl::col<"ts">, 5s) | sl::drop_duplicates(sl::col<"key">, sl::col<"ts">) |
           sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"key">) | sl::aggregate(sl::count().as<"n">());
  };
  check_family("chained", make, sl::output_mode::append, false);
}

TEST_CASE("parallel: an error in a partition fails the batch, and the batch runs again after a restart",
          "[parallel]") {
  const auto in = random_input(7);
  const auto dir = std::filesystem::temp_directory_path() / ("sluice_parallel_test_error_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  split_source src;
  src.s->rows = in.rows;
  auto fail_on = std::make_shared<std::atomic<bool>>(true);
  auto make = [&] {
    return src | sl::map([fail_on](const Ev& e) {
             if (*fail_on && e.v == 99) throw std::runtime_error("row with v 99");
             return e;
           });
  };
  sl::memory_sink<Ev> sink;
  {
    auto q = sl::start(make() | sink, sl::output_mode::append, {.checkpoint = (dir / "ck").string(), .parallelism = 2});
    {
      std::lock_guard lock(src.s->mutex);
      src.s->available = static_cast<std::int64_t>(in.rows.size());
    }
    REQUIRE_THROWS_WITH(q.process_all_available(), Catch::Contains("row with v 99"));
  }
  REQUIRE(std::count_if(in.rows.begin(), in.rows.end(), [](const Ev& e) { return e.v == 99; }) > 0);
  CHECK(sink.rows().empty());
  *fail_on = false;
  auto q = sl::start(make() | sink, sl::output_mode::append, {.checkpoint = (dir / "ck").string(), .parallelism = 2});
  q.process_all_available();
  q.stop();
  const auto rows = sink.rows();
  REQUIRE(rows.size() == in.rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) CHECK(rows[i].v == in.rows[i].v);
  std::filesystem::remove_all(dir);
}

TEST_CASE("worker_pool: every task once, the first exception, nested loops in turn", "[parallel]") {
  sl::worker_pool pool(3);
  REQUIRE(pool.workers() == 3);
  sl::batch_context ctx;
  ctx.tasks = &pool;
  for (int round = 0; round < 50; ++round) {
    std::vector<std::atomic<int>> runs(97);
    std::set<std::thread::id> threads;
    std::mutex m;
    sl::parallel_for(ctx, runs.size(), [&](std::size_t i) {
      ++runs[i];
      std::lock_guard lock(m);
      threads.insert(std::this_thread::get_id());
    });
    for (auto& r : runs) REQUIRE(r.load() == 1);
  }
  std::atomic<int> ran{0};
  REQUIRE_THROWS_WITH(sl::parallel_for(ctx, 40,
                                       [&](std::size_t i) {
                                         ++ran;
                                         if (i == 3) throw std::runtime_error("task 3");
                                       }),
                      "task 3");
  CHECK(ran.load() <= 40);
  // Nested: the inner loops run in turn on the thread of the outer task.
  std::vector<std::atomic<int>> cells(8 * 8);
  sl::parallel_for(ctx, 8, [&](std::size_t i) {
    const auto outer = std::this_thread::get_id();
    sl::parallel_for(ctx, 8, [&](std::size_t j) {
      CHECK(std::this_thread::get_id() == outer);
      ++cells[i * 8 + j];
    });
  });
  for (auto& c : cells) CHECK(c.load() == 1);
  // The pool is usable after an exception.
  std::atomic<int> after{0};
  sl::parallel_for(ctx, 10, [&](std::size_t) { ++after; });
  CHECK(after.load() == 10);
}

TEST_CASE("worker_pool: the calling thread takes tasks, workers join jobs back to back and after sleeping",
          "[parallel]") {
  sl::worker_pool pool(2);
  sl::batch_context ctx;
  ctx.tasks = &pool;
  // Two tasks that each wait for the other: they end only when the caller runs one and the
  // worker the other, at once.
  auto both_at_once = [&] {
    std::atomic<int> arrived{0};
    std::set<std::thread::id> threads;
    std::mutex m;
    sl::parallel_for(ctx, 2, [&](std::size_t) {
      {
        std::lock_guard lock(m);
        threads.insert(std::this_thread::get_id());
      }
      ++arrived;
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (arrived.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    });
    return arrived.load() == 2 && threads.size() == 2 && threads.contains(std::this_thread::get_id());
  };
  // Jobs back to back: the worker joins the next one while it still spins.
  for (int round = 0; round < 200; ++round) REQUIRE(both_at_once());
  // After a pause far longer than the spin: the worker sleeps and is woken.
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(20ms);
    REQUIRE(both_at_once());
  }
}

namespace parallel_test {
// A state in 8 partitions whose files say which partition wrote them; writing one waits (a
// little) for another to be under way, to see them written at once.
struct partitioned_state final : sl::stored_state {
  std::vector<std::int64_t> values = std::vector<std::int64_t>(8);
  mutable std::atomic<int> writing{0}, most_at_once{0};
  mutable std::mutex mutex;
  mutable std::set<std::thread::id> threads;
  std::size_t state_partitions() const override { return values.size(); }
  void reset_partitions(std::size_t n) override { values.assign(n, -1); }
  void write_partition_delta(std::size_t p, sl::binary_writer& out) const override {
    {
      std::lock_guard lock(mutex);
      threads.insert(std::this_thread::get_id());
    }
    const int now = ++writing;
    for (int seen = most_at_once.load(); now > seen && !most_at_once.compare_exchange_weak(seen, now);) {
    }
    const auto until = std::chrono::steady_clock::now() + 50ms;
    while (most_at_once.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    out.write(values[p]);
    --writing;
  }
  void apply_partition_delta(std::size_t p, sl::binary_reader& in) override { in.read(values[p]); }
  void load_partition_snapshot(std::size_t p, sl::binary_reader& in) override {
    (void)in.read_size(1);  // the empty state's marker
    values[p] = 0;
  }
  // Unused (partitioned).
  void write_delta(sl::binary_writer&) const override {}
  void write_snapshot(sl::binary_writer&) const override {}
  void load_snapshot(sl::binary_reader&) override {}
  void apply_delta(sl::binary_reader&) override {}
};
}  // namespace parallel_test

TEST_CASE("parallel: a state's partitions are written at once on the workers, as one thread writes them",
          "[parallel]") {
  namespace fs = std::filesystem;
  const auto root = fs::temp_directory_path() / ("sluice_parallel_test_state_" + std::to_string(::getpid()));
  fs::remove_all(root);
  const sl::checkpoint_dir in_turn(root / "in_turn", "q"), at_once(root / "at_once", "q");
  sl::worker_pool pool(2);
  sl::batch_context ctx;
  ctx.tasks = &pool;
  const sl::detail::for_each_partition on_workers = [&](std::size_t n, const std::function<void(std::size_t)>& f) {
    sl::parallel_for(ctx, n, f);
  };
  parallel_test::partitioned_state st;
  for (std::size_t p = 0; p < st.values.size(); ++p) st.values[p] = 100 + static_cast<std::int64_t>(p);
  const auto fsyncs = sl::fsync_count();
  sl::detail::save_state(in_turn, 0, 0, st, /*snapshot_interval=*/0);
  const auto fsyncs_in_turn = sl::fsync_count() - fsyncs;
  CHECK(fsyncs_in_turn >= st.values.size());  // one per file at least
  CHECK(st.most_at_once.load() == 1);
  CHECK(st.threads.size() == 1);
  st.threads.clear();
  sl::detail::save_state(at_once, 0, 0, st, /*snapshot_interval=*/0, on_workers);
  CHECK(st.most_at_once.load() == 2);
  CHECK(st.threads.size() == 2);
  CHECK(sl::fsync_count() - fsyncs - fsyncs_in_turn == fsyncs_in_turn);
  for (std::size_t p = 0; p < st.values.size(); ++p) {
    INFO("partition " << p);
    const auto name = fs::path(std::to_string(p)) / "0.delta";
    CHECK(sl::read_whole_file(root / "at_once" / "state" / "0" / name) ==
          sl::read_whole_file(root / "in_turn" / "state" / "0" / name));
  }
  parallel_test::partitioned_state restored;
  sl::detail::load_state(at_once, 0, 0, restored);
  CHECK(restored.values == st.values);
  fs::remove_all(root);
}

namespace parallel_test {
// A stateful stage that takes several partitions at once (graph/node.hpp, parallel_accept):
// per-partition counts merged in close_batch, emitted by finish. It records how many
// partitions were being accepted at once, and checks each local stays on its thread.
struct KeyCount {
  std::int64_t key = 0, n = 0;
};
BOOST_DESCRIBE_STRUCT(KeyCount, (), (key, n))
struct count_keys_stage {
  static constexpr sl::stage_kind kind = sl::stage_kind::stateful;
  static constexpr bool parallel_accept = true;
  using output_row = KeyCount;
  static constexpr sl::graph_props transform(sl::graph_props p) { return p; }
  struct shared {
    std::mutex mutex;
    std::map<std::int64_t, std::int64_t> counts;  // this batch's
    std::atomic<int> open{0}, most_open{0}, wrong_thread{0}, opened{0};
  };
  std::shared_ptr<shared> s = std::make_shared<shared>();
  struct local {
    std::map<std::int64_t, std::int64_t> counts;
    std::thread::id owner = std::this_thread::get_id();
  };
  local open_batch(const sl::batch_context&) {
    ++s->opened;
    const int now = ++s->open;
    for (int seen = s->most_open.load(); now > seen && !s->most_open.compare_exchange_weak(seen, now);) {
    }
    return {};
  }
  void accept(sl::batch_context&, const Ev& e, local& l) {
    if (l.owner != std::this_thread::get_id()) ++s->wrong_thread;
    ++l.counts[e.key];
  }
  void close_batch(local& l) {
    if (l.owner != std::this_thread::get_id()) ++s->wrong_thread;
    std::this_thread::sleep_for(2ms);  // partitions still open meanwhile show in most_open
    std::lock_guard lock(s->mutex);
    for (const auto& [k, n] : l.counts) s->counts[k] += n;
    --s->open;
  }
  template <class Down>
  void finish(sl::batch_context&, Down& down) {
    for (const auto& [k, n] : s->counts) down(KeyCount{k, n});
    s->counts.clear();
  }
};
struct count_keys {
  using is_stage_descriptor = void;
  std::shared_ptr<count_keys_stage::shared> s;
  template <class In>
  count_keys_stage bind() && {
    return {s};
  }
};
}  // namespace parallel_test

TEST_CASE("parallel: a stage with parallel_accept takes partitions at once, each on one thread", "[parallel]") {
  const auto in = random_input(11);
  std::map<std::int64_t, std::int64_t> expected;
  for (const auto& e : in.rows) ++expected[e.key];
  for (const std::size_t p : {1, 4}) {
    INFO("parallelism " << p);
    split_source src;
    src.s->rows = in.rows;
    auto shared = std::make_shared<count_keys_stage::shared>();
    sl::memory_sink<KeyCount> sink;
    auto q = sl::start(src | count_keys{shared} | sink, sl::output_mode::append, {.parallelism = p});
    for (const auto end : in.ends) make_available(src, q, end);
    q.stop();
    std::map<std::int64_t, std::int64_t> got;
    for (const auto& r : sink.rows()) got[r.key] += r.n;
    CHECK(got == expected);
    CHECK(shared->wrong_thread.load() == 0);
    CHECK(shared->open.load() == 0);
    if (p == 1) CHECK(shared->most_open.load() == 1);
    else CHECK(shared->most_open.load() >= 2);
    CHECK(shared->opened.load() >= static_cast<int>(in.ends.size()));  // at least once a batch
  }
}

TEST_CASE("parallel: sl::current_timestamp() on the workers is the batch's", "[parallel]") {
  const auto in = random_input(5);
  split_source src;
  src.s->rows = in.rows;
  sl::memory_sink<Ev> sink;
  auto q = sl::start(src | sl::map([](const Ev& e) { return Ev{e.key, sl::current_timestamp(), e.v}; }) | sink,
                     sl::output_mode::append, {.parallelism = 4});
  for (const auto end : in.ends) make_available(src, q, end);
  q.stop();
  REQUIRE(!q.exception());
  std::map<std::int64_t, sl::timestamp> batch_time;
  for (const auto& p : q.recent_progress()) batch_time[p.batch_id] = p.timestamp;
  std::size_t rows = 0;
  for (const auto& b : sink.batches()) {
    REQUIRE(batch_time.contains(b.batch_id));
    for (const auto& r : b.rows) CHECK(r.ts == batch_time[b.batch_id]);
    rows += b.rows.size();
  }
  CHECK(rows == in.rows.size());
}

TEST_CASE("parallel: expectations count every partition, dead letters in the order of one thread", "[parallel]") {
  const auto in = random_input(9);
  std::vector<Ev> failing;
  std::int64_t passing = 0;
  for (const auto& e : in.rows) {
    if (e.v % 5 == 0) failing.push_back(e);
    else ++passing;
  }
  REQUIRE(failing.size() > 20);
  for (const std::size_t p : {1, 4}) {
    INFO("parallelism " << p);
    split_source src;
    src.s->rows = in.rows;
    src.s->slow = true;
    sl::memory_sink<Ev> sink, dead;
    auto q = sl::start(
        src | sl::expect_or_drop("not five", [](const Ev& e) { return e.v % 5 != 0; }).dead_letter(dead) | sink,
        sl::output_mode::append, {.parallelism = p});
    for (const auto end : in.ends) make_available(src, q, end);
    q.stop();
    std::int64_t passed = 0, failed = 0;
    for (const auto& pr : q.recent_progress())
      for (const auto& m : pr.expectations) {
        passed += m.passed_records;
        failed += m.failed_records;
      }
    CHECK(passed == passing);
    CHECK(failed == static_cast<std::int64_t>(failing.size()));
    const auto dl = dead.rows();
    REQUIRE(dl.size() == failing.size());
    for (std::size_t i = 0; i < dl.size(); ++i) CHECK((dl[i].ts == failing[i].ts && dl[i].v == failing[i].v));
    CHECK(sink.rows().size() == static_cast<std::size_t>(passing));
  }
}

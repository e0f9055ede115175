// Property test: a windowed count/sum aggregation over random out-of-order input, fed in random
// batches through memory_stream, equals a straightforward reference computation of Spark's
// semantics, in append, update and complete mode, for tumbling and sliding windows, grouped by
// (window, key) and by the window alone (where the engine sums runs of rows in one window
// before it touches the group table).
//
// The reference: the watermark batch N uses is max(event time in batches < N) - delay, never
// decreasing, 0 at first. In a batch a (row, window) pair is late, and dropped, when the window
// end is <= that watermark (except in complete mode). After the last batch the engine runs a
// no-data batch with the final watermark.
//   append    the output is every window with end <= the watermark, once, with its final value
//   update    each batch emits the groups its non-late rows touched, with their running value;
//             groups with end <= watermark leave the state
//   complete  each batch emits the aggregate of everything so far
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace property_test {
struct Reading {
  std::int64_t key = 0;
  sl::timestamp ts;
  std::int64_t v = 0;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (key, ts, v))

constexpr std::int64_t S = 1'000'000;

struct window_config {
  const char* name;
  std::int64_t length, slide, offset;  // microseconds
};

// (window start, window end, key)
using group_key = std::tuple<std::int64_t, std::int64_t, std::int64_t>;
struct value {
  std::int64_t n = 0, total = 0;
  friend bool operator==(const value&, const value&) = default;
};
using result = std::map<group_key, value>;

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// The windows [k * slide + offset, + length) containing t, by enumeration.
std::vector<std::pair<std::int64_t, std::int64_t>> windows_of(const window_config& w, std::int64_t t) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (std::int64_t k = floor_div(t - w.offset - w.length, w.slide); k <= floor_div(t - w.offset, w.slide); ++k) {
    const std::int64_t start = k * w.slide + w.offset;
    if (start <= t && t < start + w.length) out.emplace_back(start, start + w.length);
  }
  return out;
}

// The input: random batches of out-of-order events (some very late), some batches empty.
// Event times are whole seconds or quarter seconds, so boundary cases (end == watermark) occur.
std::vector<std::vector<Reading>> random_batches(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
  const int rows = static_cast<int>(uniform(200, 450));
  std::vector<Reading> events;
  std::int64_t clock = 100 * S + uniform(0, S);
  const std::int64_t grain = seed % 2 == 0 ? S : 250'000;
  for (int i = 0; i < rows; ++i) {
    clock += uniform(0, 600'000);  // about 0.3 s per event on average
    std::int64_t t = clock + uniform(-20 * S, 3 * S);
    if (uniform(0, 19) == 0) t -= uniform(20 * S, 60 * S);  // now and then, very late
    t -= t % grain;  // on a grid, so window ends often equal the watermark exactly
    events.push_back({uniform(0, 2), sl::timestamp{std::max<std::int64_t>(t, 1)}, uniform(-50, 100)});
  }
  std::vector<std::vector<Reading>> batches;
  for (std::size_t i = 0; i < events.size();) {
    const auto n = static_cast<std::size_t>(uniform(0, 5) == 0 ? 0 : uniform(1, 40));
    const auto end = std::min(events.size(), i + n);
    batches.emplace_back(events.begin() + static_cast<std::ptrdiff_t>(i), events.begin() + static_cast<std::ptrdiff_t>(end));
    i = end;
  }
  return batches;
}

// Spark's semantics, batch by batch.
struct reference {
  window_config w;
  std::int64_t delay;
  bool complete;
  std::int64_t watermark = 0;  // the one the next batch uses
  std::optional<std::int64_t> max_seen;
  result groups;               // non-late rows (all rows in complete mode)
  std::int64_t dropped = 0;    // late (row, window) pairs

  // Runs one batch; returns the groups its non-late rows touched.
  std::set<group_key> add_batch(const std::vector<Reading>& batch) {
    std::set<group_key> touched;
    for (const auto& r : batch) {
      for (const auto& [start, end] : windows_of(w, r.ts.micros)) {
        if (!complete && end <= watermark) {
          ++dropped;
          continue;
        }
        auto& g = groups[{start, end, r.key}];
        ++g.n;
        g.total += r.v;
        touched.insert({start, end, r.key});
      }
      max_seen = std::max(max_seen.value_or(r.ts.micros), r.ts.micros);
    }
    if (max_seen) watermark = std::max(watermark, *max_seen - delay);
    return touched;
  }
  result closed() const {  // groups whose window end <= the watermark
    result out;
    for (const auto& [k, v] : groups)
      if (std::get<1>(k) <= watermark) out.emplace(k, v);
    return out;
  }
  std::int64_t open_groups() const { return static_cast<std::int64_t>(groups.size() - closed().size()); }
};

template <class Row>
group_key key_of(const Row& r) {
  const auto& w = sl::get<"window">(r);
  if constexpr (sl::has_column<Row, "key">) return {w.start.micros, w.end.micros, sl::get<"key">(r)};
  else return {w.start.micros, w.end.micros, 0};
}
template <class Row>
value value_of(const Row& r) {
  return {sl::get<"n">(r), sl::get<"total">(r)};
}

std::string describe(const result& r) {
  std::string s;
  for (const auto& [k, v] : r)
    s += "  [" + std::to_string(std::get<0>(k)) + ", " + std::to_string(std::get<1>(k)) + ") key " +
         std::to_string(std::get<2>(k)) + ": n=" + std::to_string(v.n) + " total=" + std::to_string(v.total) + "\n";
  return s;
}

template <bool WindowOnly, class Input>
auto windowed_counts(Input& input, const window_config& wc, std::int64_t delay) {
  auto watermarked = input | sl::with_watermark(sl::col<"ts">, sl::duration{delay});
  auto aggregates = sl::aggregate(sl::count().template as<"n">(), sl::sum(sl::col<"v">).template as<"total">());
  if constexpr (WindowOnly) {
    if (wc.length == wc.slide && wc.offset == 0)  // the tumbling overload: a window that cannot slide
      return std::move(watermarked) | sl::group_by(sl::window(sl::col<"ts">, sl::duration{wc.length})) |
             std::move(aggregates);
    throw std::logic_error("window-only cases are tumbling");
  } else {
    return std::move(watermarked) |
           sl::group_by(sl::window(sl::col<"ts">, sl::duration{wc.length}, sl::duration{wc.slide},
                                   sl::duration{wc.offset}),
                        sl::col<"key">) |
           std::move(aggregates);
  }
}

template <class Mode, bool WindowOnly = false>
void run_case(std::uint64_t seed, const window_config& wc, std::int64_t delay, Mode mode) {
  constexpr sl::output_mode_kind kind = Mode::value;
  auto batches = random_batches(seed);
  if constexpr (WindowOnly)
    for (auto& batch : batches)
      for (auto& r : batch) r.key = 0;
  reference ref{wc, delay, kind == sl::output_mode_kind::complete, 0, std::nullopt, {}, 0};

  sl::memory_stream<Reading> input;
  auto plan = windowed_counts<WindowOnly>(input, wc, delay);
  using Row = decltype(plan)::row_type;
  sl::memory_sink<Row> sink;
  auto q = sl::start(std::move(plan) | sink, mode, {.progress_retention = 1'000'000});

  result emitted;  // append: all output; update: last value per group
  std::size_t seen_batches = 0;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    INFO("seed " << seed << ", windows " << wc.name << (WindowOnly ? " alone" : "") << ", delay " << delay / S
                 << " s, mode " << sl::to_string(kind) << ", input batch " << b << " of " << batches.size());
    const auto touched = ref.add_batch(batches[b]);
    input.add_data(batches[b]);
    q.process_all_available();
    REQUIRE(q.current_watermark() == ref.watermark);

    const auto sink_batches = sink.batches();
    if constexpr (kind == sl::output_mode_kind::append) {
      for (std::size_t i = seen_batches; i < sink_batches.size(); ++i)
        for (const auto& r : sink_batches[i].rows) {
          INFO("emitted twice: " << describe(result{{key_of(r), value_of(r)}}));
          REQUIRE(emitted.emplace(key_of(r), value_of(r)).second);
        }
      seen_batches = sink_batches.size();
      const auto expected = ref.closed();
      INFO("emitted:\n" << describe(emitted) << "expected:\n" << describe(expected));
      REQUIRE(emitted == expected);
    } else if constexpr (kind == sl::output_mode_kind::update) {
      result this_batch;
      for (std::size_t i = seen_batches; i < sink_batches.size(); ++i)
        for (const auto& r : sink_batches[i].rows) {
          INFO("emitted twice in one batch: " << describe(result{{key_of(r), value_of(r)}}));
          REQUIRE(this_batch.emplace(key_of(r), value_of(r)).second);
        }
      seen_batches = sink_batches.size();
      result expected;
      for (const auto& k : touched) expected.emplace(k, ref.groups.at(k));
      INFO("emitted:\n" << describe(this_batch) << "expected:\n" << describe(expected));
      REQUIRE(this_batch == expected);
      for (const auto& [k, v] : this_batch) emitted[k] = v;
      const auto p = q.last_progress();
      REQUIRE(p);
      REQUIRE(p->state_operators.size() == 1);
      CHECK(p->state_operators[0].num_rows_total == ref.open_groups());
    } else {
      INFO("complete output:\n" << describe(emitted) << "expected:\n" << describe(ref.groups));
      emitted.clear();
      for (const auto& r : sink.last_batch_rows()) REQUIRE(emitted.emplace(key_of(r), value_of(r)).second);
      REQUIRE(emitted == ref.groups);
    }
  }
  q.stop();

  INFO("seed " << seed << ", windows " << wc.name << (WindowOnly ? " alone" : "") << ", delay " << delay / S
               << " s, mode " << sl::to_string(kind) << ", at the end");
  if constexpr (kind == sl::output_mode_kind::append) {
    CHECK(emitted == ref.closed());
  } else if constexpr (kind == sl::output_mode_kind::update) {
    // The last value emitted for every group, evicted or not, is the reference's.
    CHECK(emitted == ref.groups);
    // State holds exactly the groups whose window has not closed.
    const auto p = q.last_progress();
    REQUIRE(p);
    CHECK(p->state_operators.at(0).num_rows_total == ref.open_groups());
  } else {
    CHECK(emitted == ref.groups);
  }
  std::int64_t dropped = 0;
  for (const auto& p : q.recent_progress())
    for (const auto& s : p.state_operators) dropped += s.num_rows_dropped_by_watermark;
  CHECK(dropped == ref.dropped);
  if (kind != sl::output_mode_kind::complete) CHECK(ref.dropped > 0);  // the input does exercise lateness
}

const window_config windows[] = {
    {"tumbling 10 s", 10 * S, 10 * S, 0},
    {"sliding 10 s every 5 s", 10 * S, 5 * S, 0},
    {"sliding 15 s every 4 s, offset 1 s", 15 * S, 4 * S, 1 * S},
};
const std::uint64_t seeds[] = {1, 2, 3, 20240115};
}  // namespace property_test

using namespace property_test;

TEST_CASE("property: windowed aggregation in append mode equals the reference", "[property][aggregate]") {
  for (const auto& w : windows)
    for (auto seed : seeds) run_case(seed, w, static_cast<std::int64_t>(seed % 3) * 5 * S, sl::output_mode::append);
}

TEST_CASE("property: windowed aggregation in update mode equals the reference", "[property][aggregate]") {
  for (const auto& w : windows)
    for (auto seed : seeds) run_case(seed, w, static_cast<std::int64_t>((seed + 1) % 3) * 5 * S, sl::output_mode::update);
}

TEST_CASE("property: windowed aggregation in complete mode aggregates everything", "[property][aggregate]") {
  for (const auto& w : windows)
    for (auto seed : seeds) run_case(seed, w, 10 * S, sl::output_mode::complete);
}

TEST_CASE("property: aggregation by a tumbling window alone equals the reference in every mode",
          "[property][aggregate]") {
  const auto& tumbling = windows[0];
  for (auto seed : seeds) {
    run_case<decltype(sl::output_mode::append), true>(seed, tumbling, static_cast<std::int64_t>(seed % 3) * 5 * S, sl::output_mode::append);
    run_case<decltype(sl::output_mode::update), true>(seed, tumbling, static_cast<std::int64_t>((seed + 1) % 3) * 5 * S,
                                              sl::output_mode::update);
    run_case<decltype(sl::output_mode::complete), true>(seed, tumbling, 10 * S, sl::output_mode::complete);
  }
}

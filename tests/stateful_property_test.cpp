// Property tests, checked batch by batch: drop_duplicates on keys without the event-time column
// (with a watermark, and without one), session windows (a fixed and a per-row gap; append and
// complete mode: update is a compile error for sessions, as in Spark) and transform_with_state
// (a value state and event-time timers). Random out-of-order input (some rows late), random
// batch contents, random restarts from the checkpoint; each reference is written from Spark's
// rules: a batch evicts (and fires timers) by the watermark it runs with, the one computed from
// the batches before it; it drops as late the rows at or before the watermark the batch before
// it ran with (Spark's late-events watermark). After a batch that moved the watermark a no-data
// batch runs with the new one when the operator asks for it (Spark's shouldRunAnotherBatch:
// dedup, append-mode sessions and transform_with_state do; complete mode does not), so a data
// batch after it drops by its own watermark. After every unit of data (its batch and any
// no-data batch) the output so far must equal the reference's; in complete mode the last
// batch's table must.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "semantics_support.hpp"
#include "stateful_property_support.hpp"

using namespace sem;

namespace stateful_property {
constexpr std::int64_t S = 1'000'000;

// Runs `batches` units of data through make()'s query in `mode`, restarting it from the
// checkpoint now and then; after each unit, check(outputs) compares with the reference.
template <class Mode, class Make, class NextBatch, class Check>
void run_checked(std::mt19937& rng, const std::string& name, Mode mode, int batches, Make make,
                 NextBatch next_batch, Check check) {
  const auto dir = std::filesystem::temp_directory_path() / ("sluice-" + name + "-" + sl::detail::random_uuid());
  const sl::query_options opts{.checkpoint = (dir / "ck").string(), .state_snapshot_interval = 3};
  auto start = [&] { return sl::start(make(), mode, opts); };
  auto q = std::make_unique<sl::streaming_query>(start());
  for (int b = 0; b < batches; ++b) {
    INFO(name << ": unit of data " << b);
    next_batch(b);
    q->process_all_available();
    check();
    if (rng() % 4 == 0) {
      q->stop();
      q = std::make_unique<sl::streaming_query>(start());
    }
  }
  q->stop();
  std::filesystem::remove_all(dir);
}

// Events around a slowly advancing front, 0.5 s apart at most: out of order, some late.
std::vector<Event> random_rows(std::mt19937& rng, std::int64_t& front, int keys) {
  std::vector<Event> rows(static_cast<std::size_t>(std::uniform_int_distribution<int>(1, 8)(rng)));
  for (auto& r : rows)
    r = {sl::timestamp{front + std::uniform_int_distribution<std::int64_t>(-12, 6)(rng) * S / 2},
         std::string(1, static_cast<char>('a' + rng() % static_cast<unsigned>(keys))),
         std::uniform_int_distribution<std::int64_t>(0, 7)(rng)};
  front += std::uniform_int_distribution<std::int64_t>(0, 4)(rng) * S / 2;
  return rows;
}

// ---- drop_duplicates on (key, value): the event-time column is not a key

// State kept forever; with a watermark a row at or before it is dropped (Spark filters on the
// child's event-time column whatever the keys), without one no row is late.
struct reference_dedup {
  bool watermarked;
  reference_watermark watermark;
  std::set<std::pair<std::string, std::int64_t>> seen;
  std::multiset<std::string> out;
  std::int64_t dropped = 0;

  void batch(const std::vector<Event>& rows) {
    watermark.batch(
        rows,
        [&](const Event& e) {
          if (watermarked && watermark.defined && e.timestamp.micros <= watermark.value) {
            ++dropped;
            return;
          }
          if (seen.emplace(e.key, e.value).second) out.insert(sl::to_json_string(e));
        },
        [] {});
  }
};

template <bool Watermarked>
void dedup_property(unsigned seed) {
  std::mt19937 rng(seed);
  const std::int64_t delay = 2 * S;
  sl::memory_stream<Event> in;
  batch_outputs outputs;
  auto make = [&] {
    auto sink = outputs.sink<Event>([](const Event& e) { return sl::to_json_string(e); });
    if constexpr (Watermarked)
      return in | sl::with_watermark(sl::col<"timestamp">, std::chrono::microseconds(delay)) |
             sl::drop_duplicates(sl::col<"key">, sl::col<"value">) | std::move(sink);
    else return in | sl::drop_duplicates(sl::col<"key">, sl::col<"value">) | std::move(sink);
  };
  reference_dedup ref{Watermarked, {delay}, {}, {}};
  std::int64_t front = 20 * S;
  run_checked(
      rng, "dedup-keys", sl::output_mode::append, 25, make,
      [&](int) {
        auto rows = random_rows(rng, front, 10);
        in.add_data(rows);
        ref.batch(rows);
      },
      [&] { REQUIRE(outputs.all() == ref.out); });
  INFO("seed " << seed);
  CHECK(ref.out.size() > 10);
  CHECK(ref.seen.size() < 80);  // not every key seen yet: later rows keep finding new ones
  if (Watermarked) CHECK(ref.dropped > 0);
}

// ---- session windows

// Spark's way: the rows of each key's open sessions, sorted and swept (merging while the next
// row's start <= the current end). A row whose own session ends at or before the watermark is
// late. Append emits a session once its end <= the watermark and forgets its rows; complete
// keeps every row and emits every session each batch.
struct reference_sessions {
  reference_watermark watermark;
  bool dynamic, append;
  std::map<std::string, std::vector<std::pair<std::int64_t, std::int64_t>>> rows;  // key -> (t, value)
  std::multiset<std::string> emitted;  // append: every session emitted so far
  std::int64_t dropped = 0, previous_data_batch = 0;

  std::int64_t gap(std::int64_t value) const { return dynamic ? (value % 4 - 1) * S : 3 * S; }

  // Every session: (text, end), for the rows held now; append drops the closed ones' rows.
  std::multiset<std::string> sweep(bool evict) {
    std::multiset<std::string> sessions;
    for (auto& [k, rs] : rows) {
      std::sort(rs.begin(), rs.end());
      std::vector<std::pair<std::int64_t, std::int64_t>> keep, current;
      std::int64_t start = 0, end = 0, n = 0, sum = 0;
      auto close = [&] {
        if (n == 0) return;
        const std::string text = k + "|" + std::to_string(start) + "|" + std::to_string(end) + "|" +
                                 std::to_string(n) + "|" + std::to_string(sum);
        if (evict && end <= watermark.value) emitted.insert(text);
        else keep.insert(keep.end(), current.begin(), current.end());
        sessions.insert(text);
        current.clear();
        n = sum = 0;
      };
      for (const auto& [t, v] : rs) {
        if (n > 0 && t > end) close();
        if (n == 0) start = t, end = t + gap(v);
        else end = std::max(end, t + gap(v));
        ++n;
        sum += v;
        current.emplace_back(t, v);
      }
      close();
      rs = std::move(keep);
    }
    return sessions;
  }
  void batch(const std::vector<Event>& in) {
    // The late-events watermark is the one the previous batch ran with: in append mode the
    // no-data batch's, i.e. this batch's; complete mode runs no no-data batch, so the watermark
    // the previous data batch ran with (Spark's SessionWindowStateStoreSaveExec
    // .shouldRunAnotherBatch is for append and update only).
    const std::int64_t late = append ? watermark.value : previous_data_batch;
    previous_data_batch = watermark.value;
    watermark.batch(
        in,
        [&](const Event& e) {
          if (gap(e.value) <= 0) return;  // no session
          if (e.timestamp.micros + gap(e.value) <= late) {
            ++dropped;
            return;
          }
          rows[e.key].emplace_back(e.timestamp.micros, e.value);
        },
        [&] {
          if (append) sweep(true);
        });
  }
};

template <bool Dynamic, bool Append>
void session_property(unsigned seed) {
  std::mt19937 rng(seed);
  const std::int64_t delay = 2 * S;
  sl::memory_stream<Event> in;
  batch_outputs outputs;
  auto make = [&] {
    auto window = [] {
      if constexpr (Dynamic)
        return sl::session_window(sl::col<"timestamp">,
                                  [](const Event& e) { return std::chrono::seconds(e.value % 4 - 1); });
      else return sl::session_window(sl::col<"timestamp">, 3s);
    }();
    auto q = in | sl::with_watermark(sl::col<"timestamp">, std::chrono::microseconds(delay)) |
             sl::group_by(sl::col<"key">, window) | sl::aggregate(sl::count(), sl::sum(sl::col<"value">));
    using R = typename decltype(q)::row_type;
    return std::move(q) | outputs.sink<R>([](const R& r) {
             return sl::get<"key">(r) + "|" + std::to_string(sl::get<"session_window">(r).start.micros) + "|" +
                    std::to_string(sl::get<"session_window">(r).end.micros) + "|" + std::to_string(sl::get<"count">(r)) +
                    "|" + std::to_string(sl::get<"sum(value)">(r));
           });
  };
  reference_sessions ref{{delay}, Dynamic, Append, {}, {}};
  std::int64_t front = 20 * S;
  std::size_t most = 0;
  auto mode = [] {
    if constexpr (Append) return sl::output_mode::append;
    else return sl::output_mode::complete;
  }();
  run_checked(
      rng, "sessions", mode, 25, make,
      [&](int b) {
        auto rows = random_rows(rng, front, 3);
        if (b == 24) rows.push_back({sl::timestamp{front + 100 * S}, "z", 2});  // closes every other session
        in.add_data(rows);
        ref.batch(rows);
      },
      [&] {
        if constexpr (Append) {
          REQUIRE(outputs.all() == ref.emitted);
        } else {
          // The last batch's table is every session (a data batch per unit: complete mode asks
          // for no no-data batch, and one would repeat the table).
          std::lock_guard lock(outputs.m);
          REQUIRE(!outputs.batches.empty());
          const auto& last = outputs.batches.rbegin()->second;
          const auto expected = ref.sweep(false);
          REQUIRE(std::multiset<std::string>(last.begin(), last.end()) == expected);
          most = std::max(most, expected.size());
        }
      });
  INFO("seed " << seed);
  CHECK(ref.dropped > 0);
  if constexpr (Append) CHECK(ref.emitted.size() > 3);
  else CHECK(most > 3);
}

// ---- transform_with_state: a value state and event-time timers

struct Seen {
  std::int64_t count = 0;
  std::int64_t max_ms = 0;
};
BOOST_DESCRIBE_STRUCT(Seen, (), (count, max_ms))
struct Line {
  std::string text;
};
BOOST_DESCRIBE_STRUCT(Line, (), (text))

constexpr std::int64_t timer_gap_ms = 4000;

// Per key: rows seen and their latest event time; one timer at latest + 4 s, moved on new
// rows; when it fires the key reports and forgets its state. Each line names the watermark
// the handler was given.
struct Tracker {
  sl::value_state<Seen> seen;
  sl::processor_handle* handle = nullptr;
  void init(sl::processor_handle& h) {
    seen = h.get_value_state<Seen>("seen");
    handle = &h;
  }
  std::vector<Line> handle_input_rows(const std::string& key, std::span<const Event> rows, const sl::timer_values& t) {
    Seen s = seen.get_option().value_or(Seen{});
    for (const auto& r : rows) {
      ++s.count;
      s.max_ms = std::max(s.max_ms, r.timestamp.micros / 1000);
    }
    seen.update(s);
    for (auto timer : handle->list_timers()) handle->delete_timer(timer);
    handle->register_timer(s.max_ms + timer_gap_ms);
    return {{key + " rows " + std::to_string(s.count) + " max " + std::to_string(s.max_ms) + " wm " +
             std::to_string(t.get_current_watermark_ms())}};
  }
  std::vector<Line> handle_expired_timer(const std::string& key, const sl::timer_values& t,
                                         const sl::expired_timer_info& info) {
    const Seen s = seen.get_option().value_or(Seen{});
    seen.clear();
    return {{key + " expired " + std::to_string(info.get_expiry_time_ms()) + " rows " + std::to_string(s.count) +
             " wm " + std::to_string(t.get_current_watermark_ms())}};
  }
};

// Spark's TransformWithStateExec: a batch drops rows at or before its late-events watermark,
// calls each key with rows, then fires every timer < its eviction watermark (one at a time, the
// key's state as the handlers left it). With a no-data batch after every move of the watermark,
// a data batch's late-events and eviction watermarks are the same.
struct reference_tws {
  reference_watermark watermark;
  std::map<std::string, Seen> state;
  std::map<std::string, std::int64_t> timer;  // key -> expiry (ms)
  std::multiset<std::string> out;
  std::int64_t dropped = 0, fired = 0;

  void fire() {
    const std::int64_t wm_ms = watermark.value / 1000;
    for (auto it = timer.begin(); it != timer.end();) {
      if (it->second < wm_ms) {
        const Seen s = state[it->first];
        state.erase(it->first);
        out.insert(it->first + " expired " + std::to_string(it->second) + " rows " + std::to_string(s.count) + " wm " +
                   std::to_string(wm_ms));
        ++fired;
        it = timer.erase(it);
      } else {
        ++it;
      }
    }
  }
  void batch(const std::vector<Event>& rows) {
    std::map<std::string, std::vector<Event>> by_key;
    std::int64_t max_t = 0;
    for (const auto& e : rows) {
      max_t = std::max(max_t, e.timestamp.micros);
      if (watermark.defined && e.timestamp.micros <= watermark.value) {
        ++dropped;
        continue;
      }
      by_key[e.key].push_back(e);
    }
    for (const auto& [k, es] : by_key) {  // the data batch: its input first, then its timers
      Seen& s = state[k];
      for (const auto& e : es) ++s.count, s.max_ms = std::max(s.max_ms, e.timestamp.micros / 1000);
      timer[k] = s.max_ms + timer_gap_ms;
      out.insert(k + " rows " + std::to_string(s.count) + " max " + std::to_string(s.max_ms) + " wm " +
                 std::to_string(watermark.value / 1000));
    }
    fire();
    if (max_t - watermark.delay > watermark.value) {  // the no-data batch with the new watermark
      watermark.value = max_t - watermark.delay;
      fire();
    }
    watermark.defined = true;
  }
};

void tws_property(unsigned seed) {
  std::mt19937 rng(seed);
  const std::int64_t delay = 2 * S;
  sl::memory_stream<Event> in;
  batch_outputs outputs;
  auto make = [&] {
    return in | sl::with_watermark(sl::col<"timestamp">, std::chrono::microseconds(delay)) |
           sl::group_by_key(sl::col<"key">) |
           sl::transform_with_state(Tracker{}, sl::time_mode::event_time, sl::output_mode::update) |
           outputs.sink<Line>([](const Line& l) { return l.text; });
  };
  reference_tws ref{{delay}, {}, {}, {}};
  std::int64_t front = 20 * S;
  run_checked(
      rng, "tws", sl::output_mode::update, 25, make,
      [&](int) {
        auto rows = random_rows(rng, front, 8);
        in.add_data(rows);
        ref.batch(rows);
      },
      [&] { REQUIRE(outputs.all() == ref.out); });
  INFO("seed " << seed);
  CHECK(ref.dropped > 0);
  CHECK(ref.fired >= 3);
}
}  // namespace stateful_property

TEST_CASE("property: drop_duplicates on keys without the event-time column, batch by batch across restarts",
          "[property][dedup]") {
  for (unsigned seed = 1; seed <= 3; ++seed) {
    stateful_property::dedup_property<true>(seed);
    stateful_property::dedup_property<false>(seed);
  }
}

TEST_CASE("property: session windows in append mode (fixed and per-row gap) batch by batch across restarts",
          "[property][session]") {
  for (unsigned seed = 1; seed <= 3; ++seed) {
    stateful_property::session_property<false, true>(seed);
    stateful_property::session_property<true, true>(seed);
  }
}

TEST_CASE("property: session windows in complete mode (fixed and per-row gap) batch by batch across restarts",
          "[property][session]") {
  for (unsigned seed = 1; seed <= 3; ++seed) {
    stateful_property::session_property<false, false>(seed);
    stateful_property::session_property<true, false>(seed);
  }
}

TEST_CASE("property: transform_with_state with a value state and event-time timers, batch by batch across restarts",
          "[property][transform_with_state]") {
  for (unsigned seed = 1; seed <= 5; ++seed) stateful_property::tws_property(seed);
}

// Arbitrary keyed state: sl::group_by_key | sl::[flat_]map_groups_with_state, after Spark's
// FlatMapGroupsWithStateSuite (its streaming cases, case by case: running counts with
// removal and restarts, an aggregation after the operator, processing-time timeouts on a
// manual clock, event-time timeouts with a watermark) and its GroupState rules.
#include <catch2/catch.hpp>

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
struct RunningCount {
  std::int64_t count = 0;
};
BOOST_DESCRIBE_STRUCT(RunningCount, (), (count))

struct KeyText {
  std::string key;
  std::string value;
};
BOOST_DESCRIBE_STRUCT(KeyText, (), (key, value))

struct KeyNumber {
  std::string key;
  std::int64_t value = 0;
};
BOOST_DESCRIBE_STRUCT(KeyNumber, (), (key, value))

std::vector<Event> keys(std::initializer_list<const char*> ks) {
  std::vector<Event> out;
  for (const char* k : ks) out.push_back(ev(1s, k));
  return out;
}

// Spark's state function of "flatMapGroupsWithState - streaming": a running count up to 2;
// at 3 the state is removed and nothing is returned.
std::vector<KeyText> count_to_two(const std::string& key, std::span<const Event> values,
                                  sl::group_state<RunningCount>& state) {
  if (state.get_current_processing_time_ms() < 0) throw std::logic_error("no processing time");
  bool watermark_refused = false;
  try {
    (void)state.get_current_watermark_ms();
  } catch (const std::logic_error&) {
    watermark_refused = true;
  }
  if (!watermark_refused) throw std::logic_error("a watermark without with_watermark");
  const std::int64_t count = (state.exists() ? state.get().count : 0) + static_cast<std::int64_t>(values.size());
  if (count == 3) {
    state.remove();
    return {};
  }
  state.update({count});
  return {{key, std::to_string(count)}};
}

// Spark's function of "mapGroupsWithState - streaming" (and "streaming + aggregation"): a running
// count up to 2; at 3 the state is removed and -1 returned.
KeyText count_or_minus_one(const std::string& key, std::span<const Event> values, sl::group_state<RunningCount>& state) {
  const std::int64_t count = state.get_option().value_or(RunningCount{}).count + static_cast<std::int64_t>(values.size());
  if (count == 3) {
    state.remove();
    return {key, "-1"};
  }
  state.update({count});
  return {key, std::to_string(count)};
}
}  // namespace

TEST_CASE("flat_map_groups_with_state: running counts, removal and restarts (Spark: flatMapGroupsWithState - streaming)",
          "[group_state]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::group_by_key(sl::col<"key">) |
           sl::flat_map_groups_with_state<RunningCount>(count_to_two, sl::output_mode::update);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, keys({"a"})),
                                  st::check_new_answer(KeyText{"a", "1"}),
                                  st::assert_state_rows(1, 1),
                                  st::add_data(in, keys({"a", "b"})),
                                  st::check_new_answer(KeyText{"a", "2"}, KeyText{"b", "1"}),
                                  st::assert_state_rows(2, 2),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in, keys({"a", "b"})),  // removes a's state, returns nothing for a
                                  st::check_new_answer(KeyText{"b", "2"}),
                                  st::assert_state_rows(1, 2),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in, keys({"a", "c"})),  // a starts again at 1
                                  st::check_new_answer(KeyText{"a", "1"}, KeyText{"c", "1"}),
                                  st::assert_state_rows(3, 2)));
}

TEST_CASE("map_groups_with_state: one row per key and call, removal and restarts (Spark: mapGroupsWithState - streaming)",
          "[group_state]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::group_by_key(sl::col<"key">) | sl::map_groups_with_state<RunningCount>(count_or_minus_one);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, keys({"a"})),
                                  st::check_new_answer(KeyText{"a", "1"}),
                                  st::assert_state_rows(1, 1),
                                  st::add_data(in, keys({"a", "b"})),
                                  st::check_new_answer(KeyText{"a", "2"}, KeyText{"b", "1"}),
                                  st::assert_state_rows(2, 2),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in, keys({"a", "b"})),
                                  st::check_new_answer(KeyText{"a", "-1"}, KeyText{"b", "2"}),
                                  st::assert_state_rows(1, 2),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in, keys({"a", "c"})),
                                  st::check_new_answer(KeyText{"a", "1"}, KeyText{"c", "1"}),
                                  st::assert_state_rows(3, 2)));
}

TEST_CASE("flat_map_groups_with_state: values in arrival order, several key columns, the emit form",
          "[group_state]") {
  auto in = sl::memory_stream<Event>();
  // Key (key, value): f sees each group's rows in the order they arrived.
  auto f = [](const std::tuple<std::string, std::int64_t>& key, std::span<const Event> values,
              sl::group_state<RunningCount>& state, auto& emit) {
    std::string order;
    for (const auto& e : values) order += std::to_string(e.timestamp.micros / 1'000'000) + ",";
    state.update({state.get_option().value_or(RunningCount{}).count + 1});
    emit(KeyText{std::get<0>(key) + "/" + std::to_string(std::get<1>(key)), order + "#" + std::to_string(state.get().count)});
  };
  auto q = in | sl::group_by_key(sl::col<"key">, sl::col<"value">) |
           sl::flat_map_groups_with_state<RunningCount, KeyText>(f, sl::output_mode::append);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::append,
                                  st::add_data(in, {ev(3s, "a", 1), ev(1s, "b", 1), ev(2s, "a", 1), ev(5s, "a", 2)}),
                                  st::check_new_answer(KeyText{"a/1", "3,2,#1"}, KeyText{"b/1", "1,#1"},
                                                       KeyText{"a/2", "5,#1"}),
                                  st::add_data(in, {ev(9s, "a", 1)}),
                                  st::check_new_answer(KeyText{"a/1", "9,#2"}),
                                  st::assert_state_rows(3, 1)));
}

TEST_CASE("flat_map_groups_with_state in append mode with an aggregation after it (Spark: streaming + aggregation)",
          "[group_state]") {
  auto in = sl::memory_stream<Event>();
  auto f = [](const std::string& key, std::span<const Event> values, sl::group_state<RunningCount>& state) {
    return std::vector<KeyText>{count_or_minus_one(key, values, state)};
  };
  using R = sl::row<sl::field<"key", std::string>, sl::field<"count", std::int64_t>>;
  auto q = in | sl::group_by_key(sl::col<"key">) |
           sl::flat_map_groups_with_state<RunningCount>(f, sl::output_mode::append) |
           sl::group_by(sl::col<"key">) | sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::complete,
                                  st::add_data(in, keys({"a"})),
                                  st::check_new_answer(R{{"a"}, {1}}),
                                  st::add_data(in, keys({"a", "b"})),
                                  st::check_new_answer(R{{"a"}, {2}}, R{{"b"}, {1}}),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in, keys({"a", "b"})),
                                  st::check_new_answer(R{{"a"}, {3}}, R{{"b"}, {2}}),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in, keys({"a", "c"})),
                                  st::check_new_answer(R{{"a"}, {4}}, R{{"b"}, {2}}, R{{"c"}, {1}})));
}

TEST_CASE("group_state: its rules within the function (Spark's GroupState tests)", "[group_state]") {
  // Checked from inside f, where a group_state exists: what each call may and may not do.
  auto in = sl::memory_stream<Event>();
  std::vector<std::string> seen;
  auto f = [&seen](const std::string& key, std::span<const Event>, sl::group_state<RunningCount>& state) {
    auto refused = [](auto&& action) {
      try {
        action();
      } catch (const std::logic_error&) {
        return true;
      }
      return false;
    };
    if (state.exists()) {
      seen.push_back(key + ": exists " + std::to_string(state.get().count));
    } else {
      bool missing = false;
      try {
        (void)state.get();
      } catch (const sl::group_state_missing&) {
        missing = true;
      }
      seen.push_back(key + (missing ? ": get refused" : ": get accepted"));
    }
    // A timeout without a timeout kind is refused (Spark: UnsupportedOperationException).
    if (!refused([&] { state.set_timeout_duration(1s); })) seen.push_back("duration accepted");
    if (!refused([&] { state.set_timeout_timestamp(st::ts(10s)); })) seen.push_back("timestamp accepted");
    state.update({7});
    state.remove();
    state.remove();  // may be called again
    if (state.exists() || state.get_option()) seen.push_back("exists after remove");
    state.update({state.exists() ? 0 : 4});
    return KeyText{key, std::to_string(state.get().count)};
  };
  auto q = in | sl::group_by_key(sl::col<"key">) | sl::map_groups_with_state<RunningCount>(f);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, keys({"a"})),
                                  st::check_new_answer(KeyText{"a", "4"}),
                                  st::add_data(in, keys({"a"})),
                                  st::check_new_answer(KeyText{"a", "4"})));
  CHECK(seen == std::vector<std::string>{"a: get refused", "a: exists 4"});
}

TEST_CASE("group_state: an exception in f fails the query, and the batch runs again from its state on restart",
          "[group_state]") {
  auto in = sl::memory_stream<Event>();
  auto fail = std::make_shared<bool>(false);
  auto f = [fail](const std::string& key, std::span<const Event> values, sl::group_state<RunningCount>& state) {
    const std::int64_t count = state.get_option().value_or(RunningCount{}).count + static_cast<std::int64_t>(values.size());
    state.update({count});
    if (*fail) throw std::runtime_error("expected failure");
    return KeyText{key, std::to_string(count)};
  };
  auto q = in | sl::group_by_key(sl::col<"key">) | sl::map_groups_with_state<RunningCount>(f);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, keys({"a"})),
                                  st::check_new_answer(KeyText{"a", "1"}),
                                  st::assert_on_query([fail](sl::streaming_query&) { return *fail = true; }),
                                  st::add_data(in, keys({"a", "a"})),
                                  st::expect_failure<std::runtime_error>("expected failure"),
                                  st::assert_on_query([fail](sl::streaming_query&) { return !(*fail = false); }),
                                  st::start_stream(),
                                  st::check_new_answer(KeyText{"a", "3"})));  // not 5: the failed run is undone
}

namespace {
// Spark's state function of "streaming with processing time timeout": a count with a 10 s
// timeout; a timed-out key is removed and reported as -1.
std::vector<KeyText> count_with_timeout(const std::string& key, std::span<const Event> values,
                                        sl::group_state<RunningCount>& state) {
  if (state.has_timed_out()) {
    if (!values.empty()) throw std::logic_error("a timed-out call with values");
    state.remove();
    return {{key, "-1"}};
  }
  const std::int64_t count = state.get_option().value_or(RunningCount{}).count + static_cast<std::int64_t>(values.size());
  state.update({count});
  state.set_timeout_duration(10s);
  return {{key, std::to_string(count)}};
}
}  // namespace

TEST_CASE("flat_map_groups_with_state: processing-time timeouts on the batch timestamp, across a restart "
          "(Spark: streaming with processing time timeout)",
          "[group_state]") {
  auto in = sl::memory_stream<Event>();
  st::manual_clock clock;
  sl::query_options options;
  options.clock = clock;
  auto q = in | sl::group_by_key(sl::col<"key">) |
           sl::flat_map_groups_with_state<RunningCount>(count_with_timeout, sl::output_mode::update,
                                                        sl::group_state_timeout::processing_time);
  // Spark's test adds data, then moves its trigger clock; here a batch takes the clock's time
  // when planned, so the clock moves first.
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::start_stream(options),
                                  st::advance_clock(clock, 1s),
                                  st::add_data(in, keys({"a"})),  // a times out after 11 s
                                  st::check_new_answer(KeyText{"a", "1"}),
                                  st::assert_state_rows(1, 1),
                                  st::advance_clock(clock, 1s),
                                  st::add_data(in, keys({"b"})),  // b after 12 s
                                  st::check_new_answer(KeyText{"b", "1"}),
                                  st::assert_state_rows(2, 1),
                                  st::advance_clock(clock, 9s),  // 11 s: not past a's timeout
                                  st::process_all_available(),
                                  st::check_new_answer(),
                                  st::advance_clock(clock, 1s),  // 12 s
                                  st::add_data(in, keys({"b"})),  // b now after 22 s
                                  st::check_new_answer(KeyText{"a", "-1"}, KeyText{"b", "2"}),
                                  st::assert_state_rows(1),
                                  st::stop_stream(), st::start_stream(options),
                                  st::advance_clock(clock, 11s),  // 23 s
                                  st::add_data(in, keys({"c"})),  // c after 33 s
                                  st::check_new_answer(KeyText{"b", "-1"}, KeyText{"c", "1"}),
                                  st::assert_state_rows(1),
                                  st::advance_clock(clock, 12s),  // 35 s: a batch without data times c out
                                  st::check_new_answer(KeyText{"c", "-1"}),
                                  st::assert_state_rows(0),
                                  st::assert_on_query([](sl::streaming_query& query) {
                                    return query.last_progress()->timestamp == st::ts(35s);
                                  }, "the timeout ran in a batch at 35 s")));
}

TEST_CASE("group_state: a timeout is cleared by every call and must be set again, and remove() with a timeout keeps it",
          "[group_state]") {
  auto in = sl::memory_stream<Event>();
  st::manual_clock clock;
  sl::query_options options;
  options.clock = clock;
  // "t": sets a 5 s timeout; "n": sets none; "r": removes the state but sets a 5 s timeout.
  auto f = [](const std::string& key, std::span<const Event> values, sl::group_state<RunningCount>& state) {
    if (state.has_timed_out())
      return KeyText{key, std::string("timed out, exists=") + (state.exists() ? "1" : "0") +
                              (state.timeout_timestamp() ? " with timeout" : "")};
    const std::string mode = values.back().value == 0 ? "t" : values.back().value == 1 ? "n" : "r";
    state.update({static_cast<std::int64_t>(values.size())});
    if (mode == "r") state.remove();
    if (mode != "n") state.set_timeout_duration(5s);
    return KeyText{key, mode};
  };
  auto kv = [](const char* k, std::int64_t v) { return ev(1s, k, v); };
  auto q = in | sl::group_by_key(sl::col<"key">) | sl::map_groups_with_state<RunningCount>(f, sl::group_state_timeout::processing_time);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::start_stream(options),
                                  st::add_data(in, {kv("a", 0), kv("b", 0), kv("c", 2)}),
                                  st::check_new_answer(KeyText{"a", "t"}, KeyText{"b", "t"}, KeyText{"c", "r"}),
                                  st::assert_state_rows(3, 3),
                                  st::advance_clock(clock, 2s),
                                  st::add_data(in, {kv("b", 1)}),  // b's timeout is cleared
                                  st::check_new_answer(KeyText{"b", "n"}),
                                  st::advance_clock(clock, 4s),  // 6 s: a and c time out, b does not
                                  st::check_new_answer(KeyText{"a", "timed out, exists=1"},
                                                       KeyText{"c", "timed out, exists=0"}),
                                  st::assert_state_rows(3),  // the timed-out calls set no timeout: states stay
                                  st::advance_clock(clock, 60s),
                                  st::process_all_available(),
                                  st::check_new_answer()));
}

namespace {
struct KeyTime {
  std::string key;
  sl::timestamp time;
};
BOOST_DESCRIBE_STRUCT(KeyTime, (), (key, time))

struct MaxSeconds {
  std::int64_t seconds = 0;
};
BOOST_DESCRIBE_STRUCT(MaxSeconds, (), (seconds))

KeyTime kt(const char* key, std::int64_t seconds) { return {key, st::ts(std::chrono::seconds(seconds))}; }

// Spark's state function of "streaming w/ event time timeout + watermark": the max event time
// seen, with a timeout 5 s after it; -1 when it times out.
std::vector<KeyNumber> max_with_event_timeout(const std::string& key, std::span<const KeyTime> values,
                                              sl::group_state<MaxSeconds>& state) {
  if (state.get_current_watermark_ms() < 0) throw std::logic_error("negative watermark");
  if (state.has_timed_out()) {
    state.remove();
    return {{key, -1}};
  }
  std::int64_t max = state.get_option().value_or(MaxSeconds{}).seconds;
  for (const auto& v : values) max = std::max(max, v.time.micros / 1'000'000);
  state.update({max});
  state.set_timeout_timestamp(st::ts(std::chrono::seconds(max + 5)));
  return {{key, max}};
}
}  // namespace

TEST_CASE("flat_map_groups_with_state: event-time timeouts fire when the watermark passes them, late rows are "
          "dropped (Spark: streaming w/ event time timeout + watermark)",
          "[group_state]") {
  auto in = sl::memory_stream<KeyTime>();
  auto q = in | sl::with_watermark(sl::col<"time">, 10s) | sl::group_by_key(sl::col<"key">) |
           sl::flat_map_groups_with_state<MaxSeconds>(max_with_event_timeout, sl::output_mode::update,
                                                      sl::group_state_timeout::event_time);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, {kt("a", 11), kt("a", 13), kt("a", 15)}),
                                  // max 15, timeout 20, watermark 5
                                  st::check_new_answer(KeyNumber{"a", 15}),
                                  st::add_data(in, {kt("a", 4)}),  // older than the watermark: dropped
                                  st::check_new_answer(),
                                  st::assert_dropped(1),
                                  st::add_data(in, {kt("a", 10)}),  // newer than the watermark
                                  st::check_new_answer(KeyNumber{"a", 15}),
                                  st::stop_stream(), st::start_stream(),  // a's timeout (20 s) survives
                                  st::add_data(in, {kt("b", 31)}),  // watermark 21 after this batch
                                  // Spark's batch runs with the new watermark at once (its test has
                                  // the no-data batch merge in); here a no-data batch times a out.
                                  st::check_new_answer(KeyNumber{"a", -1}, KeyNumber{"b", 31}),
                                  st::assert_state_rows(1)));
}

TEST_CASE("group_state: an event-time timeout before the watermark is refused", "[group_state]") {
  auto in = sl::memory_stream<KeyTime>();
  auto f = [](const std::string& key, std::span<const KeyTime>, sl::group_state<MaxSeconds>& state) {
    const std::int64_t wm = state.get_current_watermark_ms();
    if (state.has_timed_out()) return KeyText{key, "timed out"};
    if (wm == 0) return KeyText{key, "no watermark yet"};
    std::string r = "accepted";
    try {
      state.set_timeout_timestamp(st::ts(std::chrono::milliseconds(wm - 1)));
    } catch (const std::invalid_argument& e) {
      r = std::string(e.what()).find("cannot be earlier than the current watermark") != std::string::npos ? "refused" : e.what();
    }
    if (r != "accepted" && state.timeout_timestamp()) r += " but set";
    state.set_timeout_timestamp(st::ts(std::chrono::milliseconds(wm)));  // equal: allowed, and fires once it passes
    return KeyText{key, r};
  };
  auto q = in | sl::with_watermark(sl::col<"time">, 0s) | sl::group_by_key(sl::col<"key">) |
           sl::map_groups_with_state<MaxSeconds>(f, sl::group_state_timeout::event_time);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, {kt("a", 10)}),
                                  st::check_new_answer(KeyText{"a", "no watermark yet"}),
                                  st::add_data(in, {kt("b", 20)}),  // runs with watermark 10 s
                                  // then watermark 20 s: b's timeout (10 s) fires in a no-data batch
                                  st::check_new_answer(KeyText{"b", "refused"}, KeyText{"b", "timed out"}),
                                  st::assert_on_query([](sl::streaming_query& query) {
                                    return query.last_progress()->state_operators.at(0).num_rows_total == 1;
                                  })));
}

namespace {
// docs/semantics.md's example ("Arbitrary keyed state").
struct Session {
  std::int64_t events = 0;
  sl::timestamp last;
};
BOOST_DESCRIBE_STRUCT(Session, (), (events, last))
struct SessionUpdate {
  std::string user;
  std::int64_t events;
  bool expired;
};
BOOST_DESCRIBE_STRUCT(SessionUpdate, (), (user, events, expired))
}  // namespace

TEST_CASE("map_groups_with_state: the semantics document's session example", "[group_state]") {
  auto in = sl::memory_stream<Event>();
  st::manual_clock clock(st::ts(1h));
  sl::query_options options;
  options.clock = clock;
  auto sessions = in | sl::group_by_key(sl::col<"key">) |
                  sl::map_groups_with_state<Session>(
                      [](const std::string& user, std::span<const Event> values, sl::group_state<Session>& state) {
                        if (state.has_timed_out()) {
                          SessionUpdate out{user, state.get().events, true};
                          state.remove();
                          return out;
                        }
                        Session s = state.get_option().value_or(Session{});
                        s.events += static_cast<std::int64_t>(values.size());
                        state.update(s);
                        state.set_timeout_duration(30min);
                        return SessionUpdate{user, s.events, false};
                      },
                      sl::group_state_timeout::processing_time);
  REQUIRE_NOTHROW(st::test_stream(std::move(sessions), sl::output_mode::update,
                                  st::start_stream(options),
                                  st::add_data(in, keys({"u1", "u1", "u2"})),
                                  st::check_new_answer(SessionUpdate{"u1", 2, false}, SessionUpdate{"u2", 1, false}),
                                  st::advance_clock(clock, 20min),
                                  st::add_data(in, keys({"u1"})),
                                  st::check_new_answer(SessionUpdate{"u1", 3, false}),
                                  st::advance_clock(clock, 20min),  // u2 idle 40 min, u1 20 min
                                  st::check_new_answer(SessionUpdate{"u2", 1, true}),
                                  st::advance_clock(clock, 20min),
                                  st::check_new_answer(SessionUpdate{"u1", 3, true}),
                                  st::assert_state_rows(0)));
}

TEST_CASE("flat_map_groups_with_state: state and timeouts restored from snapshots as from deltas", "[group_state]") {
  for (const std::int64_t interval : {1, 2, 100}) {
    INFO("state_snapshot_interval = " << interval);
    auto in = sl::memory_stream<Event>();
    st::manual_clock clock(st::ts(100s));
    sl::query_options options;
    options.clock = clock;
    options.state_snapshot_interval = interval;
    auto q = in | sl::group_by_key(sl::col<"key">) |
             sl::flat_map_groups_with_state<RunningCount>(count_with_timeout, sl::output_mode::update,
                                                          sl::group_state_timeout::processing_time);
    REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                    st::start_stream(options),
                                    st::add_data(in, keys({"a", "b", "b"})),
                                    st::check_new_answer(KeyText{"a", "1"}, KeyText{"b", "2"}),
                                    st::advance_clock(clock, 5s),
                                    st::add_data(in, keys({"b", "c"})),  // a after 110 s, b and c after 115 s
                                    st::check_new_answer(KeyText{"b", "3"}, KeyText{"c", "1"}),
                                    st::stop_stream(), st::start_stream(options),
                                    st::add_data(in, keys({"c"})),
                                    st::check_new_answer(KeyText{"c", "2"}),
                                    st::stop_stream(), st::start_stream(options),
                                    st::advance_clock(clock, 6s),  // 111 s: a times out
                                    st::check_new_answer(KeyText{"a", "-1"}),
                                    st::stop_stream(), st::start_stream(options),
                                    st::advance_clock(clock, 5s),  // 116 s: b and c
                                    st::check_new_answer(KeyText{"b", "-1"}, KeyText{"c", "-1"}),
                                    st::assert_state_rows(0)));
  }
}

TEST_CASE("group_by_key: a function of the row and a member pointer as keys (Spark's groupByKey(func))", "[group_state]") {
  auto in = sl::memory_stream<Event>();
  auto f = [](const std::tuple<std::size_t, std::int64_t>& key, std::span<const Event> values,
              sl::group_state<RunningCount>& state) {
    state.update({state.get_option().value_or(RunningCount{}).count + static_cast<std::int64_t>(values.size())});
    return KeyNumber{std::to_string(std::get<0>(key)) + "/" + std::to_string(std::get<1>(key)), state.get().count};
  };
  auto q = in | sl::group_by_key([](const Event& e) { return e.key.size(); }, &Event::value) |
           sl::map_groups_with_state<RunningCount>(f);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, {ev(1s, "a", 1), ev(1s, "bb", 1), ev(1s, "c", 1), ev(1s, "c", 2)}),
                                  st::check_new_answer(KeyNumber{"1/1", 2}, KeyNumber{"2/1", 1}, KeyNumber{"1/2", 1}),
                                  st::add_data(in, {ev(1s, "dd", 1)}),
                                  st::check_new_answer(KeyNumber{"2/1", 2})));
}

TEST_CASE("map_groups_with_state under a union, across a restart (Spark: SPARK-29438, UNION with mapGroupsWithState)",
          "[group_state]") {
  auto in1 = sl::memory_stream<KeyText>();
  auto in2 = sl::memory_stream<Event>();
  auto f = [](const std::string& key, std::span<const Event> values, sl::group_state<RunningCount>& state) {
    state.update({state.get_option().value_or(RunningCount{}).count + static_cast<std::int64_t>(values.size())});
    return KeyText{key, std::to_string(state.get().count)};
  };
  auto counted = in2 | sl::group_by_key(sl::col<"key">) | sl::map_groups_with_state<RunningCount>(f);
  REQUIRE_NOTHROW(st::test_stream(sl::union_all(in1, std::move(counted)), sl::output_mode::update,
                                  st::add_data(in1, {KeyText{"input1-a", "input1-a"}}),
                                  st::add_data(in2, keys({"input2-a"})),
                                  st::check_new_answer(KeyText{"input1-a", "input1-a"}, KeyText{"input2-a", "1"}),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in2, keys({"input2-a", "input2-b"})),
                                  st::check_new_answer(KeyText{"input2-a", "2"}, KeyText{"input2-b", "1"}),
                                  st::assert_state_rows(2)));
}

// sl::transform_with_state: Spark 4's arbitrary state API, after Spark's TransformWithStateSuite
// (running counts with a value state and restarts, processing-time timers on a manual clock,
// event-time timers by the watermark), TransformWithListStateSuite / TransformWithMapStateSuite
// (list and map state) and the TTL suites (values expire by batch time).
#include <catch2/catch.hpp>

#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
struct KeyText {
  std::string key;
  std::string value;
};
BOOST_DESCRIBE_STRUCT(KeyText, (), (key, value))

struct Count {
  std::int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(Count, (), (n))

std::vector<Event> keys(std::initializer_list<const char*> ks) {
  std::vector<Event> out;
  for (const char* k : ks) out.push_back(ev(1s, k));
  return out;
}

// The key's count with the handler's rows added.
std::int64_t counted(const sl::value_state<Count>& count, std::span<const Event> rows) {
  return count.get_option().value_or(Count{}).n + static_cast<std::int64_t>(rows.size());
}

// Spark's RunningCountStatefulProcessor: a running count per key; at 3 the state is cleared
// and nothing is returned.
struct RunningCount {
  sl::value_state<Count> count;
  void init(sl::processor_handle& h) { count = h.get_value_state<Count>("countState"); }
  std::vector<KeyText> handle_input_rows(const std::string& key, std::span<const Event> rows, const sl::timer_values&) {
    const std::int64_t n = counted(count, rows);
    if (n == 3) {
      count.clear();
      return {};
    }
    count.update({n});
    return {{key, std::to_string(n)}};
  }
};
}  // namespace

TEST_CASE("transform_with_state: running counts with a value state, across a restart (Spark: TransformWithStateSuite)",
          "[transform_with_state]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::group_by_key(sl::col<"key">) |
           sl::transform_with_state(RunningCount{}, sl::time_mode::none, sl::output_mode::update);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, keys({"a"})),
                                  st::check_new_answer(KeyText{"a", "1"}),
                                  st::add_data(in, keys({"a", "b"})),
                                  st::check_new_answer(KeyText{"a", "2"}, KeyText{"b", "1"}),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in, keys({"a", "b"})),  // a reaches 3: cleared
                                  st::check_new_answer(KeyText{"b", "2"}),
                                  st::add_data(in, keys({"a", "c"})),
                                  st::check_new_answer(KeyText{"a", "1"}, KeyText{"c", "1"}),
                                  st::assert_state_rows(3)));
}

namespace {
// Spark's RunningCountStatefulProcessorWithProcessingTimeTimer: each input moves the key's
// timer to 5 s after the batch's processing time; when it fires the state is cleared and -1
// returned.
struct CountWithTimer {
  sl::value_state<Count> count;
  sl::processor_handle* handle = nullptr;
  void init(sl::processor_handle& h) {
    count = h.get_value_state<Count>("countState");
    handle = &h;
  }
  std::vector<KeyText> handle_input_rows(const std::string& key, std::span<const Event> rows,
                                         const sl::timer_values& t) {
    for (auto timer : handle->list_timers()) handle->delete_timer(timer);
    handle->register_timer(t.get_current_processing_time_ms() + 5000);
    const std::int64_t n = counted(count, rows);
    count.update({n});
    return {{key, std::to_string(n)}};
  }
  std::vector<KeyText> handle_expired_timer(const std::string& key, const sl::timer_values&,
                                            const sl::expired_timer_info&) {
    count.clear();
    return {{key, "-1"}};
  }
};
}  // namespace

TEST_CASE("transform_with_state: processing-time timers on a manual clock (Spark: TransformWithStateSuite)",
          "[transform_with_state]") {
  auto in = sl::memory_stream<Event>();
  st::manual_clock clock(st::ts(0s));
  auto q = in | sl::group_by_key(sl::col<"key">) |
           sl::transform_with_state(CountWithTimer{}, sl::time_mode::processing_time, sl::output_mode::update);
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::update,
      st::start_stream({.clock = clock}),
      st::advance_clock(clock, 1s),
      st::add_data(in, keys({"a"})),  // at 1 s: a's timer at 6 s
      st::check_new_answer(KeyText{"a", "1"}),
      st::advance_clock(clock, 1s),
      st::add_data(in, keys({"b"})),  // at 2 s: b's timer at 7 s
      st::check_new_answer(KeyText{"b", "1"}),
      st::stop_stream(),
      st::advance_clock(clock, 10s),
      st::add_data(in, keys({"b"})),
      st::start_stream({.clock = clock}),  // at 12 s: b's input first (its timer moves to 17 s), then a's timer
      st::check_new_answer(KeyText{"b", "2"}, KeyText{"a", "-1"}),
      st::advance_clock(clock, 1s),
      st::add_data(in, keys({"c"})),  // at 13 s: c's timer at 18 s
      st::check_new_answer(KeyText{"c", "1"}),
      st::advance_clock(clock, 10s),  // at 23 s, without data: b's and c's timers
      st::check_new_answer(KeyText{"b", "-1"}, KeyText{"c", "-1"}),
      st::assert_state_rows(0)));
}

namespace {
// Event-time timers: the key's latest event time, and a timer 5 s after it that fires once the
// eviction watermark passes it.
struct LastSeen {
  sl::value_state<sl::timestamp> last;
  sl::processor_handle* handle = nullptr;
  void init(sl::processor_handle& h) {
    last = h.get_value_state<sl::timestamp>("last");
    handle = &h;
  }
  std::vector<KeyText> handle_input_rows(const std::string& key, std::span<const Event> rows, const sl::timer_values& t) {
    sl::timestamp latest = last.get_option().value_or(sl::timestamp{});
    for (const auto& r : rows) latest = std::max(latest, r.timestamp);
    last.update(latest);
    for (auto timer : handle->list_timers()) handle->delete_timer(timer);
    handle->register_timer(latest.micros / 1000 + 5000);
    return {{key, std::to_string(latest.micros / 1'000'000) + " at watermark " + std::to_string(t.get_current_watermark_ms())}};
  }
  std::vector<KeyText> handle_expired_timer(const std::string& key, const sl::timer_values& t,
                                            const sl::expired_timer_info& info) {
    last.clear();
    return {{key, "expired " + std::to_string(info.get_expiry_time_ms()) + " at watermark " +
                      std::to_string(t.get_current_watermark_ms())}};
  }
};
}  // namespace

TEST_CASE("transform_with_state: event-time timers fire by the eviction watermark, in a no-data batch",
          "[transform_with_state]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 0s) | sl::group_by_key(sl::col<"key">) |
           sl::transform_with_state(LastSeen{}, sl::time_mode::event_time, sl::output_mode::update);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, {ev(10s, "a")}),  // timer at 15 s; watermark -> 10 s
                                  st::check_new_answer(KeyText{"a", "10 at watermark 0"}),
                                  st::add_data(in, {ev(15s, "b")}),  // watermark -> 15 s: a's 15 s is not < 15 s
                                  st::check_new_answer(KeyText{"b", "15 at watermark 10000"}),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in, {ev(21s, "b")}),  // watermark -> 21 s: a's timer fires
                                  st::check_new_answer(KeyText{"b", "21 at watermark 15000"},
                                                       KeyText{"a", "expired 15000 at watermark 21000"}),
                                  st::assert_state_rows(1)));
}

TEST_CASE("transform_with_state: input rows at or before the watermark are dropped as late, in any time mode",
          "[transform_with_state]") {
  // Spark's TransformWithStateExec filters its input with the late-events watermark (the
  // previous batch's) whenever the input carries one, and counts them in numRowsDroppedByWatermark.
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 0s) | sl::group_by_key(sl::col<"key">) |
           sl::transform_with_state(RunningCount{}, sl::time_mode::none, sl::output_mode::update);
  REQUIRE_NOTHROW(st::test_stream(std::move(q), sl::output_mode::update,
                                  st::add_data(in, {ev(10s, "a")}),  // watermark -> 10 s
                                  st::check_new_answer(KeyText{"a", "1"}),
                                  st::add_data(in, {ev(20s, "c")}),  // late against batch 0's: 0 s; -> 20 s
                                  st::check_new_answer(KeyText{"c", "1"}),
                                  st::add_data(in, {ev(10s, "a"), ev(9s, "b"), ev(21s, "d")}),  // late: <= 10 s
                                  st::check_new_answer(KeyText{"d", "1"}),
                                  st::assert_num_rows_dropped_by_watermark(2),
                                  st::stop_stream(), st::start_stream(),
                                  st::add_data(in, {ev(20s, "a"), ev(22s, "a")}),  // late: <= 20 s, after the restart
                                  st::check_new_answer(KeyText{"a", "2"}),
                                  st::assert_dropped(3)));
}

namespace {
struct Item {
  std::string key;
  std::string item;
};
BOOST_DESCRIBE_STRUCT(Item, (), (key, item))

// A list of the key's items, a map item -> times seen, and a value with a 10 s TTL.
struct Basket {
  sl::list_state<std::string> items;
  sl::map_state<std::string, std::int64_t> seen;
  sl::value_state<std::string> recent;
  void init(sl::processor_handle& h) {
    items = h.get_list_state<std::string>("items");
    seen = h.get_map_state<std::string, std::int64_t>("seen");
    recent = h.get_value_state<std::string>("recent", sl::ttl(10s));
  }
  std::vector<KeyText> handle_input_rows(const std::string& key, std::span<const Item> rows, const sl::timer_values&) {
    const std::string before = recent.get_option().value_or("(expired)");
    for (const auto& r : rows) {
      items.append_value(r.item);
      seen.update_value(r.item, seen.get_value(r.item).value_or(0) + 1);
      recent.update(r.item);
    }
    std::string list, counts;
    for (const auto& i : items.get()) list += i + ";";
    for (const auto& [k, n] : seen.iterator()) counts += k + "=" + std::to_string(n) + ";";
    return {{key, list + " " + counts + " " + before}};
  }
};
}  // namespace

TEST_CASE("transform_with_state: list and map state, a TTL on batch time, restored from the checkpoint",
          "[transform_with_state]") {
  auto in = sl::memory_stream<Item>();
  st::manual_clock clock(st::ts(100s));
  auto q = in | sl::group_by_key(sl::col<"key">) |
           sl::transform_with_state(Basket{}, sl::time_mode::none, sl::output_mode::append);
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      st::start_stream({.clock = clock}),
      st::add_data(in, {{"k", "x"}, {"k", "y"}}),
      st::check_new_answer(KeyText{"k", "x;y; x=1;y=1; (expired)"}),
      st::advance_clock(clock, 5s),
      st::add_data(in, {{"k", "x"}}),  // 105 s: recent (y, from 100 s) lives until 110 s
      st::check_new_answer(KeyText{"k", "x;y;x; x=2;y=1; y"}),
      st::stop_stream(),
      st::advance_clock(clock, 10s),
      st::start_stream({.clock = clock}),
      st::add_data(in, {{"k", "z"}}),  // 115 s: recent (x, from 105 s) expired at 115 s
      st::check_new_answer(KeyText{"k", "x;y;x;z; x=2;y=1;z=1; (expired)"})));
}

TEST_CASE("transform_with_state: state variables outside a handler, and timers without a time mode, are refused",
          "[transform_with_state]") {
  sl::processor_handle h(sl::time_mode_kind::none);
  auto v = h.get_value_state<Count>("v");
  CHECK_THROWS_WITH(v.exists(), Catch::Contains("outside handle_input_rows"));
  CHECK_THROWS_WITH(h.register_timer(1), Catch::Contains("need time_mode::processing_time"));
  CHECK_THROWS_WITH(h.get_list_state<Count>("v"), Catch::Contains("exists already"));
  sl::value_state<Count> unset;
  CHECK_THROWS_WITH(unset.exists(), Catch::Contains("not initialised"));
}

namespace {
// The last progress's custom metric of the (only) stateful operator.
std::int64_t custom_metric(sl::streaming_query& q, const std::string& name) {
  const auto p = q.last_progress();
  if (!p || p->state_operators.empty()) throw std::runtime_error("no progress with a state operator");
  const auto& m = p->state_operators[0].custom_metrics;
  const auto it = m.find(name);
  if (it == m.end()) throw std::runtime_error("no custom metric " + name);
  return it->second;
}
auto metric_is(const std::string& name, std::int64_t expected) {
  return st::assert_on_query([=](sl::streaming_query& q) { return custom_metric(q, name) == expected; },
                             name + " == " + std::to_string(expected));
}
}  // namespace

TEST_CASE("transform_with_state: custom metrics count the state variables and timers (Spark: TransformWithStateSuite)",
          "[transform_with_state]") {
  SECTION("a value state, no timers; the progress JSON carries them") {
    auto in = sl::memory_stream<Event>();
    auto q = in | sl::group_by_key(sl::col<"key">) |
             sl::transform_with_state(RunningCount{}, sl::time_mode::none, sl::output_mode::update);
    REQUIRE_NOTHROW(st::test_stream(
        std::move(q), sl::output_mode::update, st::add_data(in, keys({"a"})), st::check_new_answer(KeyText{"a", "1"}),
        metric_is("numValueStateVars", 1), metric_is("numListStateVars", 0), metric_is("numRegisteredTimers", 0),
        metric_is("numDeletedStateVars", 0),
        st::assert_on_query([](sl::streaming_query& q) {
          const auto json = q.last_progress()->json();
          return json.find(R"("customMetrics":{"numDeletedStateVars":0,"numDeletedTimers":0,)") != std::string::npos;
        }, "customMetrics in the progress JSON, in name order")));
  }
  SECTION("processing-time timers: registered, deleted, expired (a fired timer counts as deleted too)") {
    auto in = sl::memory_stream<Event>();
    st::manual_clock clock(st::ts(0s));
    auto q = in | sl::group_by_key(sl::col<"key">) |
             sl::transform_with_state(CountWithTimer{}, sl::time_mode::processing_time, sl::output_mode::update);
    REQUIRE_NOTHROW(st::test_stream(
        std::move(q), sl::output_mode::update, st::start_stream({.clock = clock}), st::advance_clock(clock, 1s),
        st::add_data(in, keys({"a", "b"})),  // two timers registered, none to delete
        st::check_new_answer(KeyText{"a", "1"}, KeyText{"b", "1"}),
        metric_is("numRegisteredTimers", 2), metric_is("numDeletedTimers", 0), metric_is("numExpiredTimers", 0),
        st::advance_clock(clock, 1s),
        st::add_data(in, keys({"a"})),  // a's timer moved: one delete_timer, one register_timer
        st::check_new_answer(KeyText{"a", "2"}),
        metric_is("numRegisteredTimers", 1), metric_is("numDeletedTimers", 1),
        st::advance_clock(clock, 10s),  // both fire in a no-data batch
        st::check_new_answer(KeyText{"a", "-1"}, KeyText{"b", "-1"}),
        metric_is("numExpiredTimers", 2), metric_is("numDeletedTimers", 2), metric_is("numRegisteredTimers", 0)));
  }
  SECTION("list, map and TTL variables, and the values TTL removed") {
    auto in = sl::memory_stream<Item>();
    st::manual_clock clock(st::ts(100s));
    auto q = in | sl::group_by_key(sl::col<"key">) |
             sl::transform_with_state(Basket{}, sl::time_mode::none, sl::output_mode::append);
    REQUIRE_NOTHROW(st::test_stream(
        std::move(q), sl::output_mode::append, st::start_stream({.clock = clock}),
        st::add_data(in, {{"k", "x"}, {"j", "y"}}),
        st::check_new_answer(KeyText{"k", "x; x=1; (expired)"}, KeyText{"j", "y; y=1; (expired)"}),
        metric_is("numListStateVars", 1), metric_is("numMapStateVars", 1), metric_is("numValueStateVars", 0),
        metric_is("numValueStateWithTTLVars", 1), metric_is("numValuesRemovedDueToTTLExpiry", 0),
        st::advance_clock(clock, 20s),
        st::add_data(in, {{"k", "z"}}),  // both keys' recent values expired: removed after the batch
        st::check_new_answer(KeyText{"k", "x;z; x=1;z=1; (expired)"}),
        metric_is("numValuesRemovedDueToTTLExpiry", 1)));
  }
}

namespace {
// After Spark's TransformWithStateInitialStateSuite: CountWithTimer, whose count an initial
// state may start at another value; handle_initial_state also registers the key's timer (5 s
// after the batch time). init() and close() are counted.
struct Lifecycle {
  int inits = 0, closes = 0;
};
struct CountFromInitial : CountWithTimer {
  explicit CountFromInitial(std::shared_ptr<Lifecycle> l) : life(std::move(l)) {}
  std::shared_ptr<Lifecycle> life;
  void init(sl::processor_handle& h) {
    CountWithTimer::init(h);
    ++life->inits;
  }
  void handle_initial_state(const std::string&, const Count& c, const sl::timer_values& t) {
    count.update(c);
    handle->register_timer(t.get_current_processing_time_ms() + 5000);
  }
  void close() { ++life->closes; }
};
}  // namespace

TEST_CASE("transform_with_state: an initial state applies in the first batch only, not again after a restart "
          "(Spark: TransformWithStateInitialStateSuite)",
          "[transform_with_state]") {
  auto in = sl::memory_stream<Event>();
  st::manual_clock clock(st::ts(0s));
  auto life = std::make_shared<Lifecycle>();
  const std::vector<std::pair<std::string, Count>> initial{{"a", {10}}, {"b", {20}}};
  auto q = in | sl::group_by_key(sl::col<"key">) |
           sl::transform_with_state(CountFromInitial(life), sl::time_mode::processing_time,
                                    sl::output_mode::update, initial);
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::update, st::start_stream({.clock = clock}),
      st::add_data(in, keys({"a", "c"})),  // batch 0: a and b from the initial state first
      st::check_new_answer(KeyText{"a", "11"}, KeyText{"c", "1"}),
      st::assert_state_rows(3),
      st::stop_stream(), st::start_stream({.clock = clock}),
      st::add_data(in, keys({"a", "b"})),  // batch 1 after a restart: the initial state is not applied again
      st::check_new_answer(KeyText{"a", "12"}, KeyText{"b", "21"}),
      st::advance_clock(clock, 6s),  // every key's timer (at 5 s) fires
      st::check_new_answer(KeyText{"a", "-1"}, KeyText{"b", "-1"}, KeyText{"c", "-1"}),
      st::stop_stream(), st::start_stream({.clock = clock}),
      st::add_data(in, keys({"a"})),
      st::check_new_answer(KeyText{"a", "1"}),
      st::assert_state_rows(1)));
  // init() and close() pair up, once per state partition (a processor each) and run of the
  // query (three runs, the default 8 state partitions).
  CHECK(life->inits == 3 * 8);
  CHECK(life->closes == 3 * 8);
}

TEST_CASE("transform_with_state: two initial states for one key are refused when the query is built",
          "[transform_with_state]") {
  auto in = sl::memory_stream<Event>();
  const std::vector<std::pair<std::string, Count>> initial{{"a", {1}}, {"b", {2}}, {"a", {3}}};
  CHECK_THROWS_WITH(in | sl::group_by_key(sl::col<"key">) |
                        sl::transform_with_state(CountFromInitial(std::make_shared<Lifecycle>()),
                                                 sl::time_mode::processing_time, sl::output_mode::update, initial),
                    Catch::Contains("two entries for one key (entries 0 and 2)"));
}

namespace {
struct FailingClose : RunningCount {
  void close() { throw std::runtime_error("close failed"); }
};
}  // namespace

TEST_CASE("transform_with_state: an error in close() ends the query with it", "[transform_with_state]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::group_by_key(sl::col<"key">) |
           sl::transform_with_state(FailingClose{}, sl::time_mode::none, sl::output_mode::update);
  sl::memory_sink<KeyText> sink;
  auto running = sl::start(std::move(q) | sink, sl::output_mode::update);
  in.add_data(keys({"a"}));
  running.process_all_available();
  running.stop();
  REQUIRE(running.exception().has_value());
  CHECK_THAT(std::string(running.exception()->what()), Catch::Contains("while stopping: close failed"));
}

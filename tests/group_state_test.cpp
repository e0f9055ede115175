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
  auto f = [](const std::string& key, std::span<const Event> values, sl::group_state<RunningCount>& state) {
    const std::int64_t count = state.get_option().value_or(RunningCount{}).count + static_cast<std::int64_t>(values.size());
    if (count == 3) {
      state.remove();
      return KeyText{key, "-1"};
    }
    state.update({count});
    return KeyText{key, std::to_string(count)};
  };
  auto q = in | sl::group_by_key(sl::col<"key">) | sl::map_groups_with_state<RunningCount>(f);
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
    const std::int64_t count = state.get_option().value_or(RunningCount{}).count + static_cast<std::int64_t>(values.size());
    if (count == 3) {
      state.remove();
      return std::vector<KeyText>{{key, "-1"}};
    }
    state.update({count});
    return std::vector<KeyText>{{key, std::to_string(count)}};
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

// Session windows, after Spark's StreamingSessionWindowSuite (case by case; event times in
// seconds as the suite's casts of longs): sessions of a key merge when they overlap or touch,
// also across batches and when a new row bridges several; complete mode emits all sessions,
// append mode each once when the watermark passes its end; late rows are dropped; a dynamic
// gap (<= 0 leaves the row out); restarts from the checkpoint. The property test (a
// sort-and-sweep reference, random out-of-order input, batches and restarts, both modes) is in
// stateful_property_test.cpp.
#include <catch2/catch.hpp>

#include <filesystem>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
struct Line {  // Spark's (value, timestamp) input: words, one event per word
  std::string value;
  sl::timestamp eventTime;
};
BOOST_DESCRIBE_STRUCT(Line, (), (value, eventTime))

struct Word {
  std::string sessionId;
  sl::timestamp eventTime;
};
BOOST_DESCRIBE_STRUCT(Word, (), (sessionId, eventTime))

Line line(const char* words, std::int64_t s) { return {words, st::ts(std::chrono::seconds(s))}; }

auto words() {
  return sl::flat_map([](const Line& l) {
    std::vector<Word> out;
    std::istringstream in(l.value);
    for (std::string w; in >> w;) out.push_back({w, l.eventTime});
    return out;
  });
}

using S = sl::row<sl::field<"session_window", sl::time_window>, sl::field<"sessionId", std::string>,
                  sl::field<"numEvents", std::int64_t>>;
S s(const char* id, std::int64_t start, std::int64_t end, std::int64_t n) {
  return S{{st::win(std::chrono::seconds(start), std::chrono::seconds(end))}, {id}, {n}};
}

template <class Gap>
auto sessions(const sl::memory_stream<Line>& in, Gap gap) {
  return in | words() | sl::with_watermark(sl::col<"eventTime">, 30s) |
         sl::group_by(sl::session_window(sl::col<"eventTime">, gap), sl::col<"sessionId">) |
         sl::aggregate(sl::count().as<"numEvents">());
}
}  // namespace

TEST_CASE("session window: complete mode merges overlapping and touching sessions "
          "(Spark: complete mode - session window)",
          "[session]") {
  auto in = sl::memory_stream<Line>();
  REQUIRE_NOTHROW(st::test_stream(
      sessions(in, 10s), sl::output_mode::complete,
      st::add_data(in, {line("hello world spark streaming", 40), line("world hello structured streaming", 41)}),
      st::check_last_batch(s("hello", 40, 51, 2), s("world", 40, 51, 2), s("streaming", 40, 51, 2),
                           s("spark", 40, 50, 1), s("structured", 41, 51, 1)),
      // new sessions before the previous ones
      st::add_data(in, {line("spark streaming", 25)}),
      st::check_last_batch(s("spark", 25, 35, 1), s("streaming", 25, 35, 1), s("hello", 40, 51, 2),
                           s("world", 40, 51, 2), s("streaming", 40, 51, 2), s("spark", 40, 50, 1),
                           s("structured", 41, 51, 1)),
      // [30, 40) bridges [25, 35) and [40, 50): "spark" touches at 40, "streaming" overlaps
      st::add_data(in, {line("spark streaming", 30)}),
      st::check_last_batch(s("spark", 25, 50, 3), s("streaming", 25, 51, 4), s("hello", 40, 51, 2),
                           s("world", 40, 51, 2), s("structured", 41, 51, 1)),
      // new sessions after the previous ones
      st::add_data(in, {line("hello apache spark", 60)}),
      st::check_last_batch(s("spark", 25, 50, 3), s("streaming", 25, 51, 4), s("hello", 40, 51, 2),
                           s("world", 40, 51, 2), s("structured", 41, 51, 1), s("hello", 60, 70, 1),
                           s("apache", 60, 70, 1), s("spark", 60, 70, 1)),
      st::add_data(in, {line("structured streaming", 90)}),
      st::check_last_batch(s("spark", 25, 50, 3), s("streaming", 25, 51, 4), s("hello", 40, 51, 2),
                           s("world", 40, 51, 2), s("structured", 41, 51, 1), s("hello", 60, 70, 1),
                           s("apache", 60, 70, 1), s("spark", 60, 70, 1), s("structured", 90, 100, 1),
                           s("streaming", 90, 100, 1)),
      st::assert_on_query([](sl::streaming_query& q) {
        const auto p = q.last_progress();
        const auto& op = p->state_operators.at(0);
        return op.operator_name == "sessionWindowStateStoreSaveExec" && op.num_rows_total == 10;
      })));
}

TEST_CASE("session window: append mode emits a session once the watermark passes its end, drops late rows "
          "(Spark: append mode - session window)",
          "[session]") {
  auto in = sl::memory_stream<Line>();
  REQUIRE_NOTHROW(st::test_stream(
      sessions(in, 10s), sl::output_mode::append,
      st::add_data(in, {line("hello world spark streaming", 40), line("world hello structured streaming", 41)}),
      st::check_new_answer(),  // watermark -> 11
      st::add_data(in, {line("spark streaming", 25)}), st::check_new_answer(),
      // sessions [0, 10) end before the watermark 11: late
      st::add_data(in, {line("spark streaming", 0)}), st::check_new_answer(), st::assert_dropped(2),
      st::add_data(in, {line("spark streaming", 30)}), st::check_new_answer(), st::assert_state_rows(5, 2),
      st::add_data(in, {line("hello apache spark", 60)}),  // watermark -> 30
      st::check_new_answer(), st::assert_state_rows(8),
      st::add_data(in, {line("structured streaming", 90)}),  // watermark -> 60
      st::check_new_answer(s("spark", 25, 50, 3), s("streaming", 25, 51, 4), s("hello", 40, 51, 2),
                           s("world", 40, 51, 2), s("structured", 41, 51, 1)),
      st::assert_state_rows(5), st::assert_dropped(2)));
}

TEST_CASE("session window: a dynamic gap per row, rows with a gap <= 0 left out "
          "(Spark: SPARK-36465 dynamic gap duration, complete mode)",
          "[session]") {
  auto in = sl::memory_stream<Line>();
  auto gap = [](const Word& w) -> std::chrono::seconds {
    if (w.sessionId == "hello") return 1s;
    if (w.sessionId == "structured") return 0s;
    if (w.sessionId == "world") return -10s;
    return 10s;
  };
  REQUIRE_NOTHROW(st::test_stream(
      sessions(in, gap), sl::output_mode::complete,
      st::add_data(in, {line("hello world spark streaming", 40), line("world hello structured streaming", 41)}),
      // "hello": [40, 41) and [41, 42) touch and merge
      st::check_last_batch(s("hello", 40, 42, 2), s("streaming", 40, 51, 2), s("spark", 40, 50, 1)),
      st::add_data(in, {line("spark streaming", 25)}),
      st::check_last_batch(s("hello", 40, 42, 2), s("streaming", 40, 51, 2), s("spark", 40, 50, 1),
                           s("spark", 25, 35, 1), s("streaming", 25, 35, 1)),
      st::add_data(in, {line("spark streaming", 30)}),
      st::check_last_batch(s("hello", 40, 42, 2), s("spark", 25, 50, 3), s("streaming", 25, 51, 4)),
      st::add_data(in, {line("hello apache spark", 60)}),
      st::check_last_batch(s("hello", 40, 42, 2), s("spark", 25, 50, 3), s("streaming", 25, 51, 4),
                           s("hello", 60, 61, 1), s("apache", 60, 70, 1), s("spark", 60, 70, 1)),
      st::add_data(in, {line("structured streaming", 90)}),
      st::check_last_batch(s("hello", 40, 42, 2), s("spark", 25, 50, 3), s("streaming", 25, 51, 4),
                           s("hello", 60, 61, 1), s("apache", 60, 70, 1), s("spark", 60, 70, 1),
                           s("streaming", 90, 100, 1))));
}

TEST_CASE("session window: count, sum, avg, min and max over sessions, and a gap that just misses", "[session]") {
  auto in = sl::memory_stream<Event>();
  auto q = in | sl::with_watermark(sl::col<"timestamp">, 5s) |
           sl::group_by(sl::col<"key">, sl::session_window(sl::col<"timestamp">, 3s)) |
           sl::aggregate(sl::count(), sl::sum(sl::col<"value">), sl::avg(sl::col<"value">),
                         sl::min(sl::col<"value">), sl::max(sl::col<"value">));
  using R = decltype(q)::row_type;
  auto r = [](const char* k, std::int64_t a, std::int64_t b, std::int64_t n, std::int64_t sum, double avg,
              std::int64_t mn, std::int64_t mx) {
    return st::make_row<R>(k, st::win(std::chrono::seconds(a), std::chrono::seconds(b)), n, sum, avg, mn, mx);
  };
  REQUIRE_NOTHROW(st::test_stream(
      std::move(q), sl::output_mode::append,
      // "a": 10, 12 -> [10, 15); 16 starts after 15: a new session. "b": 11.
      st::add_data(in, {ev(10s, "a", 1), ev(12s, "a", 5), ev(16s, "a", 7), ev(11s, "b", 2)}),
      st::check_new_answer(),
      st::add_data(in, {ev(30s, "c", 1)}),  // watermark -> 25
      st::check_new_answer(r("a", 10, 15, 2, 6, 3.0, 1, 5), r("a", 16, 19, 1, 7, 7.0, 7, 7),
                           r("b", 11, 14, 1, 2, 2.0, 2, 2))));
}

TEST_CASE("session window: sessions survive a restart from the checkpoint and merge with later rows",
          "[session][checkpoint]") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("sluice-session-restart-" + std::to_string(std::random_device{}()));
  std::filesystem::remove_all(dir);
  sl::memory_stream<Line> in;
  std::mutex m;
  std::vector<std::string> out;
  auto run = [&](std::vector<Line> rows) {
    auto q = sl::start(sessions(in, 10s) | sl::foreach_batch([&](std::span<const S> rs, std::int64_t) {
                         std::lock_guard lock(m);
                         for (const auto& r : rs) out.push_back(sl::to_json_string(r));
                       }),
                       sl::output_mode::append, {.checkpoint = (dir / "ck").string(), .state_snapshot_interval = 2});
    in.add_data(std::move(rows));
    q.process_all_available();
    q.stop();
    std::vector<std::string> got;
    std::swap(got, out);
    std::sort(got.begin(), got.end());
    return got;
  };
  auto json = [](std::vector<S> rows) {
    std::vector<std::string> v;
    for (const auto& r : rows) v.push_back(sl::to_json_string(r));
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(run({line("a b", 40), line("a", 45)}).empty());
  CHECK(run({line("a", 52)}).empty());  // [40, 55) and [52, 62): "a" becomes [40, 62) after the restart
  CHECK(run({line("b", 20)}).empty());  // a second session for "b", before the first
  CHECK(run({line("x", 100)}) == json({s("a", 40, 62, 3), s("b", 40, 50, 1), s("b", 20, 30, 1)}));  // watermark -> 70
  std::filesystem::remove_all(dir);
}

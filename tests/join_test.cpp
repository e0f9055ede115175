// sluice/ops/join.hpp: stream-static joins (Spark's stream_df.join(static_df, "col"), inner and
// left outer) through the real engine (memory_stream + memory_sink, process_all_available):
// output columns and their order, multiple matches, no match, key types (integers, strings,
// timestamps, optional and floating-point keys as Spark compares them), key functions, a join
// followed by a windowed aggregation in append mode, and JSON of left-join rows with nulls.
// Also sluice/sources/read_files.hpp, which loads static tables from files.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace join_test {

struct Event {
  std::string event_id;
  sl::timestamp timestamp;
  std::int64_t user_id = 0;
  std::string event_type;
  double value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_id, timestamp, user_id, event_type, value))

struct User {
  std::int64_t user_id = 0;
  std::string name;
  std::string country;
};
BOOST_DESCRIBE_STRUCT(User, (), (user_id, name, country))

struct Tier {
  std::string event_type;
  std::optional<double> weight;  // already optional: a left join keeps it as it is
  std::int32_t rank = 0;
};
BOOST_DESCRIBE_STRUCT(Tier, (), (event_type, weight, rank))

const sl::timestamp t0 = *sl::parse_timestamp("2024-01-15T10:00:00Z");

Event ev(std::string id, std::int64_t user, std::string type = "click", double value = 1.0,
         sl::timestamp t = t0) {
  return {std::move(id), t, user, std::move(type), value};
}

sl::static_table<User> users() {
  return sl::static_table<User>({{1, "ann", "FR"}, {2, "bob", "DE"}, {3, "cyd", "US"}, {2, "bob-eu", "AT"}});
}

// Runs `plan` in append mode over the batches, returning every output row.
template <class Row, class Plan>
std::vector<Row> run(Plan plan, sl::memory_stream<Event>& in, std::vector<std::vector<Event>> batches) {
  sl::memory_sink<Row> sink;
  auto q = sl::start(std::move(plan) | sink, sl::output_mode::append);
  for (auto& b : batches) {
    in.add_data(std::move(b));
    q.process_all_available();
  }
  q.stop();
  if (auto e = q.exception()) throw *e;
  return sink.rows();
}

struct scratch {
  fs::path root;
  explicit scratch(std::string_view tag) {
    static std::atomic<int> counter{0};
    std::random_device rd;
    root = fs::temp_directory_path() / ("sluice-join-" + std::string(tag) + "-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(counter++) + "-" + std::to_string(rd()));
    fs::create_directories(root);
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;
  fs::path write(std::string_view name, std::string_view bytes) const {
    const fs::path p = root / name;
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
};

}  // namespace join_test

using namespace join_test;

TEST_CASE("join: inner join on a shared column, the join column once, then the stream's, then the table's",
          "[join]") {
  sl::memory_stream<Event> in;
  auto plan = in | sl::join(users(), sl::col<"user_id">);
  using R = decltype(plan)::row_type;
  STATIC_REQUIRE(sl::column_count_v<R> == 7);
  STATIC_REQUIRE(sl::column_names<R>[0] == "user_id");
  STATIC_REQUIRE(sl::column_names<R>[1] == "event_id");
  STATIC_REQUIRE(sl::column_names<R>[2] == "timestamp");
  STATIC_REQUIRE(sl::column_names<R>[3] == "event_type");
  STATIC_REQUIRE(sl::column_names<R>[4] == "value");
  STATIC_REQUIRE(sl::column_names<R>[5] == "name");
  STATIC_REQUIRE(sl::column_names<R>[6] == "country");
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "user_id">, std::int64_t>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "name">, std::string>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "timestamp">, sl::timestamp>);

  const auto rows = run<R>(std::move(plan), in,
                           {{ev("e1", 1), ev("e2", 2, "view", 2.5), ev("e3", 9)},  // 9: no user
                            {ev("e4", 3, "purchase", 30.0)}});
  // e1: one match; e2: two (table order); e3: none (inner: dropped); e4: one.
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == R{{1}, {"e1"}, {t0}, {"click"}, {1.0}, {"ann"}, {"FR"}});
  CHECK(rows[1] == R{{2}, {"e2"}, {t0}, {"view"}, {2.5}, {"bob"}, {"DE"}});
  CHECK(rows[2] == R{{2}, {"e2"}, {t0}, {"view"}, {2.5}, {"bob-eu"}, {"AT"}});
  CHECK(rows[3] == R{{3}, {"e4"}, {t0}, {"purchase"}, {30.0}, {"cyd"}, {"US"}});
}

TEST_CASE("join: left outer join keeps stream rows without a match, the table's columns empty", "[join]") {
  sl::memory_stream<Event> in;
  auto plan = in | sl::left_join(users(), sl::col<"user_id">);
  using R = decltype(plan)::row_type;
  STATIC_REQUIRE(sl::column_count_v<R> == 7);
  STATIC_REQUIRE(sl::column_names<R>[0] == "user_id");
  STATIC_REQUIRE(sl::column_names<R>[5] == "name");
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "user_id">, std::int64_t>);  // the stream's: never null
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "event_id">, std::string>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "name">, std::optional<std::string>>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "country">, std::optional<std::string>>);

  const auto rows = run<R>(std::move(plan), in, {{ev("e1", 9), ev("e2", 2), ev("e3", 1)}});
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == R{{9}, {"e1"}, {t0}, {"click"}, {1.0}, {std::nullopt}, {std::nullopt}});
  CHECK(rows[1] == R{{2}, {"e2"}, {t0}, {"click"}, {1.0}, {"bob"}, {"DE"}});
  CHECK(rows[2] == R{{2}, {"e2"}, {t0}, {"click"}, {1.0}, {"bob-eu"}, {"AT"}});
  CHECK(rows[3] == R{{1}, {"e3"}, {t0}, {"click"}, {1.0}, {"ann"}, {"FR"}});
}

TEST_CASE("join: a table column that is already optional stays optional in a left join", "[join]") {
  sl::memory_stream<Event> in;
  const sl::static_table<Tier> tiers({{"click", 0.5, 1}, {"view", std::nullopt, 2}});
  auto plan = in | sl::left_join(tiers, sl::col<"event_type">);
  using R = decltype(plan)::row_type;
  STATIC_REQUIRE(sl::column_names<R>[0] == "event_type");
  STATIC_REQUIRE(sl::column_names<R>[5] == "weight");
  STATIC_REQUIRE(sl::column_names<R>[6] == "rank");
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "weight">, std::optional<double>>);
  STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "rank">, std::optional<std::int32_t>>);
  const auto rows = run<R>(std::move(plan), in, {{ev("a", 1, "click"), ev("b", 1, "view"), ev("c", 1, "purchase")}});
  REQUIRE(rows.size() == 3);
  CHECK(sl::get<"weight">(rows[0]) == 0.5);
  CHECK(sl::get<"rank">(rows[0]) == 1);
  CHECK_FALSE(sl::get<"weight">(rows[1]).has_value());  // null in the table
  CHECK(sl::get<"rank">(rows[1]) == 2);
  CHECK_FALSE(sl::get<"weight">(rows[2]).has_value());  // no match
  CHECK_FALSE(sl::get<"rank">(rows[2]).has_value());
}

TEST_CASE("join: an empty table, inner and left", "[join]") {
  const sl::static_table<User> none;
  CHECK(none.empty());
  sl::memory_stream<Event> a, b;
  auto inner = a | sl::join(none, sl::col<"user_id">);
  auto left = b | sl::left_join(none, sl::col<"user_id">);
  CHECK(run<decltype(inner)::row_type>(std::move(inner), a, {{ev("e1", 1), ev("e2", 2)}}).empty());
  const auto rows = run<decltype(left)::row_type>(std::move(left), b, {{ev("e1", 1), ev("e2", 2)}});
  REQUIRE(rows.size() == 2);
  CHECK_FALSE(sl::get<"name">(rows[1]).has_value());
}

namespace join_test {
struct Visit {
  std::string page;
  std::optional<std::int64_t> user;
  sl::timestamp at;
  double score = 0;
};
BOOST_DESCRIBE_STRUCT(Visit, (), (page, user, at, score))
struct Page {
  std::string page;
  std::string title;
};
BOOST_DESCRIBE_STRUCT(Page, (), (page, title))
struct Member {
  std::int64_t user = 0;  // not optional: K and std::optional<K> join
  std::string plan;
};
BOOST_DESCRIBE_STRUCT(Member, (), (user, plan))
struct Slot {
  sl::timestamp at;
  std::string label;
};
BOOST_DESCRIBE_STRUCT(Slot, (), (at, label))
struct Band {
  double score = 0;
  std::string band;
};
BOOST_DESCRIBE_STRUCT(Band, (), (score, band))

template <class Plan>
auto run_visits(Plan plan, sl::memory_stream<Visit>& in, std::vector<Visit> rows) {
  sl::memory_sink<typename Plan::row_type> sink;
  auto q = sl::start(std::move(plan) | sink, sl::output_mode::append);
  in.add_data(std::move(rows));
  q.process_all_available();
  q.stop();
  if (auto e = q.exception()) throw *e;
  return sink.rows();
}
}  // namespace join_test

TEST_CASE("join: key types: strings, timestamps, optional keys, floating-point keys", "[join]") {
  const sl::timestamp t1 = t0 + 1min;
  const std::vector<Visit> visits{{"home", 1, t0, 0.0},
                                  {"cart", std::nullopt, t1, -0.0},
                                  {"about", 2, t1, std::numeric_limits<double>::quiet_NaN()},
                                  {"nowhere", 3, t0 + 2min, 7.0}};
  SECTION("std::string") {
    sl::memory_stream<Visit> in;
    const sl::static_table<Page> pages({{"home", "Home"}, {"cart", "Cart"}, {"about", "About us"}});
    auto rows = run_visits(in | sl::join(pages, sl::col<"page">), in, visits);
    REQUIRE(rows.size() == 3);
    CHECK(sl::get<"title">(rows[0]) == "Home");
    CHECK(sl::get<"title">(rows[1]) == "Cart");
    CHECK(sl::get<"title">(rows[2]) == "About us");
  }
  SECTION("std::optional<K> against K: a null key matches nothing, as Spark's null") {
    sl::memory_stream<Visit> in;
    const sl::static_table<Member> members({{1, "free"}, {2, "pro"}});
    auto plan = in | sl::left_join(members, sl::col<"user">);
    using R = decltype(plan)::row_type;
    STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "user">, std::optional<std::int64_t>>);  // the stream's
    auto rows = run_visits(std::move(plan), in, visits);
    REQUIRE(rows.size() == 4);
    CHECK(sl::get<"plan">(rows[0]) == "free");
    CHECK_FALSE(sl::get<"user">(rows[1]).has_value());
    CHECK_FALSE(sl::get<"plan">(rows[1]).has_value());
    CHECK(sl::get<"plan">(rows[2]) == "pro");
    CHECK_FALSE(sl::get<"plan">(rows[3]).has_value());
  }
  SECTION("sl::timestamp") {
    sl::memory_stream<Visit> in;
    const sl::static_table<Slot> slots({{t0, "ten"}, {t1, "ten-one"}});
    auto rows = run_visits(in | sl::join(slots, sl::col<"at">), in, visits);
    REQUIRE(rows.size() == 3);
    CHECK(sl::get<"label">(rows[0]) == "ten");
    CHECK(sl::get<"label">(rows[1]) == "ten-one");
    CHECK(sl::get<"label">(rows[2]) == "ten-one");
  }
  SECTION("double: -0.0 equals 0.0 and NaN equals NaN (Spark normalises join keys)") {
    sl::memory_stream<Visit> in;
    const sl::static_table<Band> bands({{0.0, "zero"}, {std::numeric_limits<double>::quiet_NaN(), "nan"}, {7.5, "x"}});
    auto rows = run_visits(in | sl::join(bands, sl::col<"score">), in, visits);
    REQUIRE(rows.size() == 3);
    CHECK(sl::get<"band">(rows[0]) == "zero");
    CHECK(sl::get<"band">(rows[1]) == "zero");
    CHECK(sl::get<"band">(rows[2]) == "nan");
  }
}

TEST_CASE("join: keys given per side (member pointers, functions, columns) keep every column of both sides",
          "[join]") {
  sl::memory_stream<Event> in;
  const sl::static_table<Member> members({{1, "free"}, {2, "pro"}});
  SECTION("member pointer and sl::col") {
    auto plan = in | sl::join(members, &Event::user_id, sl::col<"user">);
    using R = decltype(plan)::row_type;
    STATIC_REQUIRE(sl::column_count_v<R> == 7);
    STATIC_REQUIRE(sl::column_names<R>[0] == "event_id");
    STATIC_REQUIRE(sl::column_names<R>[2] == "user_id");
    STATIC_REQUIRE(sl::column_names<R>[5] == "user");
    STATIC_REQUIRE(sl::column_names<R>[6] == "plan");
    const auto rows = run<R>(std::move(plan), in, {{ev("e1", 2), ev("e2", 5)}});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0] == R{{"e1"}, {t0}, {2}, {"click"}, {1.0}, {2}, {"pro"}});
  }
  SECTION("functions of each row, left outer") {
    auto plan = in | sl::left_join(members, [](const Event& e) { return e.user_id + 1; },
                                   [](const Member& m) { return m.user; });
    using R = decltype(plan)::row_type;
    STATIC_REQUIRE(std::is_same_v<sl::column_type_t<R, "user">, std::optional<std::int64_t>>);
    const auto rows = run<R>(std::move(plan), in, {{ev("e1", 0), ev("e2", 1), ev("e3", 2)}});
    REQUIRE(rows.size() == 3);
    CHECK(sl::get<"plan">(rows[0]) == "free");
    CHECK(sl::get<"plan">(rows[1]) == "pro");
    CHECK_FALSE(sl::get<"plan">(rows[2]).has_value());
  }
}

TEST_CASE("join: a stateless stage: no state operator, the upstream watermark passes through", "[join]") {
  sl::memory_stream<Event> in;
  auto plan = in | sl::with_watermark(sl::col<"timestamp">, 10min) | sl::join(users(), sl::col<"user_id">);
  STATIC_REQUIRE(decltype(plan)::props.has_watermark);
  STATIC_REQUIRE(decltype(plan)::props.watermark_column == std::string_view("timestamp"));
  // The stages from the source on: the watermark, then the join, which is stateless.
  using stages = decltype(plan)::stages;
  STATIC_REQUIRE(boost::mp11::mp_size<stages>::value == 2);
  STATIC_REQUIRE(boost::mp11::mp_at_c<stages, 1>::kind == sl::stage_kind::stateless);
  STATIC_REQUIRE(!sl::any_stage<stages, sl::is_aggregation>);
  sl::memory_sink<decltype(plan)::row_type> sink;
  auto q = sl::start(std::move(plan) | sink, sl::output_mode::append);
  in.add_data({ev("e1", 1, "click", 1.0, t0 + 30min), ev("e2", 9)});
  q.process_all_available();
  in.add_data({ev("e3", 3, "click", 1.0, t0)});  // far behind the watermark: stateless stages drop nothing
  q.process_all_available();
  q.stop();
  const auto p = q.recent_progress();
  REQUIRE(p.size() == 2);
  CHECK(p[0].state_operators.empty());
  CHECK(p[0].num_input_rows == 2);
  CHECK(p[0].sink.num_output_rows == 1);
  CHECK(p[1].event_time.watermark == t0 + 20min);
  CHECK(sink.rows().size() == 2);
}

TEST_CASE("join: followed by a windowed aggregation in append mode", "[join]") {
  sl::memory_stream<Event> in;
  auto plan = in
      | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::join(users(), sl::col<"user_id">)
      | sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"country">)
      | sl::aggregate(sl::count().as<"events">(), sl::sum(sl::col<"value">).as<"total">());
  using R = decltype(plan)::row_type;
  STATIC_REQUIRE(sl::column_names<R>[0] == "window");
  STATIC_REQUIRE(sl::column_names<R>[1] == "country");
  sl::memory_sink<R> sink;
  auto q = sl::start(std::move(plan) | sink, sl::output_mode::append);  // compiles: the watermark is seen
  in.add_data({ev("a", 1, "click", 1.0, t0 + 1min), ev("b", 2, "click", 2.0, t0 + 2min),  // FR; DE and AT
               ev("c", 1, "click", 4.0, t0 + 6min), ev("d", 7, "click", 8.0, t0 + 3min)});  // d: no user
  q.process_all_available();
  CHECK(sink.rows().empty());  // nothing closed yet (watermark 0, then 10:06 - 10 min)
  in.add_data({ev("e", 3, "click", 16.0, t0 + 30min)});
  q.process_all_available();  // watermark 10:20: windows [10:00, 10:05) and [10:05, 10:10) close
  in.add_data({ev("late", 1, "click", 32.0, t0 + 4min)});  // behind the watermark: dropped by the aggregation
  q.process_all_available();
  q.stop();
  auto rows = sink.rows();
  std::sort(rows.begin(), rows.end(), [](const R& x, const R& y) {
    return std::pair(sl::get<"window">(x).start, sl::get<"country">(x)) <
           std::pair(sl::get<"window">(y).start, sl::get<"country">(y));
  });
  const auto w0 = sl::time_window{t0, t0 + 5min}, w1 = sl::time_window{t0 + 5min, t0 + 10min};
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == R{{w0}, {"AT"}, {1}, {2.0}});
  CHECK(rows[1] == R{{w0}, {"DE"}, {1}, {2.0}});
  CHECK(rows[2] == R{{w0}, {"FR"}, {1}, {1.0}});
  CHECK(rows[3] == R{{w1}, {"FR"}, {1}, {4.0}});
  const auto last = q.last_progress();
  REQUIRE(last);
  REQUIRE(last->state_operators.size() == 1);
  CHECK(last->state_operators[0].num_rows_dropped_by_watermark == 1);
}

TEST_CASE("join: JSON of left-join rows: an empty optional is null", "[join]") {
  sl::memory_stream<Event> in;
  auto plan = in | sl::left_join(users(), sl::col<"user_id">);
  using R = decltype(plan)::row_type;
  const R unmatched{{9}, {"e1"}, {t0}, {"click"}, {86.0}, {std::nullopt}, {std::nullopt}};
  CHECK(sl::to_json_string(unmatched) ==
        R"({"user_id":9,"event_id":"e1","timestamp":"2024-01-15T10:00:00.000Z","event_type":"click","value":86.0,)"
        R"("name":null,"country":null})");
  CHECK(sl::from_json<R>(sl::to_json(unmatched)) == unmatched);

  SECTION("through the JSON-lines file sink: nulls omitted (Spark's default) or written") {
    scratch dir("json");
    const bool ignore_nulls = GENERATE(true, false);
    auto q = sl::start(std::move(plan) | sl::files::json_lines_sink(dir.root / "out", {.ignore_null_fields = ignore_nulls}),
                       sl::output_mode::append);
    in.add_data({ev("e1", 9, "click", 86.0), ev("e2", 1, "view", 1e7)});
    q.process_all_available();
    q.stop();
    if (auto e = q.exception()) throw *e;
    const auto batches = sl::files::committed_batches(dir.root / "out");
    REQUIRE(batches.size() == 1);
    REQUIRE(batches[0].files.size() == 1);
    std::ifstream f(batches[0].files[0].path);
    std::string l1, l2;
    std::getline(f, l1);
    std::getline(f, l2);
    if (ignore_nulls) {
      CHECK(l1 == R"({"user_id":9,"event_id":"e1","timestamp":"2024-01-15T10:00:00.000Z","event_type":"click",)"
                  R"("value":86.0})");
    } else {
      CHECK(l1 == R"({"user_id":9,"event_id":"e1","timestamp":"2024-01-15T10:00:00.000Z","event_type":"click",)"
                  R"("value":86.0,"name":null,"country":null})");
    }
    CHECK(l2 == R"({"user_id":1,"event_id":"e2","timestamp":"2024-01-15T10:00:00.000Z","event_type":"view",)"
                R"("value":1.0E7,"name":"ann","country":"FR"})");
    // Read back into the generated row type: absent and null are both an empty optional.
    const auto back = sl::files::read_committed_json_lines<R>(dir.root / "out");
    REQUIRE(back.size() == 2);
    CHECK(back[0] == unmatched);
    CHECK(sl::get<"name">(back[1]) == "ann");
  }
}

TEST_CASE("join: two joins in a row, and copies of a table share its rows", "[join]") {
  const auto u = users();
  const auto copy = u;
  CHECK(copy.rows().data() == u.rows().data());
  CHECK(u.size() == 4);
  const sl::static_table<Tier> tiers({{"click", 0.5, 1}});
  sl::memory_stream<Event> in;
  auto plan = in | sl::join(u, sl::col<"user_id">) | sl::left_join(tiers, sl::col<"event_type">);
  using R = decltype(plan)::row_type;
  STATIC_REQUIRE(sl::column_count_v<R> == 9);
  STATIC_REQUIRE(sl::column_names<R>[0] == "event_type");
  STATIC_REQUIRE(sl::column_names<R>[1] == "user_id");
  STATIC_REQUIRE(sl::column_names<R>[8] == "rank");
  const auto rows = run<R>(std::move(plan), in, {{ev("e1", 1, "click"), ev("e2", 3, "view")}});
  REQUIRE(rows.size() == 2);
  CHECK(sl::get<"name">(rows[0]) == "ann");
  CHECK(sl::get<"rank">(rows[0]) == 1);
  CHECK(sl::get<"name">(rows[1]) == "cyd");
  CHECK_FALSE(sl::get<"rank">(rows[1]).has_value());
}

TEST_CASE("join: the same table in two queries at once", "[join]") {
  const auto u = users();
  sl::memory_stream<Event> a, b;
  sl::memory_sink<decltype(a | sl::join(u, sl::col<"user_id">))::row_type> sa;
  sl::memory_sink<decltype(b | sl::left_join(u, sl::col<"user_id">))::row_type> sb;
  auto qa = sl::start(a | sl::join(u, sl::col<"user_id">) | sa, sl::output_mode::append);
  auto qb = sl::start(b | sl::left_join(u, sl::col<"user_id">) | sb, sl::output_mode::append);
  for (int i = 0; i < 20; ++i) {
    a.add_data({ev("a" + std::to_string(i), i % 4)});
    b.add_data({ev("b" + std::to_string(i), i % 4)});
  }
  qa.process_all_available();
  qb.process_all_available();
  qa.stop();
  qb.stop();
  CHECK(sa.rows().size() == 20);  // per 4 events: users 1 and 3 once, 2 twice, 0 never
  CHECK(sb.rows().size() == 25);  // and user 0 once, with nulls
}

TEST_CASE("read_files: JSON lines and CSV files into vectors, for static tables", "[join][read_files]") {
  scratch dir("read");
  const auto users_file = dir.write("users.jsonl",
                                    "\xEF\xBB\xBF{\"user_id\":1,\"name\":\"ann\",\"country\":\"FR\",\"extra\":true}\n"
                                    "\n"
                                    "{\"user_id\":2,\"name\":\"bob\",\"country\":\"DE\"}");
  const auto users_read = sl::files::read_json_lines_file<User>(users_file);
  REQUIRE(users_read.size() == 2);
  CHECK(users_read[1].name == "bob");
  const sl::static_table table(sl::files::read_json_lines_file<User>(users_file));
  CHECK(table.size() == 2);

  SECTION("a bad record names file:line, or is skipped and counted") {
    const auto bad = dir.write("bad.jsonl", "{\"user_id\":1,\"name\":\"ann\",\"country\":\"FR\"}\n{\"user_id\":\"x\"}\n");
    try {
      (void)sl::files::read_json_lines_file<User>(bad);
      FAIL("no error");
    } catch (const sl::files::bad_record_error& e) {
      CHECK(e.line() == 2);
      CHECK(std::string(e.what()).find("bad.jsonl:2: ") != std::string::npos);
    }
    std::int64_t skipped = 0;
    const auto kept = sl::files::read_json_lines_file<User>(bad, {.on_bad_record = sl::files::bad_record::skip,
                                                                  .skipped = &skipped});
    CHECK(kept.size() == 1);
    CHECK(skipped == 1);
  }
  SECTION("a missing file") {
    CHECK_THROWS_WITH(sl::files::read_json_lines_file<User>(dir.root / "none.jsonl"),
                      Catch::Contains("none.jsonl"));
  }
  SECTION("every file of a directory, in name order, hidden names excluded") {
    fs::create_directories(dir.root / "d");
    dir.write("d/b.jsonl", "{\"user_id\":2,\"name\":\"bob\",\"country\":\"DE\"}\n");
    dir.write("d/a.jsonl", "{\"user_id\":1,\"name\":\"ann\",\"country\":\"FR\"}\n");
    dir.write("d/.c.jsonl.tmp", "not json\n");
    dir.write("d/_SUCCESS", "");
    const auto all = sl::files::read_json_lines<User>(dir.root / "d");
    REQUIRE(all.size() == 2);
    CHECK(all[0].name == "ann");
    CHECK(all[1].name == "bob");
  }
  SECTION("CSV with a header") {
    const auto csv = dir.write("users.csv", "country,user_id,name\r\nFR,1,\"ann, a\"\nDE,2,bob\n");
    const auto rows = sl::files::read_csv_file<User>(csv, {.header = true});
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].name == "ann, a");
    CHECK(rows[0].country == "FR");
    CHECK(rows[1].user_id == 2);
  }
}

TEST_CASE("files: a file source pipes straight into a file sink, and a join reads it as seed 004 does",
          "[join][files]") {
  // Neither operand of `source | sink` is in namespace sluice here: operator| is found in
  // sluice::files.
  scratch dir("pipe");
  fs::create_directories(dir.root / "in");
  dir.write("in/a.jsonl", R"({"event_id":"e1","timestamp":"2024-01-15T10:00:00Z","user_id":1,"event_type":"click","value":2.0})"
                          "\n"
                          R"({"event_id":"e2","timestamp":"2024-01-15T10:00:00Z","user_id":5,"event_type":"view","value":3.0})"
                          "\n");
  const sl::query_options once{.trigger = sl::trigger::available_now()};
  auto raw = sl::start(sl::files::json_lines<Event>(dir.root / "in", {.max_files_per_trigger = 1}) |
                           sl::files::json_lines_sink(dir.root / "events"),
                       sl::output_mode::append, once);
  raw.await_termination();
  CHECK(sl::files::read_committed_json_lines<Event>(dir.root / "events").size() == 2);

  auto enriched = sl::files::json_lines<Event>(dir.root / "in") | sl::left_join(users(), sl::col<"user_id">);
  using R = decltype(enriched)::row_type;
  auto q = sl::start(std::move(enriched) | sl::files::json_lines_sink(dir.root / "enriched"), sl::output_mode::append,
                     once);
  q.await_termination();
  const auto rows = sl::files::read_committed_json_lines<R>(dir.root / "enriched");
  REQUIRE(rows.size() == 2);
  CHECK(sl::get<"name">(rows[0]) == "ann");
  CHECK_FALSE(sl::get<"name">(rows[1]).has_value());
}

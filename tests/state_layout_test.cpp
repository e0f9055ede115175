// The state schema each stateful operator writes (state/<op>/_metadata/schema,
// codec/state_layout.hpp) and the checkpoint reader that decodes state files by it alone
// (checkpoint/inspect.hpp, `sluice checkpoint state`): map_groups_with_state and session
// windows here; the aggregation and deduplication in tests/admin/checkpoint_cli_test.py.
#include <sluice/checkpoint/inspect.hpp>
#include <sluice/sluice.hpp>

#include <catch2/catch.hpp>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
struct Visit {
  std::string user;
  sl::timestamp at;
};
BOOST_DESCRIBE_STRUCT(Visit, (), (user, at))

struct Seen {
  std::int64_t visits = 0;
  std::vector<std::string> tags;
  std::optional<double> score;
};
BOOST_DESCRIBE_STRUCT(Seen, (), (visits, tags, score))

struct UserCount {
  std::string user;
  std::int64_t visits = 0;
};
BOOST_DESCRIBE_STRUCT(UserCount, (), (user, visits))

fs::path fresh(const std::string& name) {
  auto d = fs::temp_directory_path() / ("sluice-state-layout-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

std::vector<boost::json::object> state_rows(const fs::path& ck, std::optional<std::int64_t> batch = {}) {
  std::vector<boost::json::object> rows;
  sl::read_checkpoint_state(ck, 0, batch, [&](boost::json::object r) { rows.push_back(std::move(r)); });
  return rows;
}

Visit at(const char* user, std::int64_t sec) { return {user, sl::timestamp{sec * 1'000'000}}; }
}  // namespace

TEST_CASE("state layout: a map_groups_with_state's described state decodes without its types", "[state_layout]") {
  const auto ck = fresh("mgws");
  sl::memory_stream<Visit> in;
  auto f = [](const std::string& user, std::span<const Visit> vs, sl::group_state<Seen>& st) {
    Seen s = st.get_option().value_or(Seen{});
    s.visits += static_cast<std::int64_t>(vs.size());
    s.tags.push_back("b" + std::to_string(s.visits));
    if (s.visits >= 2) s.score = 0.5 * static_cast<double>(s.visits);
    if (user == "gone" && s.visits >= 2) st.remove();
    else st.update(s);
    return UserCount{user, s.visits};
  };
  sl::memory_sink<UserCount> sink;
  {
    auto q = sl::start(in | sl::group_by_key(sl::col<"user">) | sl::map_groups_with_state<Seen>(f) | sink,
                       sl::output_mode::update, {.checkpoint = ck.string()});
    in.add_data({at("a", 1), at("gone", 1)});
    q.process_all_available();
    in.add_data({at("a", 2), at("b", 3), at("gone", 4)});
    q.process_all_available();
    q.stop();
  }
  const auto rows = state_rows(ck);
  REQUIRE(rows.size() == 2);  // "gone" was removed in batch 1
  INFO(boost::json::serialize(rows[0]));
  CHECK(rows[0].at("key").at("user") == "a");
  CHECK(rows[0].at("value").at("state").at("visits") == 2);
  CHECK(rows[0].at("value").at("state").at("tags") == boost::json::array{"b1", "b2"});
  CHECK(rows[0].at("value").at("state").at("score") == 1.0);
  CHECK(rows[1].at("key").at("user") == "b");
  CHECK(rows[1].at("value").at("state").at("score").is_null());
  // As of batch 0: both first keys, "gone" still there.
  const auto first = state_rows(ck, 0);
  REQUIRE(first.size() == 2);
  CHECK(first[1].at("key").at("user") == "gone");
  const auto d = sl::describe_checkpoint(ck);
  CHECK(d.at("stateOperators").as_array()[0].at("description").at("operator") == "flatMapGroupsWithState");

  // A checkpoint written before the schema file existed (format 2 all the same): it starts,
  // and its next batch writes the file.
  const auto schema = ck / "state" / "0" / "_metadata" / "schema";
  REQUIRE(fs::remove(schema));
  CHECK_THROWS_WITH(state_rows(ck), Catch::Contains(schema.string() + ": missing"));
  {
    auto q = sl::start(in | sl::group_by_key(sl::col<"user">) | sl::map_groups_with_state<Seen>(f) | sink,
                       sl::output_mode::update, {.checkpoint = ck.string()});
    in.add_data({at("c", 5)});
    q.process_all_available();
    q.stop();
  }
  CHECK(fs::exists(schema));
  CHECK(state_rows(ck).size() == 3);
  fs::remove_all(ck);
}

TEST_CASE("state layout: a session window's state is one row per session", "[state_layout]") {
  const auto ck = fresh("sessions");
  sl::memory_stream<Visit> in;
  using out_row = sl::row<sl::field<"session_window", sl::time_window>, sl::field<"user", std::string>,
                          sl::field<"n", std::int64_t>>;
  sl::memory_sink<out_row> sink;
  {
    auto q = sl::start(in | sl::with_watermark(sl::col<"at">, 100s) |
                           sl::group_by(sl::session_window(sl::col<"at">, 10s), sl::col<"user">) |
                           sl::aggregate(sl::count().as<"n">()) | sink,
                       sl::output_mode::append, {.checkpoint = ck.string()});
    in.add_data({at("a", 1), at("a", 5), at("a", 30), at("b", 2)});
    q.process_all_available();
    q.stop();
  }
  const auto rows = state_rows(ck);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].at("key").at("user") == "a");
  CHECK(rows[0].at("value").at("start") == 1'000'000);
  CHECK(rows[0].at("value").at("end") == 15'000'000);
  CHECK(rows[0].at("value").at("n") == 2);
  CHECK(rows[1].at("value").at("start") == 30'000'000);
  CHECK(rows[1].at("value").at("n") == 1);
  CHECK(rows[2].at("key").at("user") == "b");
  fs::remove_all(ck);
}

TEST_CASE("state layout: types mirror the binary writer, and a value with its own binary form is refused",
          "[state_layout]") {
  using T = std::tuple<std::int8_t, std::uint16_t, float, std::optional<std::string>,
                       boost::unordered_flat_map<std::string, std::int64_t>, std::vector<Visit>>;
  const T v{-3, 7, 1.5f, std::nullopt, {{"k", 9}}, {at("x", 2)}};
  sl::binary_writer w;
  w.write(v);
  sl::binary_reader r(w.buffer(), "test bytes");
  const auto decoded = sl::decode_binary(r, sl::binary_layout<T>());
  CHECK(r.at_end());
  CHECK(boost::json::serialize(decoded) == R"([-3,7,1.5E0,null,[["k",9]],[{"user":"x","at":2000000}]])");

  struct Custom {
    int x = 0;
    void serialize(sl::binary_writer& out) const { out.write(x); }
  };
  const auto layout = sl::binary_layout<Custom>();
  CHECK(layout.as_object().contains("opaque"));
  sl::binary_reader r2(w.buffer(), "test bytes");
  try {
    (void)sl::decode_binary(r2, layout);
    FAIL("decoded an opaque value");
  } catch (const sl::checkpoint_format_error& e) {
    CHECK(std::string(e.what()).find("test bytes: corrupt at byte 0: the state holds a value of type") == 0);
  }
}

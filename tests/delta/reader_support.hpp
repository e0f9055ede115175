// Shared by the Delta reader/source tests: scratch tables, the row type of the tables
// make_tables.py writes with delta-rs, and running that script to learn what delta-rs and
// DuckDB read.
#pragma once
#include <catch2/catch.hpp>

#include <sluice/delta/read.hpp>

#include <boost/describe.hpp>
#include <boost/json.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace reader_test {
namespace fs = std::filesystem;
namespace sl = sluice;

// The columns of make_tables.py's SCHEMA.
struct Item {
  std::int64_t id;
  std::string name;
  double score;
  bool flag;
  sl::timestamp ts;
  std::optional<std::int32_t> maybe;
  sl::time_window span;
  std::vector<std::int64_t> tags;
  std::optional<std::string> part;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, name, score, flag, ts, maybe, span, tags, part))

inline fs::path fresh_dir(const std::string& name) {
  std::random_device rd;
  auto dir = fs::path(SLUICE_TESTS_BINARY_DIR) / "scratch" / ("reader-" + name + "-" + std::to_string(rd()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Runs `python make_tables.py <args>` and returns its JSON report; fails the test on error.
inline boost::json::object make_table(const std::string& args) {
  const std::string cmd = std::string("\"") + SLUICE_PYTHON + "\" \"" + SLUICE_TESTS_SOURCE_DIR + "/make_tables.py\" " + args;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  INFO("command: " << cmd << "\noutput: " << out.substr(0, 2000));
  REQUIRE(rc == 0);
  return boost::json::parse(out).as_object();
}

inline std::string quoted(const fs::path& p) { return "\"" + p.string() + "\""; }

// An Item as make_tables.py reports rows (JSON with timestamps as microseconds).
inline boost::json::object item_json(const Item& r) {
  boost::json::array tags;
  for (auto t : r.tags) tags.push_back(t);
  return {{"id", r.id},
          {"name", r.name},
          {"score", r.score},
          {"flag", r.flag},
          {"ts", r.ts.micros},
          {"maybe", r.maybe ? boost::json::value(*r.maybe) : boost::json::value(nullptr)},
          {"span", boost::json::object{{"start", r.span.start.micros}, {"end", r.span.end.micros}}},
          {"tags", tags},
          {"part", r.part ? boost::json::value(*r.part) : boost::json::value(nullptr)}};
}

// Rows sorted by id, as JSON text per row, to compare with delta-rs's report.
inline std::vector<std::string> as_json_rows(std::vector<Item> rows) {
  std::sort(rows.begin(), rows.end(), [](const Item& a, const Item& b) { return a.id < b.id; });
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(boost::json::serialize(item_json(r)));
  return out;
}
inline std::vector<std::string> report_rows(const boost::json::object& report) {
  std::vector<std::string> out;
  for (const auto& r : report.at("rows").as_array()) {
    // Normalise numbers (delta-rs reports 3.0 for a double, ints as ints) through Item.
    const auto& o = r.as_object();
    Item it{};
    it.id = o.at("id").to_number<std::int64_t>();
    it.name = std::string(o.at("name").as_string());
    it.score = o.at("score").to_number<double>();
    it.flag = o.at("flag").as_bool();
    it.ts = sl::timestamp{o.at("ts").to_number<std::int64_t>()};
    if (!o.at("maybe").is_null()) it.maybe = o.at("maybe").to_number<std::int32_t>();
    it.span = {sl::timestamp{o.at("span").at("start").to_number<std::int64_t>()},
               sl::timestamp{o.at("span").at("end").to_number<std::int64_t>()}};
    for (const auto& t : o.at("tags").as_array()) it.tags.push_back(t.to_number<std::int64_t>());
    if (!o.at("part").is_null()) it.part = std::string(o.at("part").as_string());
    out.push_back(boost::json::serialize(item_json(it)));
  }
  return out;
}
inline std::int64_t sum_ids(const std::vector<Item>& rows) {
  std::int64_t s = 0;
  for (const auto& r : rows) s += r.id;
  return s;
}
}  // namespace reader_test

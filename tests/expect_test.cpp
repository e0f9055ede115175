// sl::expect: data contracts with Delta Live Tables' policies (warn, drop, fail), dead letters,
// counts in progress ("data_quality") and in the metrics.
#include <sluice/manage/metrics.hpp>
#include <sluice/sluice.hpp>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

namespace sl = sluice;

namespace {
struct Reading {
  std::int64_t id = 0;
  double value = 0;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (id, value))

bool valid_id(const Reading& r) { return r.id > 0; }
bool in_range(const Reading& r) { return r.value >= 0 && r.value <= 100; }

std::vector<std::int64_t> ids(const std::vector<Reading>& rows) {
  std::vector<std::int64_t> out;
  for (const auto& r : rows) out.push_back(r.id);
  return out;
}

boost::json::value data_quality(const sl::streaming_query& q) {
  const auto p = q.last_progress();
  REQUIRE(p);
  const auto o = boost::json::parse(p->json()).as_object();
  return o.contains("data_quality") ? o.at("data_quality") : boost::json::value(nullptr);
}
}  // namespace

TEST_CASE("expect: warn keeps failing rows, drop drops them, and each is counted per batch", "[expect]") {
  sl::memory_stream<Reading> in;
  sl::memory_sink<Reading> out;
  auto q = sl::start(in | sl::expect("valid_id", valid_id) | sl::expect_or_drop("in_range", in_range) | out,
                     sl::output_mode::append);
  in.add_data({{1, 5}, {-2, 50}, {3, 500}, {4, 7}});
  q.process_all_available();
  CHECK(ids(out.rows()) == std::vector<std::int64_t>{1, -2, 4});  // -2 kept (warn), 3 dropped
  CHECK(boost::json::serialize(data_quality(q)) ==
        R"({"dropped_records":1,"expectations":[{"name":"valid_id","policy":"warn","passed_records":3,"failed_records":1},)"
        R"({"name":"in_range","policy":"drop","passed_records":3,"failed_records":1}]})");
  in.add_data({{5, 1}});
  q.process_all_available();
  // Per batch, not running totals.
  CHECK(boost::json::serialize(data_quality(q)) ==
        R"({"dropped_records":0,"expectations":[{"name":"valid_id","policy":"warn","passed_records":1,"failed_records":0},)"
        R"({"name":"in_range","policy":"drop","passed_records":1,"failed_records":0}]})");
  q.stop();
}

TEST_CASE("expect: a query without expectations has no data_quality in its progress", "[expect]") {
  sl::memory_stream<Reading> in;
  sl::memory_sink<Reading> out;
  auto q = sl::start(in | out, sl::output_mode::append);
  in.add_data({{1, 5}});
  q.process_all_available();
  CHECK(data_quality(q).is_null());
  q.stop();
}

TEST_CASE("expect: expect_or_fail fails the batch and the query, naming the expectation and the row", "[expect]") {
  sl::memory_stream<Reading> in;
  sl::memory_sink<Reading> out;
  auto q = sl::start(in | sl::expect_or_fail("valid_id", valid_id) | out, sl::output_mode::append);
  in.add_data({{1, 5}});
  q.process_all_available();
  in.add_data({{2, 5}, {-7, 1}});
  CHECK_THROWS_WITH(q.process_all_available(),
                    Catch::Contains("expectation 'valid_id' (expect_or_fail) violated in batch 1 by row "
                                    R"({"id":-7,"value":1.0}: the batch fails)"));
  CHECK_FALSE(q.is_active());
  CHECK(ids(out.rows()) == std::vector<std::int64_t>{1});  // nothing of the failed batch reached the sink
}

TEST_CASE("expect: the policy may be chosen at run time", "[expect]") {
  for (auto policy : {sl::expectation_policy::warn, sl::expectation_policy::drop}) {
    sl::memory_stream<Reading> in;
    sl::memory_sink<Reading> out;
    auto q = sl::start(in | sl::expect("valid_id", valid_id, policy) | out, sl::output_mode::append);
    in.add_data({{1, 5}, {-1, 5}});
    q.process_all_available();
    CHECK(out.rows().size() == (policy == sl::expectation_policy::warn ? 2u : 1u));
    CHECK(data_quality(q).at("expectations").as_array()[0].at("policy").as_string() == sl::to_string(policy));
    q.stop();
  }
}

TEST_CASE("expect: failed rows go to a dead-letter sink under the batch's id", "[expect]") {
  sl::memory_stream<Reading> in;
  sl::memory_sink<Reading> out;
  sl::memory_sink<Reading> dead;
  std::vector<std::int64_t> dead_batches;
  auto q = sl::start(in | sl::expect_or_drop("valid_id", valid_id).dead_letter(dead) |
                         sl::expect("in_range", in_range).dead_letter(sl::foreach_batch([&](const auto& rows, std::int64_t id) {
                           if (!rows.empty()) dead_batches.push_back(id);
                         })) |
                         out,
                     sl::output_mode::append);
  in.add_data({{1, 5}, {-2, 50}, {3, 500}});
  q.process_all_available();
  in.add_data({{4, 1}});
  q.process_all_available();
  in.add_data({{-5, 1}});
  q.process_all_available();
  CHECK(ids(out.rows()) == std::vector<std::int64_t>{1, 3, 4});
  CHECK(ids(dead.rows()) == std::vector<std::int64_t>{-2, -5});
  CHECK(dead_batches == std::vector<std::int64_t>{0});  // 3 (out of range, kept) in batch 0
  q.stop();
}

TEST_CASE("expect: counts as Prometheus counters, running totals per expectation", "[expect][manage]") {
  sl::query_manager streams;
  sl::memory_stream<Reading> in;
  sl::memory_sink<Reading> out;
  auto q = streams.start(in | sl::expect_or_drop("valid_id", valid_id) | out, sl::output_mode::append, {.name = "readings"});
  in.add_data({{1, 5}, {-2, 50}});
  q.process_all_available();
  in.add_data({{-3, 5}, {-4, 5}, {5, 5}});
  q.process_all_available();
  const auto text = sl::prometheus_text(streams);
  const std::string labels = "{query_id=\"" + q.id() + "\",query_name=\"readings\",expectation=\"valid_id\",policy=\"drop\"}";
  CHECK_THAT(text, Catch::Contains("sluice_streaming_expectation_passed_records_total" + labels + " 2\n"));
  CHECK_THAT(text, Catch::Contains("sluice_streaming_expectation_failed_records_total" + labels + " 3\n"));
  q.stop();
}

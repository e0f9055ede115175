// sluice::rest against a fault-injecting server (tests/rest/servers.py): retries with backoff
// and Retry-After, timeouts, truncated and invalid bodies, wrong records paths, 4xx, redirects,
// size limits, keep-alive, the polling interval, the timestamp and body-cursor strategies.
#include "rest_test_support.hpp"

#include <chrono>
#include <set>
#include <thread>

using namespace rest_test;
using namespace std::chrono_literals;

namespace {
struct WrongItem {
  std::int64_t id = 0;
  double name = 0;
};
BOOST_DESCRIBE_STRUCT(WrongItem, (), (id, name))

using json_incremental = rest::json_source<rest::incremental_strategy>;

rest::options fast(std::string url) {
  rest::options o;
  o.url = std::move(url);
  o.retry.initial_backoff = 10ms;
  o.retry.max_backoff = 50ms;
  return o;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const rest::error& e) {
    return e.what();
  }
  FAIL("expected a sluice::rest::error");
  return {};
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

TEST_CASE("rest 429 with Retry-After in seconds waits that long, then succeeds", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  const auto key = unique_key("ra");
  json_incremental src(fast(fs + "/429-seconds?run=" + key + "&after=1"));
  std::vector<std::string> log;
  src.on_log([&](const std::string& l) { log.push_back(l); });
  auto d = drive(src);
  const auto t0 = std::chrono::steady_clock::now();
  d.drain();
  REQUIRE(seconds_since(t0) >= 0.95);
  REQUIRE(d.rows.size() == 2);
  REQUIRE(src.metrics().retries == 1);
  REQUIRE(log.size() == 1);
  REQUIRE_THAT(log[0], Catch::Contains("HTTP 429") && Catch::Contains("retrying in 1000 ms"));
}

TEST_CASE("rest 429 with Retry-After as an HTTP date waits until then", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  const auto key = unique_key("rd");
  json_incremental src(fast(fs + "/429-date?run=" + key + "&after=2"));
  auto d = drive(src);
  const auto t0 = std::chrono::steady_clock::now();
  d.drain();
  // The date has one-second resolution: the wait is between 1 and 2 s, far above the 10 ms backoff.
  REQUIRE(seconds_since(t0) >= 0.9);
  REQUIRE(d.rows.size() == 2);
  REQUIRE(src.metrics().retries == 1);
  REQUIRE(hits(fs, key + "/429-date") == 4);  // 429, 200, its next page (nothing new), the last poll
}

TEST_CASE("rest 5xx is retried with backoff, and fails after max_attempts naming the URL", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  {
    const auto key = unique_key("five");
    json_incremental src(fast(fs + "/500?run=" + key + "&fail=2"));
    auto d = drive(src);
    d.drain();
    REQUIRE(d.rows.size() == 2);
    REQUIRE(src.metrics().retries == 2);
    REQUIRE(hits(fs, key + "/500") == 2 + 1 + 1 + 1);  // 2 failures, 1 success, its next page, the last poll
  }
  {
    const auto key = unique_key("five-always");
    auto o = fast(fs + "/500?run=" + key);
    o.retry.max_attempts = 3;
    json_incremental src(o);
    auto d = drive(src);
    const auto msg = error_of([&] { d.step(); });
    REQUIRE_THAT(msg, Catch::Contains("GET " + fs + "/500?run=" + key) && Catch::Contains("HTTP 500") &&
                          Catch::Contains("gave up after 3 attempts"));
    REQUIRE(hits(fs, key + "/500") == 3);
    REQUIRE(d.rows.empty());
  }
}

TEST_CASE("rest a stall past read_timeout is a timeout, retried", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  {
    const auto key = unique_key("stall");
    auto o = fast(fs + "/stall?run=" + key + "&times=1&seconds=1.5");
    o.read_timeout = 300ms;
    json_incremental src(o);
    std::vector<std::string> log;
    src.on_log([&](const std::string& l) { log.push_back(l); });
    auto d = drive(src);
    const auto t0 = std::chrono::steady_clock::now();
    d.step();
    REQUIRE(seconds_since(t0) < 1.4);  // did not wait for the stalled response
    REQUIRE(d.rows.size() == 2);
    REQUIRE(log.size() == 1);
    REQUIRE_THAT(log[0], Catch::Contains("timed out after 300 ms (read_timeout)"));
  }
  {
    const auto key = unique_key("stall-always");
    auto o = fast(fs + "/stall?run=" + key + "&seconds=1");
    o.read_timeout = 200ms;
    o.retry.max_attempts = 2;
    json_incremental src(o);
    auto d = drive(src);
    REQUIRE_THAT(error_of([&] { d.step(); }), Catch::Contains("timed out") && Catch::Contains("gave up after 2"));
  }
}

TEST_CASE("rest a truncated body is retried, and fails clearly when it persists", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  {
    const auto key = unique_key("trunc");
    json_incremental src(fast(fs + "/truncated?run=" + key + "&times=1"));
    auto d = drive(src);
    d.step();
    REQUIRE(d.rows.size() == 2);
    REQUIRE(src.metrics().retries == 1);
  }
  {
    const auto key = unique_key("trunc-always");
    auto o = fast(fs + "/truncated?run=" + key);
    o.retry.max_attempts = 2;
    json_incremental src(o);
    auto d = drive(src);
    REQUIRE_THAT(error_of([&] { d.step(); }), Catch::Contains("truncated response"));
  }
}

TEST_CASE("rest invalid JSON names the URL, and the offset does not move", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  const auto key = unique_key("badjson");
  json_incremental src(fast(fs + "/invalid-json?run=" + key + "&times=1"));
  auto d = drive(src);
  const auto msg = error_of([&] { d.step(); });
  REQUIRE_THAT(msg, Catch::Contains("GET " + fs + "/invalid-json?run=" + key) && Catch::Contains("not valid JSON"));
  REQUIRE(d.start.last_id == 0);
  REQUIRE(d.rows.empty());
  d.drain();  // the server is fine now: the same offset is asked again and every record comes
  REQUIRE(d.rows.size() == 2);
  REQUIRE(d.start.last_id == 2);
}

TEST_CASE("rest records_path: nested records, and a wrong pointer names the URL and the pointer", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  {
    auto o = fast(fs + "/nested");
    o.records_path = "/data/items";
    auto d = drive(json_incremental(o));
    d.drain();
    REQUIRE(d.rows.size() == 3);
  }
  for (const char* wrong : {"/data/records", "/meta", "/meta/count"}) {
    auto o = fast(fs + "/nested");
    o.records_path = wrong;
    auto d = drive(json_incremental(o));
    const auto msg = error_of([&] { d.step(); });
    REQUIRE_THAT(msg, Catch::Contains("GET " + fs + "/nested") && Catch::Contains(std::string("records_path '") + wrong));
    REQUIRE(d.start.last_id == 0);
  }
  {  // the whole body must be an array when records_path is empty
    auto d = drive(json_incremental(fast(fs + "/nested")));
    REQUIRE_THAT(error_of([&] { d.step(); }), Catch::Contains("(the whole body)") && Catch::Contains("not an array"));
  }
  {  // a typed source names the record and the field that does not fit
    auto o = fast(fs + "/records?n=2");
    auto d = drive(rest::source<WrongItem, rest::incremental_strategy>(o));
    REQUIRE_THAT(error_of([&] { d.step(); }), Catch::Contains("record 0") && Catch::Contains("name"));
  }
}

TEST_CASE("rest 4xx other than 429 fails at once with the status and the body", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  const auto key = unique_key("unauth");
  json_incremental src(fast(fs + "/unauthorized?run=" + key));
  auto d = drive(src);
  try {
    d.step();
    FAIL("no error");
  } catch (const rest::error& e) {
    REQUIRE(e.status() == 401);
    REQUIRE_THAT(std::string(e.what()), Catch::Contains("GET " + fs + "/unauthorized?run=" + key) &&
                                            Catch::Contains("HTTP 401") &&
                                            Catch::Contains("invalid credentials for this resource"));
  }
  REQUIRE(hits(fs, key + "/unauthorized") == 1);  // not retried
}

TEST_CASE("rest redirects are followed up to max_redirects, and a loop fails", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  {
    auto d = drive(json_incremental(fast(fs + "/redirect")));
    d.drain();
    REQUIRE(d.rows.size() == 4);
  }
  const auto key = unique_key("loop");
  auto o = fast(fs + "/redirect-loop?run=" + key);
  o.max_redirects = 3;
  auto d = drive(json_incremental(o));
  REQUIRE_THAT(error_of([&] { d.step(); }),
               Catch::Contains("more than max_redirects (3)") && Catch::Contains("/redirect-loop-b?run=" + key));
  REQUIRE(hits(fs, key + "/redirect-loop") + hits(fs, key + "/redirect-loop-b") == 4);
}

TEST_CASE("rest a response over max_response_bytes fails clearly, without retries", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  const auto key = unique_key("huge");
  auto o = fast(fs + "/huge?run=" + key + "&n=5000");
  o.max_response_bytes = 1 << 20;
  auto d = drive(json_incremental(o));
  REQUIRE_THAT(error_of([&] { d.step(); }),
               Catch::Contains("larger than max_response_bytes (1048576)") && Catch::Contains("/huge?run=" + key));
  REQUIRE(hits(fs, key + "/huge") == 1);
  o.max_response_bytes = 64 << 20;
  auto ok = drive(json_incremental(o));
  ok.step(rest_test::sl::read_limit::all_available());
  REQUIRE(ok.rows.size() == 5000);
}

TEST_CASE("rest keep-alive reuses one connection and interval limits the polls", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  json_incremental src(fast(fs + "/records?n=3"));
  auto d = drive(src);
  for (int i = 0; i < 5; ++i) d.step();
  REQUIRE(d.rows.size() == 3);
  REQUIRE(src.metrics().requests == 6);  // the first poll asks again after new records
  REQUIRE(src.metrics().connections_opened == 1);

  auto o = fast(fs + "/records?n=3");
  o.interval = 400ms;
  json_incremental slow(o);
  auto s = drive(slow);
  s.step();
  s.step();
  s.step();
  REQUIRE(slow.metrics().requests == 2);  // one poll; then within the interval: no request
  std::this_thread::sleep_for(450ms);
  s.step();
  REQUIRE(slow.metrics().requests == 3);
}

TEST_CASE("rest timestamp strategy follows the response's timestamp, batch by batch", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  rest::options o = fast(fs + "/timestamps?since={timestamp}&total=7");
  o.records_path = "/data";
  o.timestamp_path = "/latest";
  o.batch_size = 3;
  auto d = drive(rest::json_source<rest::timestamp_strategy>(o));
  d.drain();
  REQUIRE(d.rows.size() == 7);
  for (std::size_t i = 0; i < d.rows.size(); ++i) REQUIRE(d.rows[i].at("id").as_int64() == static_cast<std::int64_t>(i + 1));
  REQUIRE(d.batch_sizes == std::vector<std::size_t>{3, 3, 1});
  REQUIRE(d.start.timestamp == "1007");
  REQUIRE(d.start.records == 7);

  // A batch planned and never committed reads the same records in a new source.
  rest::json_source<rest::timestamp_strategy> first(o), second(o);
  auto s0 = first.initial_offset();
  auto e1 = first.latest_offset(s0, {});
  first.commit(e1);
  auto e2 = first.latest_offset(e1, {});
  std::vector<std::int64_t> a, b;
  first.read(first.partitions(e1, e2)[0], [&](const auto& r) { a.push_back(r.at("id").as_int64()); });
  second.read(second.partitions(e1, e2)[0], [&](const auto& r) { b.push_back(r.at("id").as_int64()); });
  REQUIRE(a == std::vector<std::int64_t>{4, 5, 6});
  REQUIRE(b == a);
}

TEST_CASE("rest cursor from the body follows pages until caught up or the batch is full", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  rest::options o = fast(fs + "/cursor-pages?cursor={cursor}&total=10");
  o.records_path = "/data";
  o.cursor_path = "/next_cursor";
  o.batch_size = 5;
  rest::json_source<rest::cursor_strategy> src(o);
  auto d = drive(src);
  d.step();
  REQUIRE(d.rows.size() == 5);
  REQUIRE(src.metrics().requests == 2);  // 3 + 3 records: two pages fill the batch
  d.drain();
  REQUIRE(d.rows.size() == 10);
  for (std::size_t i = 0; i < d.rows.size(); ++i) REQUIRE(d.rows[i].at("id").as_int64() == static_cast<std::int64_t>(i + 1));
  REQUIRE(d.start.cursor == "3");  // the last page, 1 record of it delivered
  REQUIRE(d.start.skip == 1);
}

TEST_CASE("rest an API error fails the query with the URL as its cause, and logs no offset", "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  const auto ck = scratch("rest_query_error") / "ck";
  sl::memory_sink<boost::json::object> sink;
  auto q = sl::start(json_incremental(fast(fs + "/invalid-json?run=" + unique_key("q"))) | sink, sl::output_mode::append,
                     {.checkpoint = ck.string()});
  std::string message;
  try {
    q.await_termination(20s);
  } catch (const std::exception& e) {
    message = e.what();
  }
  REQUIRE_THAT(message, Catch::Contains("/invalid-json?run=") && Catch::Contains("not valid JSON"));
  REQUIRE(sink.rows().empty());
  // No batch was planned: the offset log has no entry, a restart asks from the beginning.
  const auto offsets = ck / "offsets";
  REQUIRE((!std::filesystem::exists(offsets) || std::filesystem::is_empty(offsets)));
}

// ---------------------------------------------------------------- cursors that loop
TEST_CASE("rest a cursor API that loops fails naming the URL and the cursor instead of repeating records",
          "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  struct broken {
    const char* mode;
    std::int64_t batch_size;
    const char* says;
  };
  // Small batches detect it across polls (each poll continues the chain of the last), a
  // large one within a single poll.
  for (const auto& b : {broken{"same", 2, "the next cursor 'a' was requested before ('' -> 'a' -> 'a')"},
                        broken{"same", 7, "the next cursor 'a' was requested before ('' -> 'a' -> 'a')"},
                        broken{"cycle", 2, "the next cursor 'a' was requested before ('' -> 'a' -> 'b' -> 'a')"},
                        broken{"cycle", 1000, "the next cursor 'a' was requested before ('' -> 'a' -> 'b' -> 'a')"},
                        broken{"ignore", 2, "holds the same 2 records as the page before it (cursor '')"}}) {
    INFO(b.mode << ", batch_size " << b.batch_size);
    const auto key = unique_key("loop");
    rest::options o = fast(fs + "/cursor-loop?run=" + key + "&mode=" + b.mode + "&cursor={cursor}");
    o.records_path = "/data";
    o.cursor_path = "/next";
    o.batch_size = b.batch_size;
    rest::json_source<rest::cursor_strategy> src(o);
    auto d = drive(src);
    std::string message;
    for (int i = 0; i < 20 && message.empty(); ++i) {
      try {
        d.step();
      } catch (const rest::error& e) {
        message = e.what();
      }
    }
    REQUIRE_THAT(message, Catch::Contains("GET " + fs + "/cursor-loop?run=" + key) && Catch::Contains(b.says));
    REQUIRE(d.rows.size() <= 6);  // at most the three distinct pages, each once
    REQUIRE(hits(fs, key + "/cursor-loop") <= 4);
    std::set<std::int64_t> ids;
    for (const auto& r : d.rows) REQUIRE(ids.insert(r.at("id").as_int64()).second);  // nothing twice
  }
}

// ---------------------------------------------------------------- stop() while the source waits
namespace {
template <class Pred>
void wait_for(Pred&& pred, const char* what) {
  const auto t0 = std::chrono::steady_clock::now();
  while (!pred()) {
    if (seconds_since(t0) > 20) FAIL(std::string("timed out waiting for ") + what);
    std::this_thread::sleep_for(20ms);
  }
}

// A new query on the checkpoint reads what is left; its rows.
std::vector<boost::json::object> restart_and_read(const rest::options& o, const std::filesystem::path& ck) {
  sl::memory_sink<boost::json::object> again;
  auto q = sl::start(json_incremental(o) | again, sl::output_mode::append, {.checkpoint = ck.string()});
  q.process_all_available();
  q.stop();
  REQUIRE(!q.exception());
  return again.rows();
}

std::size_t files_in(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir)) return 0;
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find('.') == std::string::npos) ++n;  // not temp files
  return n;
}
}  // namespace

TEST_CASE("rest stop() during a Retry-After wait of minutes returns at once, as a stop; a restart reads the data",
          "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  const auto key = unique_key("stopra");
  const auto ck = scratch("rest_stop_retry_after") / "ck";
  const auto o = fast(fs + "/429-seconds?run=" + key + "&after=180");  // 3 minutes (under max_retry_after)
  sl::memory_sink<boost::json::object> sink;
  auto q = sl::start(json_incremental(o) | sink, sl::output_mode::append, {.checkpoint = ck.string()});
  wait_for([&] { return hits(fs, key + "/429-seconds") >= 1; }, "the first request");
  std::this_thread::sleep_for(300ms);  // well into the wait
  const auto t0 = std::chrono::steady_clock::now();
  q.stop();
  REQUIRE(seconds_since(t0) < 1.5);
  REQUIRE(!q.is_active());
  REQUIRE(!q.exception());  // a stop, not a failure
  REQUIRE(sink.rows().empty());
  REQUIRE(files_in(ck / "commits") == 0);
  REQUIRE(files_in(ck / "offsets") == 0);
  REQUIRE(restart_and_read(o, ck).size() == 2);
}

TEST_CASE("rest stop() while a server stalls in the middle of a body returns at once; nothing is lost",
          "[rest][faults]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  const auto key = unique_key("stopbody");
  const auto ck = scratch("rest_stop_stall") / "ck";
  auto o = fast(fs + "/stall-body?run=" + key + "&after={last_id}&seconds=60");
  o.batch_size = 3;
  o.read_timeout = 50s;
  sl::memory_sink<boost::json::object> sink;
  auto q = sl::start(json_incremental(o) | sink, sl::output_mode::append, {.checkpoint = ck.string()});
  // Batch 0 (ids 1-3) commits; batch 1's request gets half a body, then nothing.
  wait_for([&] { return hits(fs, key + "/stall-body/late") >= 1; }, "the stalled request");
  wait_for([&] { return files_in(ck / "commits") == 1; }, "batch 0's commit");
  std::this_thread::sleep_for(300ms);
  const auto t0 = std::chrono::steady_clock::now();
  q.stop();
  REQUIRE(seconds_since(t0) < 1.5);
  REQUIRE(!q.exception());
  REQUIRE(sink.rows().size() == 3);
  REQUIRE(files_in(ck / "commits") == 1);  // the interrupted batch committed nothing
  REQUIRE(files_in(ck / "offsets") == 1);
  std::vector<std::int64_t> ids;
  for (const auto& r : restart_and_read(o, ck)) ids.push_back(r.at("id").as_int64());
  REQUIRE(ids == std::vector<std::int64_t>{4, 5});
}

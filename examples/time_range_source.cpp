// Writing a source (seed 002): a time-range API source. The API serves the events of a time
// range: GET <base>/events?from=<us>&to=<us> returns a JSON array of the events with
// from <= ts <= to (microseconds since the epoch, both ends included).
//
//   offset          the time up to which everything has been read (a described struct)
//   initial_offset  just before the configured start (start - 1 us)
//   latest_offset   min(now - lag, start + max_range): data younger than `lag` may still
//                   arrive, and one batch reads at most `max_range` of event time
//   partitions      (start, end] in fixed-duration slices (sl::split_time_range): no
//                   microsecond read twice, none skipped
//   read            one HTTP GET per slice (Boost.Beast, synchronous)
//   commit          nothing to release: the API can serve any range again (replayable)
//
// Run without arguments (as CI does), it starts a tiny HTTP server on 127.0.0.1 serving
// deterministic synthetic events, runs the query with a checkpoint for a few batches, stops
// it, restarts it from the checkpoint, and checks that every event arrived exactly once and
// that the ranges requested from the server are contiguous and disjoint; it exits non-zero
// otherwise. With `--base http://127.0.0.1:PORT` it does the same against another server
// serving the same events (examples/time_range_server.py, a Python http.server).
#include <sluice/sluice.hpp>
#include <sluice/sources/slices.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
namespace sl = sluice;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// ------------------------------------------------------------------ the rows and the offset
struct Event {
  std::int64_t id = 0;
  sl::timestamp ts;
  std::string kind;
  double value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (id, ts, kind, value))

// Everything up to `until`, inclusive, has been read. Offsets compare field by field.
struct time_offset {
  sl::timestamp until;
};
BOOST_DESCRIBE_STRUCT(time_offset, (), (until))

// ------------------------------------------------------------------ the source
struct time_range_options {
  std::string host = "127.0.0.1";
  std::string port = "80";
  sl::timestamp start;            // the first event time to read
  sl::duration lag = 30s;         // events younger than this may still arrive: wait for them
  sl::duration max_range = 1h;    // the most event time one batch reads
  sl::duration slice = 15min;     // one HTTP request per slice
  std::function<sl::timestamp()> clock = [] { return sl::timestamp::now(); };
};

class time_range_source {
 public:
  using row_type = Event;
  using offset_type = time_offset;
  using partition_type = sl::time_slice;

  explicit time_range_source(time_range_options o) : o_(std::move(o)) {}

  time_offset initial_offset() { return {sl::just_before(o_.start)}; }

  time_offset latest_offset(const time_offset& start, sl::read_limit limit) {
    const sl::timestamp settled = o_.clock() - o_.lag;
    const sl::timestamp end = limit.all ? settled : std::min(settled, start.until + o_.max_range);
    return {std::max(end, start.until)};  // never backwards (a clock that jumped back)
  }

  std::vector<sl::time_slice> partitions(const time_offset& start, const time_offset& end) {
    return sl::split_time_range(start.until, end.until, o_.slice);
  }

  template <class Emit>
  void read(const sl::time_slice& slice, Emit&& emit) {
    const std::string target =
        "/events?from=" + std::to_string(slice.first.micros) + "&to=" + std::to_string(slice.last.micros);
    const auto body = get(target);
    const auto where = "GET http://" + o_.host + ":" + o_.port + target;
    boost::system::error_code ec;
    const auto json = boost::json::parse(body, ec);
    if (ec || !json.is_array()) throw std::runtime_error(where + ": the body is not a JSON array");
    for (const auto& item : json.get_array()) {
      Event e = sl::from_json<Event>(item);
      if (e.ts < slice.first || e.ts > slice.last)
        throw std::runtime_error(where + ": event " + std::to_string(e.id) + " is outside the range asked for");
      emit(std::move(e));
    }
  }

  void commit(const time_offset&) {}  // the API keeps its data: nothing to release

  std::string description() const { return "TimeRangeApi[http://" + o_.host + ":" + o_.port + "/events]"; }

 private:
  std::string get(const std::string& target) {
    asio::io_context io;
    tcp::resolver resolver(io);
    tcp::socket socket(io);
    asio::connect(socket, resolver.resolve(o_.host, o_.port));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, o_.host);
    req.set(http::field::user_agent, "sluice-time-range-example");
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    if (res.result() != http::status::ok)
      throw std::runtime_error("GET http://" + o_.host + ":" + o_.port + target + ": HTTP " +
                               std::to_string(res.result_int()) + " " + std::string(res.reason()));
    return std::move(res.body());
  }

  time_range_options o_;
};

// ------------------------------------------------------------------ synthetic events
// The same events as examples/time_range_server.py: one every 1.25 s over ten minutes from T0,
// plus two at every 15 s boundary (its last microsecond before, and the boundary itself).
const sl::timestamp T0 = *sl::parse_timestamp("2024-01-15T00:00:00Z");
const sl::timestamp T_END = T0 + 10min;

std::vector<Event> all_events() {
  std::vector<Event> out;
  const char* kinds[] = {"click", "view", "purchase"};
  auto add = [&](std::int64_t id, sl::timestamp ts) {
    out.push_back({id, ts, kinds[id % 3], static_cast<double>(id) * 0.5});
  };
  for (std::int64_t k = 0; T0 + sl::duration{k * 1'250'000} <= T_END; ++k) add(k, T0 + sl::duration{k * 1'250'000});
  for (std::int64_t j = 1; T0 + j * 15s <= T_END; ++j) {
    add(1000 + j, T0 + j * 15s - 1us);
    add(2000 + j, T0 + j * 15s);
  }
  std::stable_sort(out.begin(), out.end(), [](const Event& a, const Event& b) { return a.ts < b.ts; });
  return out;
}

// ------------------------------------------------------------------ an embedded HTTP server
class events_server {
 public:
  events_server() : events_(all_events()) {
    thread_ = std::thread([this] { serve(); });
  }
  ~events_server() {
    stopping_ = true;
    asio::io_context io;
    tcp::socket wake(io);
    boost::system::error_code ec;
    wake.connect(acceptor_.local_endpoint(), ec);  // unblocks accept
    thread_.join();
  }
  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges_served() {
    std::lock_guard lock(mutex_);
    return served_;
  }

 private:
  void serve() {
    while (!stopping_) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) continue;
      handle(socket);
    }
  }
  void handle(tcp::socket& socket) {
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) return;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.keep_alive(false);
    const std::string target(req.target());
    std::map<std::string, std::string> params;
    const auto q = target.find('?');
    for (std::size_t i = q == std::string::npos ? target.size() : q + 1; i < target.size();) {
      const auto amp = std::min(target.find('&', i), target.size());
      const auto pair = target.substr(i, amp - i);
      const auto eq = pair.find('=');
      if (eq != std::string::npos) params[pair.substr(0, eq)] = pair.substr(eq + 1);
      i = amp + 1;
    }
    if (target.substr(0, q) != "/events" || !params.count("from") || !params.count("to")) {
      res.result(http::status::not_found);
      res.body() = "expected /events?from=<us>&to=<us>\n";
    } else {
      const std::int64_t from = std::stoll(params["from"]), to = std::stoll(params["to"]);
      {
        std::lock_guard lock(mutex_);
        served_.emplace_back(from, to);
      }
      boost::json::array body;
      for (const auto& e : events_)
        if (e.ts.micros >= from && e.ts.micros <= to) body.push_back(sl::to_json(e));
      res.set(http::field::content_type, "application/json");
      res.body() = boost::json::serialize(body);
    }
    res.prepare_payload();
    http::write(socket, res, ec);
    socket.shutdown(tcp::socket::shutdown_send, ec);
  }

  std::vector<Event> events_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::pair<std::int64_t, std::int64_t>> served_;
};

// ------------------------------------------------------------------ the run
int fail(const std::string& why) {
  std::cerr << "time_range_source: FAILED: " << why << "\n";
  return 1;
}

int main(int argc, char** argv) try {
  std::string host = "127.0.0.1", port;
  std::optional<events_server> server;
  if (argc == 3 && std::string(argv[1]) == "--base") {
    std::string base = argv[2];  // http://host:port
    if (base.rfind("http://", 0) == 0) base = base.substr(7);
    const auto colon = base.rfind(':');
    if (colon == std::string::npos) return fail("--base must be http://host:port");
    host = base.substr(0, colon);
    port = base.substr(colon + 1);
    while (!port.empty() && port.back() == '/') port.pop_back();
  } else if (argc != 1) {
    std::cerr << "usage: " << argv[0] << " [--base http://host:port]\n";
    return 2;
  } else {
    server.emplace();
    port = server->port();
  }
  std::cout << "events API at http://" << host << ":" << port << "/events\n";

  // A clock the example moves by hand, so that the run is the same every time: "now" is first
  // T0 + 4 min 7.5 s (plus the lag), then past the end of the data.
  auto now = std::make_shared<std::atomic<std::int64_t>>(0);
  const sl::duration lag = 30s;
  time_range_options opts{.host = host,
                          .port = port,
                          .start = T0,
                          .lag = lag,
                          .max_range = 1min,
                          .slice = 15s,
                          .clock = [now] { return sl::timestamp{now->load()}; }};

  const std::filesystem::path checkpoint = std::filesystem::absolute("time_range_checkpoint");
  std::filesystem::remove_all(checkpoint);
  sl::memory_sink<Event> out;  // kept across the two runs; skips a batch id it already holds
  const sl::query_options qopts{.name = "time_range", .checkpoint = checkpoint.string()};

  // Run 1: a few batches, then stop.
  now->store((T0 + 4min + 7500ms + lag).micros);
  std::int64_t last_batch_run1 = -1;
  boost::json::value end_run1;
  {
    auto q = sl::start(time_range_source(opts) | out, sl::output_mode::append, qopts);
    q.process_all_available();
    q.stop();
    if (q.exception()) return fail(q.exception()->what());
    for (const auto& p : q.recent_progress())
      std::cout << "run 1 batch " << p.batch_id << ": " << p.num_input_rows << " events, offsets "
                << boost::json::serialize(p.sources[0].start_offset) << " -> "
                << boost::json::serialize(p.sources[0].end_offset) << "\n";
    last_batch_run1 = q.last_progress()->batch_id;
    end_run1 = q.last_progress()->sources[0].end_offset;
  }
  const auto after_run1 = out.rows().size();

  // Run 2: a new query on the same checkpoint resumes after the last committed batch.
  now->store((T_END + 1min + lag).micros);
  std::vector<sl::query_progress> run2;
  {
    auto q = sl::start(time_range_source(opts) | out, sl::output_mode::append, qopts);
    q.process_all_available();
    q.stop();
    if (q.exception()) return fail(q.exception()->what());
    run2 = q.recent_progress();
    for (const auto& p : run2)
      std::cout << "run 2 batch " << p.batch_id << ": " << p.num_input_rows << " events, offsets "
                << boost::json::serialize(p.sources[0].start_offset) << " -> "
                << boost::json::serialize(p.sources[0].end_offset) << "\n";
  }

  // ---- checks
  if (last_batch_run1 < 3) return fail("run 1 ran only " + std::to_string(last_batch_run1 + 1) + " batches");
  if (run2.empty()) return fail("run 2 ran no batch");
  if (run2.front().batch_id != last_batch_run1 + 1)
    return fail("run 2 started at batch " + std::to_string(run2.front().batch_id) + ", not " +
                std::to_string(last_batch_run1 + 1));
  if (run2.front().sources[0].start_offset != end_run1)
    return fail("run 2 did not start at run 1's end offset " + boost::json::serialize(end_run1));
  const auto expected = all_events();
  const auto rows = out.rows();
  std::map<std::int64_t, int> seen;
  for (const auto& e : rows) ++seen[e.id];
  for (const auto& e : expected) {
    if (seen[e.id] != 1)
      return fail("event " + std::to_string(e.id) + " at " + sl::format_timestamp(e.ts) + " arrived " +
                  std::to_string(seen[e.id]) + " times");
  }
  if (rows.size() != expected.size())
    return fail(std::to_string(rows.size()) + " events delivered, " + std::to_string(expected.size()) + " expected");
  if (after_run1 == 0 || after_run1 == rows.size()) return fail("the events were not split between the two runs");
  if (server) {
    auto ranges = server->ranges_served();
    std::sort(ranges.begin(), ranges.end());
    if (ranges.empty() || ranges.front().first != T0.micros) return fail("the first range does not start at T0");
    for (std::size_t i = 1; i < ranges.size(); ++i)
      if (ranges[i].first != ranges[i - 1].second + 1)
        return fail("ranges " + std::to_string(i - 1) + " and " + std::to_string(i) + " overlap or leave a gap");
    if (ranges.back().second != (T_END + 1min).micros) return fail("the last range does not end at the last offset");
    std::cout << ranges.size() << " contiguous, disjoint ranges requested\n";
  }
  std::cout << "OK: " << rows.size() << " events, each exactly once (" << after_run1 << " before the restart, "
            << rows.size() - after_run1 << " after)\n";
  std::filesystem::remove_all(checkpoint);
  return 0;
} catch (const std::exception& e) {
  return fail(e.what());
}

// The admin endpoint (<sluice/admin.hpp>) against real queries, over real sockets on
// loopback: routes and their JSON, bearer tokens, clear 4xx answers, and misbehaving clients
// (silent, one byte at a time, oversized, endless) that are cut off without holding up the
// queries or the other clients.
#include <catch2/catch.hpp>

#include <sluice/admin.hpp>
#include <sluice/sluice.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace sl = sluice;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

struct reply {
  int status = 0;
  std::string body;
  std::string content_type, allow, www_authenticate;
  boost::json::value json() const { return boost::json::parse(body); }
};

// A well-behaved client: one request on its own connection.
reply request(unsigned short port, http::verb method, const std::string& target, const std::string& token = {},
              const std::string& body = {}) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(10s);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return {static_cast<int>(res.result_int()), res.body(), std::string(res[http::field::content_type]), std::string(res[http::field::allow]),
          std::string(res[http::field::www_authenticate])};
}

reply get(unsigned short port, const std::string& target, const std::string& token = {}) {
  return request(port, http::verb::get, target, token);
}

// A raw connection for misbehaving clients.
struct raw_client {
  asio::io_context io;
  tcp::socket socket{io};
  explicit raw_client(unsigned short port) { socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)); }
  void send(std::string_view bytes) { asio::write(socket, asio::buffer(bytes.data(), bytes.size())); }
  bool send_ok(std::string_view bytes) {
    boost::system::error_code ec;
    asio::write(socket, asio::buffer(bytes.data(), bytes.size()), ec);
    return !ec;
  }
  // Everything until the server closes the connection, or `limit` passes (then nullopt).
  std::optional<std::string> read_until_closed(std::chrono::milliseconds limit) {
    socket.non_blocking(true);
    std::string out;
    const auto until = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    while (std::chrono::steady_clock::now() < until) {
      boost::system::error_code ec;
      const auto n = socket.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::would_block) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      if (ec) return out;  // closed (eof or reset)
      out.append(buf, n);
    }
    return std::nullopt;
  }
};

struct running {
  sl::query_manager streams;
  sl::memory_stream<sl::rate_row> in;
  sl::memory_sink<sl::rate_row> sink;
  sl::streaming_query q;
  explicit running(std::string name = "events")
      : q(streams.start(in | sink, sl::output_mode::append, {.name = std::move(name)})) {}
  void batch(int rows) {
    std::vector<sl::rate_row> v;
    for (int i = 0; i < rows; ++i) v.push_back({sl::timestamp{i * 1'000'000LL}, i});
    in.add_data(v);
    q.process_all_available();
  }
};

}  // namespace

TEST_CASE("admin: GET /queries, GET /queries/{id}, GET /metrics", "[admin]") {
  running r;
  r.batch(3);
  r.batch(2);
  sl::admin_server admin(r.streams);
  CHECK(admin.url() == "http://127.0.0.1:" + std::to_string(admin.port()));

  const auto all = get(admin.port(), "/queries");
  REQUIRE(all.status == 200);
  CHECK(all.content_type == "application/json");
  const auto list = all.json().as_array();  // a copy: json() returns a temporary
  REQUIRE(list.size() == 1);
  CHECK(list[0].at("id").as_string() == r.q.id());
  CHECK(list[0].at("runId").as_string() == r.q.run_id());
  CHECK(list[0].at("name").as_string() == "events");
  CHECK(list[0].at("isActive").as_bool());
  CHECK(list[0].at("recordsProcessed").as_int64() == 5);
  CHECK(list[0].at("lastProgress").at("batchId").as_int64() == 1);
  CHECK(list[0].at("status").at("message").is_string());

  for (const std::string& key : {r.q.id(), std::string("events")}) {
    const auto one = get(admin.port(), "/queries/" + key);
    REQUIRE(one.status == 200);
    const auto doc = one.json();
    const auto& recent = doc.at("recentProgress").as_array();
    REQUIRE(recent.size() == 2);
    CHECK(recent[0].at("numInputRows").as_int64() == 3);
    // The text itself: Boost.JSON's default parsing may be one ulp off on doubles.
    CHECK_THAT(one.body, Catch::Contains(sl::json_text(r.q.last_progress()->to_json())));
  }

  const auto metrics = get(admin.port(), "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK_THAT(metrics.body, Catch::Contains("sluice_streaming_records_processed_total{query_id=\"" + r.q.id() +
                                           "\",query_name=\"events\"} 5\n"));
}

TEST_CASE("admin: bad requests get a 4xx with a JSON error", "[admin]") {
  running r;
  sl::admin_server admin(r.streams);
  const auto p = admin.port();
  auto error_of = [](const reply& x) { return std::string(x.json().at("error").as_string()); };

  auto nf = get(p, "/queries/no-such-query");
  CHECK(nf.status == 404);
  CHECK_THAT(error_of(nf), Catch::Contains("no-such-query"));
  CHECK(nf.json().at("status").as_int64() == 404);
  CHECK(get(p, "/nothing").status == 404);
  CHECK(get(p, "/queries/" + r.q.id() + "/extra").status == 404);
  CHECK(get(p, "/queries/%zz").status == 400);
  CHECK_THAT(error_of(get(p, "/queries/%zz")), Catch::Contains("malformed %-escape in /queries/%zz"));
  CHECK(get(p, "/queries/%65vents").json().at("name").as_string() == "events");  // %65 is 'e'


  auto m1 = request(p, http::verb::post, "/queries");
  CHECK(m1.status == 405);
  CHECK(m1.allow == "GET");
  auto m2 = get(p, "/queries/" + r.q.id() + "/stop");
  CHECK(m2.status == 405);
  CHECK(m2.allow == "POST");
  CHECK_THAT(error_of(m2), Catch::Contains("GET is not allowed"));
  CHECK(request(p, http::verb::delete_, "/metrics").status == 405);
  CHECK(request(p, http::verb::post, "/").status == 405);
  CHECK(get(p, "/").status == 200);
  CHECK(r.q.is_active());  // none of these stopped it

  auto big_body = request(p, http::verb::post, "/queries/" + r.q.id() + "/stop", {}, std::string(10'000, 'x'));
  CHECK(big_body.status == 413);
  CHECK(r.q.is_active());

  raw_client garbage(p);
  garbage.send("THIS IS NOT HTTP\r\n\r\n");
  const auto answer = garbage.read_until_closed(5s);
  REQUIRE(answer);
  CHECK_THAT(*answer, Catch::StartsWith("HTTP/1.1 400") && Catch::Contains("\"error\""));

  raw_client huge_header(p);
  huge_header.send("GET /queries HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20'000, 'a') + "\r\n\r\n");
  const auto answer2 = huge_header.read_until_closed(5s);
  REQUIRE(answer2);
  CHECK_THAT(*answer2, Catch::StartsWith("HTTP/1.1 431"));
}

TEST_CASE("admin: POST /queries/{id}/stop stops the query", "[admin]") {
  running r("to-stop");
  running other("stays");
  sl::admin_server admin(r.streams);
  sl::admin_server admin2(other.streams);
  const auto res = request(admin.port(), http::verb::post, "/queries/to-stop/stop");
  REQUIRE(res.status == 200);
  CHECK_FALSE(res.json().at("isActive").as_bool());
  CHECK_FALSE(r.q.is_active());
  CHECK(r.streams.active().empty());
  CHECK(other.q.is_active());
  // Still listed, as stopped; stopping again is harmless.
  CHECK_FALSE(get(admin.port(), "/queries").json().as_array()[0].at("isActive").as_bool());
  CHECK(request(admin.port(), http::verb::post, "/queries/" + r.q.id() + "/stop").status == 200);
  CHECK_THAT(get(admin.port(), "/metrics").body,
             Catch::Contains("sluice_streaming_query_active{query_id=\"" + r.q.id() + "\",query_name=\"to-stop\"} 0\n"));
}

TEST_CASE("admin: bearer tokens, and another address than loopback needs one", "[admin]") {
  running r;
  CHECK_THROWS_WITH(sl::admin_server(r.streams, {.address = "0.0.0.0"}),
                    Catch::Contains("0.0.0.0") && Catch::Contains("bearer token") &&
                        Catch::Contains("admin_options::bearer_token"));
  CHECK_THROWS_WITH(sl::admin_server(r.streams, {.address = "example"}),
                    Catch::Contains("'example' is not an IP address"));

  sl::admin_server admin(r.streams, {.address = "0.0.0.0", .bearer_token = "s3cret"});
  const auto p = admin.port();
  const auto none = get(p, "/queries");
  CHECK(none.status == 401);
  CHECK(none.www_authenticate == "Bearer realm=\"sluice\"");
  CHECK_THAT(std::string(none.json().at("error").as_string()), Catch::Contains("bearer token"));
  CHECK(get(p, "/queries", "s3cre").status == 401);
  CHECK(get(p, "/queries", "s3cret!").status == 401);
  CHECK(request(p, http::verb::post, "/queries/events/stop", "wrong").status == 401);
  CHECK(r.q.is_active());
  CHECK(get(p, "/queries", "s3cret").status == 200);
  CHECK(get(p, "/metrics", "s3cret").status == 200);

  // The status page holds no data: served without the token; what its script reads is not.
  const auto page = get(p, "/");
  CHECK(page.status == 200);
  CHECK(page.content_type == "text/html; charset=utf-8");
  CHECK_THAT(page.body, Catch::Contains("<title>sluice: streaming queries</title>") &&
                            Catch::Contains("Authorization: \"Bearer \" + token"));
  CHECK(request(p, http::verb::post, "/").status == 401);

  // On loopback a token is optional, and required once set.
  sl::admin_server local(r.streams, {.bearer_token = "t"});
  CHECK(get(local.port(), "/metrics").status == 401);
  CHECK(get(local.port(), "/metrics", "t").status == 200);
}

TEST_CASE("admin: slow and endless clients are cut off and hold up neither queries nor other clients", "[admin]") {
  running r;
  sl::admin_server admin(r.streams, {.read_timeout = 2s, .max_connections = 16});
  const auto p = admin.port();

  std::vector<std::unique_ptr<raw_client>> silent;
  for (int i = 0; i < 5; ++i) silent.push_back(std::make_unique<raw_client>(p));  // connect, send nothing
  raw_client dripping(p);  // a valid request, one byte every 100 ms: would take 3.5 s
  raw_client endless(p);   // a chunked body that never ends
  endless.send("POST /queries/events/stop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::atomic<bool> drip_done{false};
  std::thread dripper([&] {
    const std::string req = "GET /queries HTTP/1.1\r\nHost: x\r\n\r\n";
    for (char c : req) {
      if (!dripping.send_ok(std::string_view(&c, 1))) return;
      std::this_thread::sleep_for(100ms);
    }
    drip_done = true;
  });
  std::thread flooder([&] {
    const std::string chunk = "400\r\n" + std::string(0x400, 'z') + "\r\n";
    for (int i = 0; i < 200 && endless.send_ok(chunk); ++i) std::this_thread::sleep_for(5ms);
  });

  // Meanwhile: batches run and a good client is answered at once.
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    r.batch(10);
    const auto s = std::chrono::steady_clock::now();
    CHECK(get(p, "/metrics").status == 200);
    CHECK(std::chrono::steady_clock::now() - s < 1s);  // well before read_timeout
  }
  CHECK(r.q.last_progress()->batch_id == 4);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);

  // The silent ones are closed after read_timeout, with nothing sent.
  for (auto& c : silent) {
    const auto got = c->read_until_closed(5s);
    REQUIRE(got);
    CHECK(got->empty());
  }
  // The dripping request never completes: closed at the deadline, not answered.
  const auto drip = dripping.read_until_closed(5s);
  REQUIRE(drip);
  CHECK(drip->empty());
  // The endless body is refused once over the body limit.
  const auto flood = endless.read_until_closed(5s);
  REQUIRE(flood);
  CHECK_THAT(*flood, Catch::StartsWith("HTTP/1.1 413"));
  dripper.join();
  flooder.join();
  CHECK(r.q.is_active());
  CHECK_FALSE(drip_done);  // cut off before it could finish
  CHECK(std::chrono::steady_clock::now() - t0 < 8s);
}

TEST_CASE("admin: connections over max_connections are closed at once", "[admin]") {
  running r;
  sl::admin_server admin(r.streams, {.read_timeout = 2s, .max_connections = 3});
  std::vector<std::unique_ptr<raw_client>> held;
  for (int i = 0; i < 3; ++i) held.push_back(std::make_unique<raw_client>(admin.port()));
  std::this_thread::sleep_for(50ms);  // accepted
  raw_client extra(admin.port());
  const auto t0 = std::chrono::steady_clock::now();
  const auto got = extra.read_until_closed(2s);
  REQUIRE(got);
  CHECK(got->empty());
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);  // well before the held ones time out
  for (auto& c : held) REQUIRE(c->read_until_closed(5s));
  std::this_thread::sleep_for(50ms);
  CHECK(get(admin.port(), "/queries").status == 200);  // room again
}
